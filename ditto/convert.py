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
import os
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
    if os.path.isfile(args.source):
        print(f"error: SRC {args.source!r} is a file ({_what_file(args.source)}); valid: the directory holding "
              f"model.ckpt + model_config.json (e.g. {os.path.dirname(os.path.abspath(args.source))!r}), or a hub "
              f"repo id with a DST_DIR", file=sys.stderr)
        return 2
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


def _what_file(path: str) -> str:
    """What a file given as SRC looks like: a pickle checkpoint, a zip archive (torch.save) or something else."""
    with open(path, "rb") as file:
        head = file.read(4)
    if head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or head.startswith(b"PK"):
        return "a checkpoint file itself, not its directory"
    return "not a checkpoint: neither a pickle nor a torch zip archive"


if __name__ == "__main__":
    sys.exit(main())
