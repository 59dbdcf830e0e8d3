"""Benchmark ditto's differentiable sampling against stable-audio-tools: `python benchmarks/sampling.py`.

Table 1: seconds per `ditto.generate` vs SAT `generate_diffusion_cond` (same sampler, steps, seed) and their
ratio (goal <= 1.05). Table 2: one forward + backward through a checkpointed 20- and 50-step chain with the
VAE decoder: seconds, bytes autograd saves, and peak CUDA memory (goal: 50 steps <= 1.05x the memory of 20).
Runs the tiny model on the CPU, and on CUDA also an SAO-1.0-size random-weight model at 1024 latents (47.5 s).
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import ditto  # noqa: E402
from ditto.generation import SamplerConfig, SpeedConfig, build_conditioning, decode, sample_latents  # noqa: E402


def generation_rows(model, label, *, latents, steps, samplers, conditioning_tensors, repeats):
    sample_size = latents * model.latent_stride
    seconds_total = sample_size / model.sample_rate
    rows = []
    for sampler in samplers:
        kwargs = dict(steps=steps, cfg_scale=7.0, seed=0, sample_size=sample_size, sigma_min=0.3, sigma_max=500.0)

        def run_sat():
            with torch.no_grad():
                ditto.sat.reference_generate(model, "solo piano", seconds_total=seconds_total, sampler=sampler,
                                             conditioning_tensors=conditioning_tensors, **kwargs)

        def run_ditto():
            with torch.no_grad():
                ditto.generate(model, "solo piano", sampler=sampler, seconds_total=seconds_total,
                               conditioning_tensors=conditioning_tensors, **kwargs)

        sat_s = common.seconds_per_call(run_sat, model.device, repeats=repeats)
        ditto_s = common.seconds_per_call(run_ditto, model.device, repeats=repeats)
        rows.append([label, latents, sampler, steps, sat_s, ditto_s, ditto_s / sat_s])
    return rows


def backward_rows(model, label, *, latents, steps_list, conditioning_tensors, repeats, bf16=False):
    sample_size = latents * model.latent_stride
    cond = build_conditioning(model, "solo piano", seconds_total=sample_size / model.sample_rate,
                              conditioning_tensors=conditioning_tensors)
    rows = []
    for steps in steps_list:
        config = SamplerConfig(sampler="v-ddim", steps=steps, cfg_scale=7.0)
        speed = SpeedConfig.plain(checkpoint=True, autocast_bf16=bf16)
        saved = common.SavedBytes()

        def step():
            x_T = torch.randn(1, model.latent_channels, latents, device=model.device, requires_grad=True)
            with saved, ditto.sat.set_decoder_checkpointing(model, True):
                audio = decode(model, sample_latents(model, x_T, cond, config, speed=speed))
                loss = audio.float().square().mean()
            loss.backward()

        seconds = common.seconds_per_call(step, model.device, repeats=repeats, warmup=1)
        saved.total = 0
        peak = common.peak_gb(model.device, step)
        rows.append([label, latents, steps, "bf16" if bf16 else "fp32", seconds, saved.total / 1e6, peak])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tiny-latents", type=int, default=64, help="latent frames for the tiny model (64 = 3 s)")
    parser.add_argument("--sao-latents", type=int, default=1024, help="latent frames for the SAO-size model")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per cell (median)")
    parser.add_argument("--sao-size", action="store_true", help="also run the SAO-size model without CUDA")
    args = parser.parse_args(argv)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {common.device_name(device)}; torch {torch.__version__}")
    gen_header = ["model", "latents", "sampler", "steps", "SAT s", "ditto s", "ditto / SAT"]
    bwd_header = ["model", "latents", "steps", "precision", "fwd+bwd s", "saved MB", "peak GB"]

    tiny = ditto.load_model("tiny", device=device)
    gen = generation_rows(tiny, "tiny", latents=args.tiny_latents, steps=100, conditioning_tensors=None,
                          samplers=["dpmpp-2m", "dpmpp-3m-sde", "v-ddim"], repeats=args.repeats)
    bwd = backward_rows(tiny, "tiny", latents=args.tiny_latents, steps_list=[20, 50], conditioning_tensors=None,
                        repeats=args.repeats)
    if device == "cuda" or args.sao_size:
        sao = common.build_sao_size(device)
        tensors = common.sao_conditioning_tensors(sao)
        gen += generation_rows(sao, "SAO-size", latents=args.sao_latents, steps=20, conditioning_tensors=tensors,
                               samplers=["dpmpp-2m", "dpmpp-3m-sde"], repeats=args.repeats)
        bwd += backward_rows(sao, "SAO-size", latents=args.sao_latents, steps_list=[20, 50],
                             conditioning_tensors=tensors, repeats=1)
        if device == "cuda":
            bwd += backward_rows(sao, "SAO-size", latents=args.sao_latents, steps_list=[20, 50],
                                 conditioning_tensors=tensors, repeats=1, bf16=True)
    common.print_table("Generation: ditto vs stable-audio-tools (goal: ratio <= 1.05)", gen_header, gen)
    common.print_table("One DITTO forward+backward, checkpointed chain + decoder (goal: 50-step memory <= 1.05x 20-step)",
                       bwd_header, bwd)


if __name__ == "__main__":
    main()
