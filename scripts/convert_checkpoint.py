"""Convert a pickle Stable Audio checkpoint to safetensors: `python scripts/convert_checkpoint.py SRC [DST_DIR]`.

The same command as `python -m ditto.convert` (see `ditto/convert.py` and docs/models.md): SRC is a directory
holding `model.ckpt` + `model_config.json` or a hub repo id; DST_DIR (default SRC) receives `model.safetensors`
and a copy of `model_config.json`; nothing is overwritten; exit 2 on bad input, 1 on a failed write.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ditto.convert import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="scripts/convert_checkpoint.py"))
