"""Fast DITTO, measured: `python benchmarks/gpu.py` (one command; on a CUDA machine about 6 minutes).

On CUDA it builds the SAO-1.0-size random-weight model (T5 replaced by 128 precomputed tokens) at 1024 latents
(47.6 s); on the CPU it runs the tiny model. Tables:
1. plain generation (SAT and ditto) and one DITTO iteration per mode (fp32, bf16, bf16 + memory budget,
   surrogate) at 20 and 50 steps: seconds, peak GB (CUDA), ratio to plain ditto generation with the same steps;
2. the control metric (intensity MSE, dB^2) reached within a fixed wall-clock budget, default vs surrogate;
3. (--scaling) seconds per iteration against sampler steps, audio length and batch size, 3 points each.
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import ditto  # noqa: E402
import objectives  # noqa: E402

OBJECTIVE = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)


def per_iteration(model, *, latents, steps, iterations=3, batch_size=1, conditioning_tensors=None, **mode):
    """(median seconds of a DITTO iteration after the first, peak GB) for one optimize() call."""
    sample_size = latents * model.latent_stride
    seconds = []
    kwargs = {} if conditioning_tensors is None else {"conditioning_tensors": _batched(conditioning_tensors, batch_size)}

    def run():
        seconds.clear()
        ditto.optimize(model, OBJECTIVE, prompt="solo piano", sample_size=sample_size,
                       seconds_total=sample_size / model.sample_rate, steps=steps, iterations=iterations,
                       batch_size=batch_size, progress=False, callback=lambda info: seconds.append(info["seconds"]),
                       **kwargs, **mode)

    peak = common.peak_gb(model.device, run)
    timed = sorted(seconds[1:] or seconds)
    return timed[len(timed) // 2], peak


def _batched(tensors, batch_size):
    return {k: [t.expand(batch_size, *t.shape[1:]) for t in v] for k, v in tensors.items()}


def generation_seconds(model, *, latents, steps, conditioning_tensors=None, bf16=False):
    sample_size = latents * model.latent_stride
    seconds_total = sample_size / model.sample_rate

    def run_sat():
        with torch.no_grad():
            ditto.sat.reference_generate(model, "solo piano", seconds_total=seconds_total, sampler="v-ddim",
                                         conditioning_tensors=conditioning_tensors, steps=steps, cfg_scale=7.0,
                                         sample_size=sample_size, seed=0, sigma_min=0.3, sigma_max=500.0)

    def run_ditto():
        with torch.no_grad():
            ditto.generate(model, "solo piano", sample_size=sample_size, seconds_total=seconds_total, steps=steps,
                           sampler="v-ddim", conditioning_tensors=conditioning_tensors, autocast_bf16=bf16)

    return (common.seconds_per_call(run_sat, model.device, repeats=2),
            common.seconds_per_call(run_ditto, model.device, repeats=2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall-clock budget of table 2 (default: 60 on CUDA, 20 on the CPU)")
    parser.add_argument("--scaling", action="store_true", help="also measure scaling with steps, length and batch")
    parser.add_argument("--latents", type=int, default=None, help="window in latents (default: 1024 CUDA, 64 CPU)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    print(f"device: {common.device_name(device)}; torch {torch.__version__}")
    if cuda:
        model, label = common.build_sao_size(device), "SAO-1.0 size, random weights"
        tensors = common.sao_conditioning_tensors(model)
        latents, budget = args.latents or 1024, args.budget_s or 60.0
        budget_gb = 0.5 * torch.cuda.get_device_properties(0).total_memory / 1e9
    else:
        model, label, tensors = ditto.load_model("tiny", device=device), "tiny", None
        latents, budget, budget_gb = args.latents or 64, args.budget_s or 20.0, 1.0
    print(f"model: {label}; window {latents} latents = {latents * model.latent_stride / model.sample_rate:.1f} s")

    modes = {
        "fp32": {},
        "bf16": dict(autocast_bf16=True, decoder_bf16=True),
        f"bf16 + budget {budget_gb:.0f} GB": dict(autocast_bf16=True, decoder_bf16=True, memory_budget_gb=budget_gb),
        "surrogate 4 steps, bf16": dict(autocast_bf16=True, decoder_bf16=True, surrogate_steps=4),
    }
    rows = []
    for steps in (20, 50):
        sat_s, ditto_s = generation_seconds(model, latents=latents, steps=steps, conditioning_tensors=tensors)
        rows.append(["plain generation, SAT", steps, sat_s, None, sat_s / ditto_s])
        rows.append(["plain generation, ditto", steps, ditto_s, None, 1.0])
        for name, mode in modes.items():
            seconds, peak = per_iteration(model, latents=latents, steps=steps, conditioning_tensors=tensors, **mode)
            rows.append([f"DITTO iteration, {name}", steps, seconds, peak, seconds / ditto_s])
    common.print_table(f"Cost per call, {label} ({device})", ["run", "steps", "seconds", "peak GB", "x plain ditto"],
                       rows)

    budget_rows = []
    for name, mode in (("default (20 steps, fp32)", {}),
                       ("surrogate (optimize 4 steps, render 20), bf16",
                        dict(surrogate_steps=4, autocast_bf16=True, decoder_bf16=True))):
        kwargs = {} if tensors is None else {"conditioning_tensors": tensors}
        result = ditto.optimize(model, OBJECTIVE, prompt="solo piano", sample_size=latents * model.latent_stride,
                                seconds_total=latents * model.latent_stride / model.sample_rate, steps=20,
                                iterations=10_000, time_budget_s=budget, progress=False, **kwargs, **mode)
        budget_rows.append([name, len(result.losses), result.metrics["before"]["intensity_mse_db2"],
                            result.metrics["after"]["intensity_mse_db2"]])
    common.print_table(f"Intensity MSE (dB^2) of the 20-step render reached within {budget:.0f} s",
                       ["mode", "iterations", "before", "after"], budget_rows)

    if args.scaling:
        scale_rows = []
        for steps in (10, 20, 40):
            scale_rows.append(["steps", steps, *per_iteration(model, latents=latents, steps=steps,
                                                              conditioning_tensors=tensors)])
        for frames in (latents // 4, latents // 2, latents):
            scale_rows.append(["latents", frames, *per_iteration(model, latents=frames, steps=20,
                                                                 conditioning_tensors=tensors)])
        for batch in (1, 2, 4):
            scale_rows.append(["batch", batch, *per_iteration(model, latents=latents, steps=20, batch_size=batch,
                                                              conditioning_tensors=tensors)])
        common.print_table("Scaling of one DITTO iteration (fp32, checkpointed)", ["vary", "value", "seconds", "peak GB"],
                           scale_rows)


if __name__ == "__main__":
    main()
