"""Random-weight Stable Audio models, built offline: what the tests, the benchmarks and `scripts/make_tiny_model.py`
build their models with.

- `random_model(config, seed=...)`: SAT's model of `config` under a fixed seed, its zero-initialised DiT output
  layers filled with seeded values (a freshly built SAT DiT predicts v = 0 everywhere, so DITTO's gradient
  would not depend on x_T at all), optionally over trained weights such as the tiny model's VAE.
- `tiny_twin(config, directory)`: such a model over the tiny model's trained VAE, saved as Stable Audio files;
  with `tiny_small_config()`, a few-MB Stable Audio Open Small (rf_denoiser) for tests and benchmarks.

Here rather than in `tests/`: the benchmarks and the tiny-model script build the same models and do not import
the tests. The embedded tiny model itself (`load_model("tiny")`, `ditto/tiny/`) is made once by the script.
"""

from __future__ import annotations

import copy
import json
import os
import typing as tp
from pathlib import Path

import torch

from . import sat as sat_adapter
from .loading import TINY_DIR, Model, load_model, save_model


def tiny_config() -> dict:
    """A fresh copy of the embedded tiny model's `model_config.json`."""
    return json.loads((TINY_DIR / "model_config.json").read_text())


def fill_zero_weights(module: torch.nn.Module, std: float | tp.Callable[[str], float],
                      generator: torch.Generator | None = None) -> None:
    """Give every all-zero parameter of `module` seeded N(0, std^2) values; `std` a number, or a function of the
    parameter's name (a twin that needs some zero-initialised branches louder than others)."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.numel() and param.abs().max() == 0:
                scale = std(name) if callable(std) else std
                param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype).to(param.device) * scale)


def random_model(config: dict, *, seed: int = 0, std: float | tp.Callable[[str], float] = 0.05,
                 fill_seed: int | None = None, fill_all: bool = False, weights: dict[str, torch.Tensor] | None = None,
                 device="cpu", dtype: torch.dtype | None = None, source: str = "random") -> Model:
    """The model of `config` with random weights: SAT's own initialisation after `torch.manual_seed(seed)`, then
    `weights` (a partial state dict, such as a trained VAE; names the model lacks are skipped) loaded over it,
    then every all-zero parameter of the DiT (with `fill_all`, of the whole model) drawn from N(0, std^2) with a
    generator seeded `fill_seed` (default `seed`). In eval mode, without gradients, as `load_model` returns a model; the same arguments give the same
    weights."""
    torch.manual_seed(seed)
    sat = sat_adapter.build_model(copy.deepcopy(config))  # `config` itself stays the Model's, untouched
    if weights is not None:
        sat.load_state_dict(weights, strict=False)
    fill_zero_weights(sat if fill_all else sat.model, std, torch.Generator().manual_seed(seed if fill_seed is None else fill_seed))
    sat = sat.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return Model(sat=sat, config=config, source=source, device=torch.device(device))


def tiny_small_config() -> dict:
    """The embedded tiny model's config in Stable Audio Open Small's format: rf_denoiser, conditioned on prompt +
    seconds_total only (no seconds_start conditioner), the full 524288-sample window (11.9 s), the tiny model's
    VAE and DiT sizes (its DiT's global_cond_dim halves with one timing conditioner, as SAO Small's 768 is SAO
    1.0's 1536 / 2), and a "ditto" entry with the model card's sampling (pingpong, 8 steps, cfg 1) and an lr / cap
    measured for it. With `tiny_twin`, a few-MB SAO Small for tests and benchmarks."""
    config = tiny_config()
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


def tiny_twin(config: dict, directory: str | os.PathLike, *, seed: int = 2, std: float = 0.05,
              keep: tuple[str, ...] = ("pretransform.", "conditioner.")) -> Path:
    """`random_model(config, seed=seed, std=std)` with the embedded tiny model's weights under the `keep` prefixes
    (its trained VAE and its conditioners by default; `config` must have the tiny model's sizes there), saved as
    Stable Audio files (`model_config.json` + `model.safetensors`) in `directory`."""
    tiny = load_model("tiny", device="cpu")
    kept = {k: v for k, v in sat_adapter.state_dict(tiny).items() if k.startswith(keep)}
    return save_model(random_model(config, seed=seed, std=std, weights=kept, source="twin"), directory)
