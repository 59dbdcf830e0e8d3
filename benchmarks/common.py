"""Shared benchmark helpers: the SAO-1.0-size random-weight model, timing, memory, and table printing.

Figures are ratios within one run: machines here are shared and noisy, so compare rows, not runs.
"""

from __future__ import annotations

import statistics
import time
import typing as tp

import torch

import ditto
from ditto import testing
from ditto.optimize import SavedBytes  # noqa: F401  (re-exported for the benchmarks)

T5_TOKENS, T5_DIM = 128, 768  # SAO 1.0's T5-base prompt: 128 tokens x 768


def sao_size_config(sample_size: int = 2097152) -> dict:
    """SAO 1.0's shapes (its published model_config.json): DiT 1536 x 24 layers x 24 heads, Oobleck 128 channels, 2048x, 64 latents.

    The T5 prompt conditioner is a `list` conditioner here (no download); `sao_conditioning_tensors` replaces
    its output with 128 precomputed tokens, as T5 would give.
    """
    config = testing.tiny_config()
    config["sample_size"] = sample_size
    pretransform = config["model"]["pretransform"]["config"]
    pretransform["encoder"]["config"]["channels"] = 128
    pretransform["decoder"]["config"]["channels"] = 128
    conditioning = config["model"]["conditioning"]
    conditioning["cond_dim"] = T5_DIM
    dit = config["model"]["diffusion"]["config"]
    dit.update(embed_dim=1536, depth=24, num_heads=24, cond_token_dim=T5_DIM, global_cond_dim=2 * T5_DIM)
    return config


def build_sao_size(device, dtype=torch.float32) -> ditto.Model:
    """A random-weight model with SAO 1.0's shapes (zero-initialised DiT outputs perturbed, as for the tiny model)."""
    return testing.random_model(sao_size_config(), seed=0, std=0.02, device=device, dtype=dtype,
                                source="sao-size-random")


def sao_conditioning_tensors(model: ditto.Model, batch_size: int = 1) -> dict:
    """128 precomputed prompt tokens standing in for T5-base."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(batch_size, T5_TOKENS, T5_DIM, generator=generator).to(model.device)
    return {"prompt": [tokens, torch.ones(batch_size, T5_TOKENS, device=model.device)]}


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def seconds_per_call(fn: tp.Callable[[], tp.Any], device, *, repeats: int = 3, warmup: int = 1) -> float:
    """Median wall-clock seconds of `fn()` after `warmup` calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_gb(device, fn: tp.Callable[[], tp.Any]) -> float | None:
    """Peak CUDA memory (GB) while `fn` runs; None on CPU, where torch keeps no allocator statistics."""
    if torch.device(device).type != "cuda":
        fn()
        return None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 1e9


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    """A Markdown table, so the output pastes into notes and docs."""
    def cell(value):
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(cell(v) for v in row) + " |")


def device_name(device) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


__all__ = ["SavedBytes", "build_sao_size", "device_name", "peak_gb", "print_table", "sao_conditioning_tensors",
           "sao_size_config", "seconds_per_call"]
