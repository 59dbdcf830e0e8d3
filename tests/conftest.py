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
    """The tiny model in Stable Audio Open Small's config format: rf_denoiser, conditioned on prompt + seconds_total
    only (no seconds_start conditioner), the full 524288-sample window (11.9 s), the tiny model's VAE and DiT sizes
    (its DiT's global_cond_dim halves with one timing conditioner, as SAO Small's 768 is SAO 1.0's 1536 / 2), and a
    "ditto" entry with the model card's sampling (pingpong, 8 steps, cfg 1) and an lr / cap for this model."""
    config = json.loads((loading.TINY_DIR / "model_config.json").read_text())
    config["sample_size"] = 524288
    config["ditto"] = {"lr": 0.3, "max_iterations": 60, "sampler": "pingpong", "steps": 8, "cfg_scale": 1.0}
    conditioning = config["model"]["conditioning"]
    conditioning["configs"] = [c for c in conditioning["configs"] if c["id"] != "seconds_start"]
    conditioning["configs"][-1]["config"]["max_val"] = 256
    diffusion = config["model"]["diffusion"]
    diffusion.update(cross_attention_cond_ids=["prompt", "seconds_total"], global_cond_ids=["seconds_total"],
                     diffusion_objective="rf_denoiser")
    diffusion["config"]["global_cond_dim"] = conditioning["cond_dim"]
    return config


@pytest.fixture(scope="session")
def tiny_small_dir(tiny, tiny_small_config, tmp_path_factory):
    """The tiny SAO Small saved as SAO files: the tiny model's trained VAE and conditioners, a seeded random DiT
    whose zero-initialised output layers are filled (as tiny_rf's)."""
    torch.manual_seed(2)
    sat = ditto.sat.build_model(tiny_small_config)
    shared = {k: v for k, v in tiny.sat.state_dict().items() if not k.startswith("model.")}
    sat.load_state_dict(shared, strict=False)
    loading.fill_zero_weights(sat.model, 0.05, torch.Generator().manual_seed(2))
    model = loading.Model(sat=sat.eval(), config=tiny_small_config, source="test", device=torch.device("cpu"))
    return ditto.save_model(model, tmp_path_factory.mktemp("tiny_small") / "model")


@pytest.fixture(scope="session")
def tiny_small(tiny_small_dir):
    return ditto.load_model(tiny_small_dir, device="cpu")
