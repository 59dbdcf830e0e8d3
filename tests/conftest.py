"""Shared fixtures: the embedded tiny model, and a rectified-flow twin built in the Stable Audio file format."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # hub calls otherwise retry for minutes
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: shared CPUs stay fast

import pytest  # noqa: E402
import torch  # noqa: E402

import ditto  # noqa: E402
from ditto import loading  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny():
    return ditto.load_model("tiny", device="cpu")


@pytest.fixture(scope="session")
def tiny_rf_dir(tmp_path_factory):
    """The tiny model's config with a rectified-flow objective and seeded random weights, saved as SAO files."""
    config = json.loads((loading.TINY_DIR / "model_config.json").read_text())
    config["model"]["diffusion"]["diffusion_objective"] = "rectified_flow"
    torch.manual_seed(1)
    sat = ditto.sat.build_model(config)
    loading.fill_zero_weights(sat.model, 0.05, torch.Generator().manual_seed(1))
    model = loading.Model(sat=sat.eval(), config=config, source="test", device=torch.device("cpu"))
    return ditto.save_model(model, tmp_path_factory.mktemp("tiny_rf") / "model")


@pytest.fixture(scope="session")
def tiny_rf(tiny_rf_dir):
    return ditto.load_model(tiny_rf_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_small_config():
    """The tiny model in Stable Audio Open Small's config format (`loading.tiny_small_config`)."""
    return loading.tiny_small_config()


@pytest.fixture(scope="session")
def tiny_small_dir(tiny_small_config, tmp_path_factory):
    """The tiny SAO Small saved as SAO files: the tiny model's trained VAE and conditioners, a seeded random DiT."""
    return loading.tiny_twin(tiny_small_config, tmp_path_factory.mktemp("tiny_small") / "model", seed=2)


@pytest.fixture(scope="session")
def tiny_small(tiny_small_dir):
    return ditto.load_model(tiny_small_dir, device="cpu")
