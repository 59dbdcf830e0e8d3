"""OpenMP's wait policy for the `ditto` command and the recipe scripts: PASSIVE unless the user set one.

PyTorch's CPU kernels run on libgomp's OpenMP threads. By default a thread that runs out of work spins for a while
before it sleeps; on a CPU that another process is computing on, those spinning threads take its cores, and a run
became several times slower (docs/performance.md). With OMP_WAIT_POLICY=PASSIVE idle threads sleep at once.

libgomp reads the variable once, when torch is first imported, so `ditto/__init__.py` calls `set_default()` before
it imports torch. It sets PASSIVE only for the programs ditto owns: the `ditto` command, `python -m ditto ...`
(also under torchrun) and `python recipes/NAME.py`. A value the user set (ACTIVE, PASSIVE) is kept, and importing
ditto from your own program or notebook changes nothing. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

VARIABLE = "OMP_WAIT_POLICY"
DEFAULT = "PASSIVE"
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"  # the scripts of a source checkout
OPTIONS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")  # interpreter options that take the next argument


def runs_ditto(argv: list[str]) -> bool:
    """Whether the interpreter command line `argv` (`sys.orig_argv`) runs a ditto program: the `ditto` console
    script, `python [options] -m ditto[.module] ...`, or a script in the checkout's `recipes/` folder."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            module = next(args, "")
            return module == "ditto" or module.startswith("ditto.")
        if arg in OPTIONS_WITH_VALUE:
            next(args, None)
            continue
        if arg == "-c" or arg == "-":
            return False
        if arg.startswith("-"):
            continue
        script = Path(arg)
        if script.name in ("ditto", "ditto.exe", "ditto-script.py"):
            return True
        try:
            return script.resolve().parent == RECIPES_DIR
        except OSError:
            return False
    return False


def set_default(environ: dict | None = None, argv: list[str] | None = None, modules: dict | None = None) -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE in `environ` (os.environ) when the user set none, torch is not loaded yet and
    this process runs a ditto program (`runs_ditto`); True when it did."""
    environ = os.environ if environ is None else environ
    argv = getattr(sys, "orig_argv", sys.argv) if argv is None else argv
    modules = sys.modules if modules is None else modules
    if VARIABLE in environ or "torch" in modules or not runs_ditto(list(argv)):
        return False
    environ[VARIABLE] = DEFAULT
    return True
