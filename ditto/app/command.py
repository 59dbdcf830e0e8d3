"""The `ditto` command: `ditto RECIPE [flags]` runs one recipe, as `recipes/RECIPE.py` does.

`python -m ditto` is the same command. Every recipe's flags are listed by `ditto RECIPE --help`.
"""

from __future__ import annotations

import importlib
import sys

from .cli import EXIT_BAD_INPUT
from .recipes import RECIPES

USAGE = f"""usage: ditto COMMAND [flags]   (ditto COMMAND --help lists the flags)

DITTO for Stable Audio Open: control music generation by optimizing the initial noise.

recipes (one run each, into --out):
  {", ".join(RECIPES)}
"""


def main(argv: list[str] | None = None) -> None:
    """Dispatch `ditto COMMAND ...`; exits 2 with one line on an unknown command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return
    command, rest = argv[0], argv[1:]
    if command not in RECIPES:
        print(f"error: unknown command {command!r}; expected one of {', '.join(RECIPES)} (see ditto --help)",
              file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    recipe = importlib.import_module(f"{__package__}.recipes.{command}")
    sys.argv[0] = f"ditto {command}"  # argparse names the program after argv[0]: usage and errors read "ditto intensity"
    recipe.main(rest)
