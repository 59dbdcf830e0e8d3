"""Reproduce the embedded tiny model: `python scripts/make_tiny_model.py [--out ditto/tiny]` (about a minute).

Builds SAO 1.0's structure from `ditto/tiny/model_config.json` (DiT + Oobleck VAE with 2048x downsampling +
prompt / seconds_start / seconds_total conditioning, the prompt through a download-free `list` conditioner):

1. DiT: random, seeded. Its zero-initialised output layers (which make a fresh DiT predict v = 0 everywhere) get
   small seeded Gaussian values, so that the chain, and therefore DITTO's gradient, depends on x_T and the prompt.
2. VAE: a random Oobleck decoder is almost deaf to its input (its biases dominate: the same hum for any latent)
   and cannot make tones, so DITTO's loudness and melody losses would have little to act on. Its biases are
   zeroed, its output conv scaled up (silence decodes to silence, loudness follows the latents), and the
   autoencoder is then trained for a few Adam steps to reconstruct synthetic harmonic notes, which gives the
   decoder pitched output.

Measured on this model (tests/test_optimize.py settings: 1 s, 8 DDIM steps, 30 Adam iterations, lr 0.3) the
losses fall to 0.17x (intensity crescendo), 0.39x (melody arpeggio) and 0.08x (structure ABA) of their start.
A version whose DiT was also trained on synthetic latents was smoother but much harder to steer (0.7-0.8x), and
one with a random decoder could not make tones (melody only fell to 0.74x).
Seeds fix every draw; the result is deterministic for a given torch build and thread count.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ditto.testing import random_model  # noqa: E402

SAMPLE_RATE = 44100
CLIP_SAMPLES = 16384  # 8 latent frames: the VAE is convolutional, short clips teach it as well as long ones
VAE_STEPS = 100  # Adam steps for the autoencoder
BATCH = 8
ZERO_INIT_STD = 0.05  # the DiT's zero-initialised output layers start from small values instead
DECODER_OUT_GAIN = 20.0  # scales the decoder's last conv: unit-variance latents decode to about -20 dBFS


def harmonic_notes(generator: torch.Generator, batch: int) -> torch.Tensor:
    """(batch, 2, CLIP_SAMPLES): notes of 4 harmonics, MIDI pitch 48-89, random phase and level."""
    t = torch.arange(CLIP_SAMPLES) / SAMPLE_RATE
    clips = []
    for _ in range(batch):
        midi = torch.randint(48, 90, (1,), generator=generator).item()
        f0 = 440 * 2 ** ((midi - 69) / 12)
        note = sum((0.5 ** k) * torch.sin(2 * math.pi * f0 * (k + 1) * t + torch.rand(1, generator=generator).item() * 6.28)
                   for k in range(4))
        level = torch.rand(1, generator=generator).item() * 0.5 + 0.05
        clips.append(torch.stack([note, note]) * level)
    return torch.stack(clips)


def spectral_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on samples plus multi-resolution STFT magnitude loss (linear and log)."""
    loss = (output - target).abs().mean()
    for n_fft in (512, 2048):
        window = torch.hann_window(n_fft)
        spec = [torch.stft(x.reshape(-1, x.shape[-1]), n_fft, n_fft // 4, window=window, return_complex=True).abs()
                for x in (output, target)]
        loss = loss + (spec[0] - spec[1]).abs().mean() + (torch.log(spec[0] + 1e-5) - torch.log(spec[1] + 1e-5)).abs().mean()
    return loss


def train_vae(vae, generator: torch.Generator, steps: int) -> None:
    vae.train().requires_grad_(True)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for step in range(steps):
        batch = harmonic_notes(generator, BATCH)  # (batch, channels, samples)
        loss = spectral_loss(vae.decode(vae.encode(batch)), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == steps - 1:
            print(f"vae step {step}: loss {loss.item():.3f}", flush=True)
    vae.eval().requires_grad_(False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "ditto" / "tiny"),
                        help="directory holding model_config.json; model.safetensors is written there")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    args = parser.parse_args()

    torch.set_num_threads(2)
    out = Path(args.out)
    config = json.loads((out / "model_config.json").read_text())
    model = random_model(config, seed=args.seed, std=ZERO_INIT_STD, fill_seed=args.seed + 1).sat
    with torch.no_grad():
        decoder = model.pretransform.model.decoder
        for name, param in decoder.named_parameters():
            if name.endswith("bias"):
                param.zero_()
        decoder.layers[-2].weight_g.mul_(DECODER_OUT_GAIN)
    start = time.perf_counter()
    torch.manual_seed(args.seed)  # the VAE bottleneck samples with the global RNG
    train_vae(model.pretransform.model, torch.Generator().manual_seed(args.seed), VAE_STEPS)
    state_dict = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = out / ".model.safetensors.tmp"
    save_file(state_dict, str(tmp), metadata={"seed": str(args.seed), "made_by": "scripts/make_tiny_model.py"})
    os.replace(tmp, out / "model.safetensors")
    size_mb = (out / "model.safetensors").stat().st_size / 1e6
    print(f"wrote {out / 'model.safetensors'} ({size_mb:.1f} MB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
