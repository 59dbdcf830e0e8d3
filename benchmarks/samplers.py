"""DITTO through every sampler: `python benchmarks/samplers.py [--iterations 30] [--steps 8]`.

For each sampler in the registry, on the tiny model (v samplers) and the tiny SAO Small (flow samplers; its
model-card CFG 1): the intensity error (dB²) of a crescendo before and after DITTO, their ratio and the seconds per
iteration, optimizing x_T alone and, for the stochastic samplers, x_T with the per-step injected noises (with
and without projecting each step's noise back to unit-variance norm). One table, printed in Markdown.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import ditto  # noqa: E402
import objectives  # noqa: E402
from ditto import sampling, testing  # noqa: E402

VARIANTS = {  # label -> optimize keyword arguments
    "x_T": dict(optimize_noise=False),
    "x_T + noises": dict(optimize_noise=True),
    "x_T + noises, projected": dict(optimize_noise=True, noise_projection=True),
}


def rows_for(model, samplers, *, steps: int, iterations: int, latents: int) -> list[list]:
    objective = objectives.Intensity.from_shape("crescendo")
    sample_size = latents * model.latent_stride
    rows = []
    for name in samplers:
        stochastic = sampling.SAMPLERS[name].noise is not None
        for label, variant in VARIANTS.items():
            if variant["optimize_noise"] and not stochastic:
                continue
            result = ditto.optimize(model, objective, prompt="ambient pad", sample_size=sample_size, steps=steps,
                                    seconds_total=sample_size / model.sample_rate,
                                    sampler=name, iterations=iterations, seed=0, progress=False, **variant)
            before = result.metrics["before"]["intensity_mse_db2"]
            after = result.metrics["after"]["intensity_mse_db2"]
            rows.append([name, label, before, after, before / after, result.seconds["per_iteration"]])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--latents", type=int, default=22, help="window in latents (22: 1 s)")
    parser.add_argument("--samplers", default=None, help="comma-separated names (default: every registry entry)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    chosen = args.samplers.split(",") if args.samplers else list(sampling.SAMPLERS)
    tiny = ditto.load_model("tiny", device="cpu")
    rows = rows_for(tiny, [n for n in chosen if n in sampling.V_SAMPLERS], steps=args.steps,
                    iterations=args.iterations, latents=args.latents)
    with tempfile.TemporaryDirectory() as directory:
        small = ditto.load_model(testing.tiny_twin(testing.tiny_small_config(), Path(directory) / "small"),
                                 device="cpu")
        rows += rows_for(small, [n for n in chosen if n in sampling.RF_SAMPLERS], steps=args.steps,
                         iterations=args.iterations, latents=args.latents)
    common.print_table(f"Crescendo intensity error (dB²), {args.iterations} Adam iterations at the model's lr, "
                       f"{args.steps} steps, {args.latents} latents; {common.device_name('cpu')}",
                       ["sampler", "variables", "before", "after", "before / after", "s / iteration"], rows)


if __name__ == "__main__":
    main()
