"""Reproduce the embedded tiny model: `python scripts/make_tiny_model.py [--out ditto/tiny]`.

Builds SAO 1.0's structure from `ditto/tiny/model_config.json` (DiT + Oobleck VAE with 2048x downsampling +
prompt / seconds_start / seconds_total conditioning, prompt through a download-free `list` conditioner) with
seeded random weights, and writes `model.safetensors` beside it. A freshly built DiT has zero-initialised output
layers and would predict v = 0 everywhere; those weights get small seeded Gaussian values so that the chain,
and therefore DITTO's gradient, depends on x_T and on the prompt. A randomly initialised Oobleck decoder is
almost deaf to its input (its biases dominate: the same -9 dB hum for any latent), so its biases are zeroed and
its output conv is scaled up: silence decodes to silence and loudness follows the latents, as in a trained VAE.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ditto import sat as sat_adapter  # noqa: E402

ZERO_INIT_STD = 0.05  # std of the values given to the DiT's zero-initialised weights
DECODER_OUT_GAIN = 20.0  # scales the decoder's last conv: unit-variance latents decode to about -20 dBFS


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "ditto" / "tiny"),
                        help="directory holding model_config.json; model.safetensors is written there")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random weight")
    args = parser.parse_args()

    out = Path(args.out)
    config = json.loads((out / "model_config.json").read_text())
    torch.manual_seed(args.seed)
    model = sat_adapter.build_model(config)
    generator = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for name, param in model.model.named_parameters():
            if param.abs().max() == 0:
                param.copy_(torch.randn(param.shape, generator=generator) * ZERO_INIT_STD)
        decoder = model.pretransform.model.decoder
        for name, param in decoder.named_parameters():
            if name.endswith("bias"):
                param.zero_()
        decoder.layers[-2].weight_g.mul_(DECODER_OUT_GAIN)
    state_dict = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = out / ".model.safetensors.tmp"
    save_file(state_dict, str(tmp), metadata={"seed": str(args.seed), "made_by": "scripts/make_tiny_model.py"})
    os.replace(tmp, out / "model.safetensors")
    print(f"wrote {out / 'model.safetensors'} ({(out / 'model.safetensors').stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
