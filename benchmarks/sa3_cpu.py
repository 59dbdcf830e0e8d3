"""Stable Audio 3 on a CPU at its real size: `python benchmarks/sa3_cpu.py [--threads 2] [--quick] [--medium]`.

Builds offline a random-weight Stable Audio 3 Small-Music with the shapes of its published `model_config.json` as
public ports of the model list them: the DiT (embed 1024, 20 layers, 16 heads, 64 memory tokens, rms qk-norm; this
build counts 459M parameters, the model card 433M) and the SAME-S autoencoder (width 768, 6 differential-attention
layers each side, stride 16 over a 256-sample patch, 256 latent channels, softnorm bottleneck; this build counts
108M, the model card ~266M, so the real decoder may cost more than measured here). The counts are printed. Random
weights cost what trained ones cost. The prompt goes through a tiny T5Gemma (tests/sa3_twins.py) that gives
the real encoder's output shape (256 tokens x 768): the real T5Gemma (~0.3B, run once per run) is not timed.

Measured, for --seconds of audio (default 10) at the model's own sampling (pingpong, 8 steps, CFG 1):
1. seconds and peak memory of one plain generation (a warm call) and of one DITTO iteration (forward through the
   chain and the SAME decoder, backward, the Adam step: `ditto.optimize`'s own iteration), with every step's
   activations recomputed (the default) and with 2 steps kept (`keep_steps=2`); their ratios; the peak at
   4 vs 8 steps; the projected wall-clock time of a 30-iteration run;
2. plain generation under OMP_WAIT_POLICY=PASSIVE and ACTIVE (each in a fresh process: libgomp reads the variable
   when torch loads), on an idle CPU and while a competing process computes (a matmul loop on 2 threads).

Peak memory is the process's resident set (VmHWM from /proc/self/status, reset before each measurement through
/proc/self/clear_refs; where that is unavailable, resource.getrusage's ru_maxrss, the peak since the process
started, and the table says so). Figures are ratios within one run: compare rows, not machines.
`--quick` runs the same code at a tiny size (tests/sa3_twins.py's twin, 1 s in a 1.5 s window): for the tests.
`--medium` adds Medium (1.4B DiT with differential attention + SAME-L) when its estimated peak fits in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import common  # noqa: E402
import ditto  # noqa: E402
import objectives  # noqa: E402
import sa3_twins  # noqa: E402
from ditto import loading  # noqa: E402
from ditto.testing import random_model  # noqa: E402

PROMPT = "warm ambient pad"
OBJECTIVE = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)
PROJECTED_ITERATIONS = 30
SIZES = ("small", "medium", "quick")


def same_config(size: str) -> dict:
    """SAME-S / SAME-L encoder and decoder options as published (`taae_v2`); "quick": the twins' tiny SAME."""
    if size == "quick":
        same = sa3_twins.same_config(1)
        return {"encoder": dict(same), "decoder": dict(same)}
    common_options = {"channels": 128 if size == "small" else 256, "c_mults": [6], "strides": [16],
                      "latent_dim": 256, "transformer_depths": [6 if size == "small" else 12], "differential": True,
                      "dyt": True, "dim_heads": 64, "variable_stride": True, "chunk_size": 32}
    if size == "small":
        encoder = {**common_options, "chunk_midpoint_shift": True, "mask_noise": 0.0}
        decoder = {**common_options, "chunk_midpoint_shift": True, "conv_mapping": True, "mask_noise": 0.01,
                   "sinusoidal_blocks": [0]}
    else:
        encoder = {**common_options, "sliding_window": [1, 1], "chunk_midpoint_shift": False, "mask_noise": 0.0}
        decoder = {**common_options, "sliding_window": [1, 1], "chunk_midpoint_shift": False, "conv_mapping": False,
                   "mask_noise": 0.01, "sinusoidal_blocks": [8]}
    return {"encoder": encoder, "decoder": decoder}


def sa3_size_config(size: str) -> dict:
    """Stable Audio 3's `model_config.json` with the published sizes: "small" (Small-Music: DiT 1024 x 20 layers x
    16 heads, SAME-S), "medium" (DiT 1536 x 24 x 24 with differential attention, SAME-L), or "quick" (the tiny
    twin of tests/sa3_twins.py, in a 1.5 s window). Everything else (conditioning, objectives, options) is the twins' config."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    config = sa3_twins.sa3_config("medium" if size == "medium" else "small")
    if size == "quick":
        config["sample_size"] = 16 * sa3_twins.DOWNSAMPLING  # a 1.5 s window: the 6 s of padding is capped at it
        return config
    autoencoder = config["model"]["pretransform"]["config"]
    same = same_config(size)
    autoencoder["encoder"]["config"] = {"in_channels": 2 * sa3_twins.PATCH, **same["encoder"]}
    autoencoder["decoder"]["config"] = {"out_channels": 2 * sa3_twins.PATCH, **same["decoder"]}
    autoencoder["bottleneck"]["config"] = {"dim": 256, "noise_augment_dim": 0, "noise_regularize": True,
                                           "auto_scale": True, "freeze": True}
    dit = config["model"]["diffusion"]["config"]
    width, depth, heads = (1024, 20, 16) if size == "small" else (1536, 24, 24)
    dit.update(embed_dim=width, depth=depth, num_heads=heads, num_memory_tokens=64)
    return config


def build(size: str, encoder_dir: Path, seed: int = 0) -> ditto.Model:
    """A random-weight model of `size`; every all-zero parameter (zero-initialised outputs) gets N(0, 0.02^2)."""
    sa3_twins.make_tiny_t5gemma(encoder_dir / sa3_twins.T5GEMMA_SUBFOLDER)
    config = sa3_size_config(size)
    model = random_model(loading.with_local_text_encoders(config, encoder_dir), seed=seed, std=0.02, fill_all=True,
                         source=f"sa3-{size}-random")
    return dataclasses.replace(model, config=config)


def parameter_counts(model: ditto.Model) -> dict:
    """Millions of parameters of the DiT and of the autoencoder (the text encoder is not counted)."""
    def millions(module):
        return sum(p.numel() for p in module.parameters()) / 1e6
    return {"dit_m": millions(model.sat.model), "autoencoder_m": millions(model.sat.pretransform)}


# --------------------------------------------------------------------------------------------------------------
# peak memory


def _status_kb(field: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def can_reset_peak() -> bool:
    """Whether the peak resident set can be reset (Linux: writing 5 to /proc/self/clear_refs resets VmHWM)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def measured(fn) -> tuple[float, float, object]:
    """(seconds, peak resident GB, result) of `fn()`: the peak since a reset where possible (`can_reset_peak`),
    else since the process started (resource.getrusage's ru_maxrss)."""
    if can_reset_peak():
        Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak_kb = _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return seconds, peak_kb * 1024 / 1e9, result


def memory_method() -> str:
    if can_reset_peak():
        return "peak resident set during the call (VmHWM, reset before it through /proc/self/clear_refs)"
    return "peak resident set of the process so far (resource.getrusage ru_maxrss: an upper bound per row)"


# --------------------------------------------------------------------------------------------------------------
# plain generation and DITTO iterations


def generate_once(model: ditto.Model, seconds: float, steps: int | None = None):
    with torch.no_grad():
        return ditto.generate(model, PROMPT, seconds_total=seconds, steps=steps, seed=0)


def generation_row(model: ditto.Model, seconds: float) -> dict:
    """A warm plain generation at the model's defaults: seconds and peak GB."""
    generate_once(model, seconds)  # warm-up
    elapsed, peak, audio = measured(lambda: generate_once(model, seconds))
    return {"seconds": elapsed, "peak_gb": peak, "samples": audio.shape[-1]}


def ditto_row(model: ditto.Model, seconds: float, *, steps: int | None = None, iterations: int = 2,
              **speed) -> dict:
    """`ditto.optimize` for `iterations` iterations: the last iteration's seconds (warm), the call's peak GB and
    seconds outside the iterations (setup, baseline, final metrics), and the kept steps it resolved."""
    times = []

    def run():
        return ditto.optimize(model, OBJECTIVE, prompt=PROMPT, seconds_total=seconds, steps=steps,
                              iterations=iterations, progress=False, callback=lambda info: times.append(info["seconds"]),
                              **speed)

    elapsed, peak, result = measured(run)
    return {"seconds": times[-1], "peak_gb": peak, "overhead": elapsed - sum(times),
            "keep_steps": result.settings["keep_steps"], "steps": result.settings["steps"],
            "activation_gb_per_step": result.settings.get("activation_gb_per_step")}


def cost_rows(model: ditto.Model, seconds: float, iterations: int) -> list[dict]:
    """The rows of table 1, measured in this order: generation, DITTO (recomputed), DITTO (2 kept), 4 steps."""
    measurements = [("plain generation (warm)", lambda: generation_row(model, seconds)),
                    ("DITTO iteration, steps recomputed (the default)",
                     lambda: ditto_row(model, seconds, iterations=iterations)),
                    ("DITTO iteration, 2 steps kept (keep_steps=2)",
                     lambda: ditto_row(model, seconds, iterations=iterations, keep_steps=2)),
                    ("DITTO iteration at 4 steps, recomputed", lambda: ditto_row(model, seconds, steps=4, iterations=1))]
    rows = []
    for name, measure in measurements:
        rows.append(dict(run=name, **measure()))
        print(f"measured {name}: {rows[-1]['seconds']:.3g} s, peak {rows[-1]['peak_gb']:.3g} GB", flush=True)
    return rows


def print_costs(rows: list[dict], label: str, seconds: float) -> None:
    plain = rows[0]["seconds"]
    table = []
    for row in rows:
        steps = row.get("steps", 8)
        kept = "" if "keep_steps" not in row else f"{row['keep_steps']}/{steps}"
        projected = (row["overhead"] + PROJECTED_ITERATIONS * row["seconds"]) if "overhead" in row else None
        table.append([row["run"], steps, kept, row["seconds"], row["seconds"] / plain, row["peak_gb"],
                      None if projected is None else projected / 60])
    common.print_table(f"{label}: {seconds:g} s of audio, pingpong, CFG 1 (goal: DITTO iteration within 2.8x of "
                       f"plain generation)",
                       ["run", "steps", "kept steps", "seconds", "x plain", "peak GB",
                        f"{PROJECTED_ITERATIONS} iterations, min"], table)
    eight, four = rows[1]["peak_gb"], rows[3]["peak_gb"]
    print(f"\npeak memory of a DITTO iteration, 4 vs 8 steps (recomputed): {four:.2f} vs {eight:.2f} GB "
          f"(activations per step: {rows[1]['activation_gb_per_step'] or 0:.3f} GB)")


# --------------------------------------------------------------------------------------------------------------
# OMP_WAIT_POLICY, each in a fresh process


def child_generation_seconds(size: str, seconds: float, threads: int | None) -> None:
    """In a child process: build the model, one warm plain generation, print its seconds as JSON."""
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        model = build(size, Path(folder))
        row = generation_row(model, seconds)
    print(json.dumps({"seconds": row["seconds"], "policy": os.environ.get("OMP_WAIT_POLICY")}))


COMPETITOR = ("import torch\ntorch.set_num_threads(2)\na = torch.randn(1024, 1024)\n"
              "while True:\n    a = (a @ a).tanh()\n")


def omp_seconds(policy: str, size: str, seconds: float, threads: int | None, busy: bool) -> float:
    """Warm plain-generation seconds in a fresh process under OMP_WAIT_POLICY=`policy`, with a competing
    2-thread matmul process running beside it when `busy`."""
    environ = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    competitor = None
    if busy:
        competing = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
        competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR], env=competing)
    try:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--size", size, "--seconds",
                   str(seconds)] + (["--threads", str(threads)] if threads else [])
        done = subprocess.run(command, env=environ, capture_output=True, text=True, check=True)
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["policy"] == policy, found
    return found["seconds"]


def print_omp(size: str, seconds: float, threads: int | None) -> None:
    rows = []
    for busy in (False, True):
        timings = {policy: omp_seconds(policy, size, seconds, threads, busy) for policy in ("PASSIVE", "ACTIVE")}
        rows.append(["busy (a 2-thread matmul beside it)" if busy else "idle", timings["PASSIVE"], timings["ACTIVE"],
                     timings["ACTIVE"] / timings["PASSIVE"]])
    common.print_table(f"plain generation (warm), {seconds:g} s, by OMP_WAIT_POLICY (each in a fresh process)",
                       ["CPU", "PASSIVE s", "ACTIVE s", "ACTIVE / PASSIVE"], rows)


# --------------------------------------------------------------------------------------------------------------


def available_memory_bytes() -> int | None:
    """Memory this process can still get: Linux's MemAvailable, capped by a cgroup v2 limit (containers); elsewhere
    the free pages; None when unknown."""
    found = []
    with contextlib.suppress(OSError, ValueError):  # no /proc (not Linux), or no cgroup v2 limit
        with open("/proc/meminfo") as meminfo:
            found += [int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:")]
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            found.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return max(0, min(found))


def medium_fits(available_bytes: int | None) -> tuple[bool, str]:
    """Whether Medium is worth trying: its fp32 parameters (~3.2B with SAME-L, ~13 GB) times 1.6 for the
    activations and the optimizer must fit in the memory available now."""
    need = 3.2e9 * 4 * 1.6
    if available_bytes is None:
        return False, "available memory unknown"
    if available_bytes < need:
        return False, f"needs ~{need / 1e9:.0f} GB, {available_bytes / 1e9:.1f} GB available"
    return True, ""


def run_size(size: str, seconds: float, iterations: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tic = time.perf_counter()
        model = build(size, Path(folder))
        counts = parameter_counts(model)
        print(f"\n{size}: DiT {counts['dit_m']:.0f}M + autoencoder {counts['autoencoder_m']:.0f}M parameters "
              f"(random weights; text encoder: a tiny T5Gemma, not timed), built in {time.perf_counter() - tic:.0f} s;"
              f" {seconds:g} s of audio: {generated_latents(model, seconds)} latents generated (seconds_total + 6 s);"
              f" resident after the build: {(_status_kb('VmRSS') or 0) / 1e6:.2f} GB")
        print_costs(cost_rows(model, seconds, iterations), f"Stable Audio 3 {size}", seconds)


def generated_latents(model: ditto.Model, seconds: float) -> int:
    """Latent frames Stable Audio 3 generates for `seconds`: seconds_total + 6 s, rounded up, capped at the window."""
    padded = math.ceil((seconds + ditto.sat.DURATION_PADDING_SEC) * model.sample_rate / model.latent_stride)
    return min(padded, model.sample_size // model.latent_stride)


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the same code at a tiny size and 1 s of audio")
    parser.add_argument("--medium", action="store_true", help="also Stable Audio 3 Medium, when it fits in memory")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of audio (default: 10; --quick: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--iterations", type=int, default=2, help="DITTO iterations per row (the last one is timed)")
    parser.add_argument("--no-omp", action="store_true", help="skip the OMP_WAIT_POLICY table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", default="small", choices=SIZES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 10.0
    if args.iterations < 1:
        parser.error(f"--iterations must be >= 1, got {args.iterations}")
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.child:
        child_generation_seconds(args.size, args.seconds, args.threads)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    size = "quick" if args.quick else "small"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}; memory: {memory_method()}")
    run_size(size, args.seconds, args.iterations)
    if args.medium and not args.quick:
        fits, why = medium_fits(available_memory_bytes())
        if fits:
            run_size("medium", args.seconds, args.iterations)
        else:
            print(f"\nMedium skipped: {why}")
    if not args.no_omp:
        print_omp(size, args.seconds, args.threads)


if __name__ == "__main__":
    main()
