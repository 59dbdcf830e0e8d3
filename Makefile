# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# The tested install (docs/install.md): torch 2.14.1 + torchvision 0.29.1 (local disk), torchaudio 2.11.0,
# stable-audio-tools 0.0.19 and k-diffusion 0.1.1 without their pinned dependencies (gradio, wandb,
# laion-clap, old pandas/numpy), then requirements.txt: only what ditto and their import path really need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.txt Makefile | cksum | cut -d' ' -f1)

.PHONY: install test demo bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q --no-deps torchaudio==2.11.0 stable-audio-tools==0.0.19 k-diffusion==0.1.1
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q -e ".[dev,ui]"
	rm -f $(VENV)/.installed-*
	touch $@

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests

demo: install
	HF_HUB_OFFLINE=1 $(PY) recipes/intensity.py --shape crescendo --out out/demo --overwrite

bench: install
	HF_HUB_OFFLINE=1 $(PY) benchmarks/sampling.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/optimize.py

clean-venv:
	rm -rf $(VENV)
