"""Shared fixtures: the embedded tiny model, a rectified-flow twin built in the Stable Audio file format, and the
T5-conditioned twins of SAO 1.0 and SAO Small (tests/twins.py) over a tiny "t5-base" in a private hub cache."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # hub calls otherwise retry for minutes
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: shared CPUs stay fast
# A private, initially empty Hugging Face cache, set before huggingface_hub or transformers is imported (both read it
# once): the T5 and hub twins are written into it, and no test ever sees a real download.
_HF_CACHE = tempfile.mkdtemp(prefix="ditto-hf-cache-")
atexit.register(shutil.rmtree, _HF_CACHE, ignore_errors=True)
os.environ["HF_HUB_CACHE"] = _HF_CACHE
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402
import torch  # noqa: E402

import ditto  # noqa: E402
import twins  # noqa: E402
from ditto import testing  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny():
    return ditto.load_model("tiny", device="cpu")


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: what it checks must be refused before any model loads (`cli.load_model` is
    the one way to a model of the recipes and `ditto run`)."""
    from ditto.app import cli

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was refused")
    monkeypatch.setattr(cli, "load_model", refuse)


@pytest.fixture(scope="session")
def tiny_rf_dir(tmp_path_factory):
    """The tiny model's config with a rectified-flow objective and seeded random weights, saved as SAO files."""
    config = testing.tiny_config()
    config["model"]["diffusion"]["diffusion_objective"] = "rectified_flow"
    model = testing.random_model(config, seed=1, source="test")
    return ditto.save_model(model, tmp_path_factory.mktemp("tiny_rf") / "model")


@pytest.fixture(scope="session")
def tiny_rf(tiny_rf_dir):
    return ditto.load_model(tiny_rf_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_small_config():
    """The tiny model in Stable Audio Open Small's config format (`testing.tiny_small_config`)."""
    return testing.tiny_small_config()


@pytest.fixture(scope="session")
def tiny_small_dir(tiny_small_config, tmp_path_factory):
    """The tiny SAO Small saved as SAO files: the tiny model's trained VAE and conditioners, a seeded random DiT."""
    return testing.tiny_twin(tiny_small_config, tmp_path_factory.mktemp("tiny_small") / "model", seed=2)


@pytest.fixture(scope="session")
def tiny_small(tiny_small_dir):
    return ditto.load_model(tiny_small_dir, device="cpu")


@pytest.fixture(scope="session")
def hf_cache() -> Path:
    """The session's Hugging Face cache (HF_HUB_CACHE), in the hub's layout."""
    return Path(_HF_CACHE)


@pytest.fixture(scope="session")
def t5_base(hf_cache):
    """A tiny "t5-base" in the cache, which SAT's T5Conditioner loads offline; its snapshot folder."""
    return twins.write_t5_base(hf_cache)


@pytest.fixture(scope="session")
def sao_1_0_dir(t5_base, tmp_path_factory):
    return twins.write_twin(twins.sao_1_0_config(), tmp_path_factory.mktemp("sao_1_0") / "model")


@pytest.fixture(scope="session")
def sao_1_0(sao_1_0_dir):
    """The SAO 1.0 twin: T5 128 tokens, seconds_start + seconds_total, grouped cross-attention key/value heads."""
    return ditto.load_model(sao_1_0_dir, device="cpu")


@pytest.fixture(scope="session")
def sao_small_dir(t5_base, tmp_path_factory):
    return twins.write_twin(twins.sao_small_config(), tmp_path_factory.mktemp("sao_small") / "model")


@pytest.fixture(scope="session")
def sao_small(sao_small_dir):
    """The SAO Small twin: T5 64 tokens, seconds_total, qk LayerNorm, fp16 VAE, rf_denoiser."""
    return ditto.load_model(sao_small_dir, device="cpu")
