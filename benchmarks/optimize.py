"""Cost of one DITTO iteration relative to plain generation: `python benchmarks/optimize.py`.

For each model and step count: seconds per plain `ditto.generate` (no gradients, same sampler and steps),
seconds per DITTO iteration (forward + backward through the checkpointed chain and decoder + Adam step,
measured inside `ditto.optimize`), their ratio (goal <= 3.5x), and peak CUDA memory. The tiny model runs on the
CPU; with CUDA an SAO-1.0-size random-weight model at 1024 latents (47.5 s) is added.
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import ditto  # noqa: E402
import objectives  # noqa: E402


def rows_for(model, label, *, latents, steps_list, iterations, conditioning_tensors=None, bf16=False):
    sample_size = latents * model.latent_stride
    seconds = sample_size / model.sample_rate
    objective = objectives.Intensity.from_shape("crescendo")
    rows = []
    for steps in steps_list:
        def generate():
            with torch.no_grad():
                ditto.generate(model, "solo piano", sample_size=sample_size, seconds_total=seconds, steps=steps,
                               sampler="v-ddim", conditioning_tensors=conditioning_tensors, autocast_bf16=bf16)

        generate_s = common.seconds_per_call(generate, model.device, repeats=2)
        timings = []

        def run():
            timings.clear()
            ditto.optimize(model, objective, prompt="solo piano", sample_size=sample_size, seconds_total=seconds,
                           steps=steps, iterations=iterations, progress=False, autocast_bf16=bf16,
                           callback=lambda info: timings.append(info["seconds"]), **_cond(conditioning_tensors))

        peak = common.peak_gb(model.device, run)
        iteration_s = sorted(timings[1:])[len(timings[1:]) // 2]  # median, first iteration excluded (warm-up)
        rows.append([label, f"{seconds:.1f}", steps, "bf16" if bf16 else "fp32", generate_s, iteration_s,
                     iteration_s / generate_s, peak])
    return rows


def _cond(conditioning_tensors):
    return {} if conditioning_tensors is None else {"conditioning_tensors": conditioning_tensors}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tiny-latents", type=int, default=64, help="latent frames for the tiny model")
    parser.add_argument("--iterations", type=int, default=4, help="DITTO iterations timed per cell")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {common.device_name(device)}; torch {torch.__version__}")
    tiny = ditto.load_model("tiny", device=device)
    rows = rows_for(tiny, "tiny", latents=args.tiny_latents, steps_list=[20, 50], iterations=args.iterations)
    if device == "cuda":
        sao = common.build_sao_size(device)
        tensors = common.sao_conditioning_tensors(sao)
        rows += rows_for(sao, "SAO-size", latents=1024, steps_list=[20], iterations=args.iterations,
                         conditioning_tensors=tensors, bf16=True)
    common.print_table("DITTO iteration vs plain generation (goal: ratio <= 3.5)",
                       ["model", "audio s", "steps", "precision", "generate s", "iteration s", "ratio", "peak GB"],
                       rows)


if __name__ == "__main__":
    main()
