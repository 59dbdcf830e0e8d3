"""Running recipes from tests: as a subprocess (signals, exit codes) or in this process (fast error checks)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--seconds", "0.5", "--fit-window", "--steps", "3", "--iterations", "2", "--quiet"]


def short_run(name, given=()):
    """FAST's flags that the recipe `name` takes and `given` does not set (its own --seconds keeps its own window,
    without --fit-window): the flags of a short run."""
    from ditto.app.experiments import long_flags, recipe_parser

    accepted = long_flags(recipe_parser(name))
    skip = set(given) | ({"--fit-window"} if "--seconds" in given else set())
    flags = []
    for index, token in enumerate(FAST):
        if token.startswith("--") and token[2:] in accepted and token not in skip:
            value = FAST[index + 1:index + 2]  # a flag's value never starts with --
            flags += [token, *(value if value and not value[0].startswith("--") else [])]
    return flags


def recipe_command(name, *args):
    return [sys.executable, str(ROOT / "recipes" / f"{name}.py"), *map(str, args)]


def run_recipe(name, *args, timeout=300):
    """A recipe in a fresh interpreter: CompletedProcess with text stdout/stderr."""
    return subprocess.run(recipe_command(name, *args), capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def call_main(name, args) -> int:
    """main(argv) of a recipe in this process; its exit code (what it prints goes to pytest's capture)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.main([str(a) for a in args])
    except SystemExit as stop:
        return stop.code
    return 0


def run_in_process(name, args, capsys):
    """main(argv) of a recipe in this process: (exit code, stdout, the last line it printed to stderr)."""
    code = call_main(name, args)
    printed = capsys.readouterr()
    lines = printed.err.strip().splitlines()
    return code, printed.out, lines[-1] if lines else ""


def assert_one_line_error(code, last, named, expected_code=2):
    """The recipe's last word is one `error:` line naming `named`, with the expected exit code."""
    assert code == expected_code, (code, last)
    assert last.startswith("error:") and named in last, last


def no_run_left(out: Path) -> bool:
    """Neither --out nor its staging folder exists."""
    return not out.exists() and not (out.parent / f".{out.name}.partial").exists()


__all__ = ["FAST", "ROOT", "assert_one_line_error", "call_main", "no_run_left", "recipe_command", "run_in_process",
           "run_recipe", "short_run"]
