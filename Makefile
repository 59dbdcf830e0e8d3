# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# The tested install (docs/install.md): torch 2.14.1 + torchvision 0.29.1 (local disk), torchaudio 2.11.0,
# stable-audio-tools (SAT) without its pinned dependencies (gradio, wandb, laion-clap, old pandas/numpy), then
# requirements.txt: only what ditto and SAT's import path really need.
#
# SAT selects the stable-audio-tools release (ditto supports both; ditto/sat.py names every difference):
#   0.0.20 (default): declares Requires-Python <3.11 and pins torch 2.7.1, yet runs on Python 3.11 and current
#          torch, so it installs with --no-deps --ignore-requires-python; it vendors k-diffusion.
#   0.0.19: --no-deps, with k-diffusion 0.1.1 beside it.
# `make test SAT=0.0.19 VENV=.venv-sat019` builds and tests a second environment; `make test-compat` runs the
# version-sensitive subset (adapter, parity, gradients, loading, T5, hub).
PYTHON ?= python3
SAT ?= 0.0.20
VENV ?= .venv
SAT_SUPPORTED := 0.0.19 0.0.20
ifeq ($(SAT),0.0.20)
SAT_INSTALL := --ignore-requires-python stable-audio-tools==0.0.20
else ifeq ($(SAT),0.0.19)
SAT_INSTALL := stable-audio-tools==0.0.19 k-diffusion==0.1.1
else
$(error SAT=$(SAT) is not a release ditto supports; use one of: $(SAT_SUPPORTED))
endif
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(SAT)-$(shell cat pyproject.toml requirements.txt Makefile | cksum | cut -d' ' -f1)
# The version-sensitive subset: the adapter (with decoder checkpointing's saved bytes and gradients), parity with
# SAT, the chain's gradients, loading, T5 and the hub path.
COMPAT_TESTS := tests/test_sat_versions.py tests/test_generation.py tests/test_small.py tests/test_registry.py \
	tests/test_sampling.py tests/test_loading.py tests/test_t5.py tests/test_hub.py

.PHONY: install test test-compat demo bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q --no-deps torchaudio==2.11.0 $(SAT_INSTALL)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q -e ".[dev,ui]"
	rm -f $(VENV)/.installed-*
	touch $@

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests

test-compat: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(COMPAT_TESTS)

demo: install
	HF_HUB_OFFLINE=1 $(PY) recipes/intensity.py --shape crescendo --out out/demo --overwrite

bench: install
	HF_HUB_OFFLINE=1 $(PY) benchmarks/sampling.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/optimize.py

clean-venv:
	rm -rf $(VENV)
