"""Convert a pickle Stable Audio checkpoint to safetensors, once: `python -m ditto.convert SRC [DST_DIR]`.

SRC is a directory holding `model.ckpt` + `model_config.json` (Stable Audio Open Small's hub layout), or a hub
repo id such as `stabilityai/stable-audio-open-small` (then DST_DIR is required). DST_DIR receives
`model.safetensors` and a copy of `model_config.json`; it defaults to SRC, next to the pickle. The pickle is read
with `torch.load(weights_only=True)` (tensors and plain containers only), and no existing file is overwritten.
Afterwards `ditto.load_model(DST_DIR)` loads it without unpickling. Exit codes: 0 done, 1 a write failed,
2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import sys

from .loading import ModelLoadError, convert_checkpoint


def main(argv: list[str] | None = None, prog: str = "python -m ditto.convert") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SRC", help="directory holding model.ckpt + model_config.json, or a hub "
                                                      "repo id")
    parser.add_argument("destination", metavar="DST_DIR", nargs="?", default=None,
                        help="directory to write model.safetensors + model_config.json into (created if missing; "
                             "default: SRC)")
    args = parser.parse_args(argv)  # a usage error exits 2
    try:
        written = convert_checkpoint(args.source, args.destination)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write into {args.destination or args.source!r}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    print(f"wrote {written / 'model.safetensors'}; load it with ditto.load_model({str(written)!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
