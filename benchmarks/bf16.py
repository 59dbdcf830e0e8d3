"""What the bf16 modes cost in accuracy and buy in speed: `python benchmarks/bf16.py`.

Per mode (fp32, DiT under bf16 autocast, bf16 decoder, both), on the tiny model with the settings of
`tests/test_modes.py` (crescendo -40 to -10 dB, "solo piano", 1 s in a 22-latent window, 6 v-ddim steps, seed 3,
default lr): the cosine of dL/dx_T against fp32's at the first iteration, the control metric (intensity MSE,
dB^2) of the baseline and after N Adam iterations, its ratio to fp32's, and seconds per iteration. Times are
taken apart from the accuracy runs, in rounds that run every mode in turn for a few iterations, keeping each
mode's fastest iteration (first of each run excluded), so that a neighbour's load on a shared machine hits every
mode alike. The header names the CPU, whether it has native bf16 (amx_bf16 / avx512_bf16 in /proc/cpuinfo),
ONEDNN_MAX_CPU_ISA, and whether PyTorch hands bf16 work to oneDNN at all.

Without native bf16 (or with ONEDNN_MAX_CPU_ISA capped below it) the "bf16" convolutions are computed at fp32
precision by a fallback kernel: such a CPU cannot tell whether a bf16 path is accurate. Run this on an AMX /
AVX512-BF16 CPU or a GPU to measure the real bf16 numbers (on an AMX CPU, `ONEDNN_MAX_CPU_ISA=AVX2` gives the
emulated ones for comparison).
"""

import argparse
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import ditto  # noqa: E402
import objectives  # noqa: E402

MODES = [("fp32", {}),
         ("DiT autocast bf16", dict(autocast_bf16=True)),
         ("bf16 decoder", dict(decoder_bf16=True)),
         ("both", dict(autocast_bf16=True, decoder_bf16=True))]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def native_bf16_flags() -> list[str]:
    """The CPU flags that give oneDNN native bf16 arithmetic (empty: bf16 is emulated at fp32 precision)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({flag for flag in flags if flag in ("amx_bf16", "avx512_bf16")})


def onednn_bf16() -> str:
    """Whether PyTorch hands bf16 convolutions and matmuls to oneDNN here (it does not without native bf16)."""
    try:
        return "yes" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "no"
    except (AttributeError, RuntimeError):
        return "unknown"


def run_mode(model, objective, *, iterations, latents, steps, seed, **mode):
    """(first dL/dx_T, Result, seconds of each iteration) of one ditto.optimize call."""
    grads, seconds = [], []

    def record(info):
        if not grads:
            grads.append(info["grad"])
        seconds.append(info["seconds"])

    sample_size = latents * model.latent_stride
    result = ditto.optimize(model, objective, prompt="solo piano", seconds_total=1.0, sample_size=sample_size,
                            steps=steps, seed=seed, iterations=iterations, progress=False, callback=record, **mode)
    common.synchronize(model.device)
    return grads[0], result, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--iterations", type=int, default=30, help="Adam iterations per mode")
    parser.add_argument("--latents", type=int, default=22, help="latent frames in the window (2048 samples each)")
    parser.add_argument("--steps", type=int, default=6, help="v-ddim sampler steps")
    parser.add_argument("--seed", type=int, default=3, help="seed of x_T")
    parser.add_argument("--timing-rounds", type=int, default=3, help="rounds of the interleaved timing")
    parser.add_argument("--timing-iterations", type=int, default=3, help="iterations per mode and round")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if min(args.iterations, args.timing_rounds, args.timing_iterations) < 1:
        parser.error("--iterations, --timing-rounds and --timing-iterations must be >= 1")
    flags = native_bf16_flags()
    print(f"CPU: {cpu_model()}; native bf16: {'yes (' + ', '.join(flags) + ')' if flags else 'no'}; "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}; oneDNN bf16: {onednn_bf16()}; "
          f"device: {common.device_name(args.device)}; torch {torch.__version__}")
    model = ditto.load_model("tiny", device=args.device)
    objective = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)
    settings = dict(latents=args.latents, steps=args.steps, seed=args.seed)
    accuracy = {name: run_mode(model, objective, iterations=args.iterations, **settings, **mode)[:2]
                for name, mode in MODES}
    fastest = {name: float("inf") for name, _ in MODES}
    for _ in range(args.timing_rounds):
        for name, mode in MODES:
            seconds = run_mode(model, objective, iterations=args.timing_iterations + 1, **settings, **mode)[2]
            fastest[name] = min(fastest[name], *seconds[1:])
    reference_grad, reference_result = accuracy["fp32"]
    reference_after = reference_result.metrics["after"]["intensity_mse_db2"]
    rows = []
    for name, _ in MODES:
        grad, result = accuracy[name]
        after = result.metrics["after"]["intensity_mse_db2"]
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(), reference_grad.flatten(), dim=0).item()
        rows.append([name, f"{cosine:.4f}", result.metrics["before"]["intensity_mse_db2"], after,
                     f"{after / reference_after:.2f}", fastest[name], f"{fastest['fp32'] / fastest[name]:.2f}"])
    common.print_table(f"bf16 modes vs fp32 (tiny model, {args.latents} latents, {args.steps} steps, seed {args.seed})",
                       ["mode", "grad cosine vs fp32 (iteration 1)", "before dB^2",
                        f"after {args.iterations} it. dB^2", "after / fp32", "s per iteration (fastest)",
                        "speed-up vs fp32"],
                       rows)


if __name__ == "__main__":
    main()
