# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# The tested install (docs/install.md): torch 2.14.1 + torchvision 0.29.1 (local disk), torchaudio 2.11.0,
# stable-audio-tools 0.0.19 and k-diffusion 0.1.1 without their pinned dependencies (gradio, wandb,
# laion-clap, old pandas/numpy), then only what their import path really needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

SAT_RUNTIME := "numpy<2" scipy einops einops-exts alias-free-torch==0.0.6 safetensors huggingface_hub \
	packaging tqdm torchsde torchdiffeq jsonmerge clean-fid clip-anytorch dctorch scikit-image pillow \
	"setuptools<81"

.PHONY: install test demo bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q --no-deps torchaudio==2.11.0 stable-audio-tools==0.0.19 k-diffusion==0.1.1
	$(PIP) install -q $(SAT_RUNTIME)
	$(PIP) install -q -e ".[dev]"
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
