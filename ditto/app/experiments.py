"""Experiment files: many recipe runs described in one JSONL file, checked whole before anything runs.

Each non-blank line is a JSON object (lines starting with `#` are comments):

- a **job**: `{"recipe": "intensity", "shape": "crescendo", "seed": 3, "name": "crescendo-3"}`. Every other
  key is one of the recipe's long flags without its dashes; a switch takes true/false (`"fit-window": true`,
  `"optimize-noise": false` gives `--no-optimize-noise`), a list gives comma-separated values
  (`"curve": [-40, -10, -30]`), anything else its text.
- a **grid**: the same plus `"grid": {"shape": ["crescendo", "swell"], "seed": [0, 1, 2]}`, which expands to
  one job per combination (the cross product, the last key varying fastest), in file order.

`"name"` names the job's folder. In a grid it is a template filled from the job's flags: `"{shape}-seed{seed}"`.
Dashes in flag names become underscores (`{low_db}`), and characters a folder name cannot hold become `_`
(`{prompt}` of "ambient pad" gives `ambient_pad`). Without a name, a job is called `RECIPE-HASH`, the hash of its
recipe and flags: the same job keeps its folder when lines move, and a changed job gets a new one. `out`,
`overwrite`, `resume`, `quiet` and `device` belong to `ditto run`, not to a job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import importlib
import io
import itertools
import json
import re
import typing as tp
from pathlib import Path

from .recipes import RECIPES

RUNNER_FLAGS = ("out", "overwrite", "resume", "quiet", "device")  # set by `ditto run` for every job
INPUT_FILE_FLAGS = ("reference", "midi", "init-audio")  # files a job reads: checked to exist before anything runs
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+,-]{0,127}$")  # a portable folder name


class ExperimentError(ValueError):
    """An experiment file that cannot run; the message lists every bad line with its number."""


@dataclasses.dataclass(frozen=True)
class ExperimentJob:
    """One recipe run of an experiment: the folder `name`, the recipe and its flags as given in the file."""

    name: str
    recipe: str
    flags: dict[str, tp.Any]  # long flag without dashes -> JSON value (bool, number, text or list)
    line: int  # where it was written (a grid's jobs share their line)

    def argv(self) -> list[str]:
        """The recipe's command line for these flags (without the runner's --out, --device...)."""
        return flags_to_argv(self.flags, recipe_parser(self.recipe))

    def record(self) -> dict:
        """What `jobs.jsonl` keeps of the job: enough to rerun it and to tell whether a folder is its run."""
        return {"name": self.name, "recipe": self.recipe, "flags": self.flags}


def recipe_parser(recipe: str):
    """The argparse parser of a recipe (its `build_parser()`)."""
    return importlib.import_module(f"{__package__}.recipes.{recipe}").build_parser()


def long_flags(parser) -> dict[str, tp.Any]:
    """{flag without dashes: its argparse action} for every long flag of `parser`."""
    return {option[2:]: action for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"}


def flags_to_argv(flags: dict[str, tp.Any], parser) -> list[str]:
    """JSON flags as a command line: true -> --flag, false -> --no-flag (or nothing), a list -> a,b,c."""
    actions = long_flags(parser)
    argv = []
    for flag, value in flags.items():
        if isinstance(value, bool):
            if value:
                argv.append(f"--{flag}")
            elif f"no-{flag}" in actions:
                argv.append(f"--no-{flag}")
        elif isinstance(value, list):
            argv.append(f"--{flag}={','.join(_text(item) for item in value)}")
        else:
            argv.append(f"--{flag}={_text(value)}")
    return argv


def _text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def read_experiment(path: str | Path) -> list[ExperimentJob]:
    """The jobs of an experiment file, every grid expanded; raises ExperimentError listing each bad line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ExperimentError(f"cannot read experiment file {str(path)!r}: {error.strerror or error}") from None
    jobs, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            jobs += _jobs_of_line(line, number)
        except ExperimentError as error:
            errors.append(f"line {number}: {error}")
    errors += _duplicate_names(jobs)
    if not jobs and not errors:
        errors.append("no jobs (one JSON object per line, e.g. {\"recipe\": \"intensity\", \"seed\": 0})")
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise ExperimentError(f"{path}: " + "; ".join(shown))
    return jobs


def _jobs_of_line(line: str, number: int) -> list[ExperimentJob]:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise ExperimentError(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(entry, dict):
        raise ExperimentError(f"expected a JSON object, got {type(entry).__name__}")
    recipe = entry.pop("recipe", None)
    if recipe not in RECIPES:
        raise ExperimentError(f"\"recipe\": {recipe!r} is not a recipe; expected one of {', '.join(RECIPES)}")
    name = entry.pop("name", None)
    grid = entry.pop("grid", None)
    parser = recipe_parser(recipe)
    _check_flags(entry, recipe, parser)
    if grid is None:
        return [_job(recipe, entry, name, number, parser)]
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ExperimentError("\"grid\" must map flags to non-empty lists of values, e.g. {\"seed\": [0, 1, 2]}")
    _check_flags({flag: values[0] for flag, values in grid.items()}, recipe, parser)
    if both := sorted(set(grid) & set(entry)):
        raise ExperimentError(f"{', '.join(both)} set both as a fixed flag and in \"grid\"; keep one")
    return [_job(recipe, {**entry, **dict(zip(grid, values))}, name, number, parser)
            for values in itertools.product(*grid.values())]


def _check_flags(flags: dict, recipe: str, parser) -> None:
    """Every key is a long flag of the recipe that a job may set, with a JSON value of a usable kind."""
    actions = long_flags(parser)
    for flag, value in flags.items():
        if flag in RUNNER_FLAGS:
            raise ExperimentError(f"\"{flag}\" is set by ditto run for every job; remove it from the job")
        if flag not in actions:
            close = difflib.get_close_matches(flag, actions, n=1)
            hint = f"did you mean \"{close[0]}\"? " if close else ""
            raise ExperimentError(f"{recipe} has no flag --{flag}; {hint}see ditto {recipe} --help")
        is_switch = actions[flag].nargs == 0
        if is_switch != isinstance(value, bool):
            kind = "true or false" if is_switch else "a value (number, text or list), not true/false"
            raise ExperimentError(f"\"{flag}\": {json.dumps(value)} is not valid; --{flag} takes {kind}")
        if value is None or isinstance(value, dict):
            raise ExperimentError(f"\"{flag}\": {json.dumps(value)} is not valid; give a number, text or list")
        if flag in INPUT_FILE_FLAGS and not Path(str(value)).is_file():
            raise ExperimentError(f"\"{flag}\": {str(value)!r} is not a file (relative paths start from where "
                                  f"ditto run is started)")


def _job(recipe: str, flags: dict, name: str | None, number: int, parser) -> ExperimentJob:
    name = _job_name(recipe, flags, name)
    argv = flags_to_argv(flags, parser)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parser.parse_args(argv)
    except SystemExit:
        message = stderr.getvalue().strip().splitlines()[-1].removeprefix("error: ").removesuffix(" (see --help)")
        raise ExperimentError(f"job {name!r}: {message}") from None
    return ExperimentJob(name=name, recipe=recipe, flags=flags, line=number)


def _job_name(recipe: str, flags: dict, template: str | None) -> str:
    if template is None:
        digest = hashlib.sha256(json.dumps([recipe, flags], sort_keys=True).encode()).hexdigest()
        return f"{recipe}-{digest[:10]}"
    if not isinstance(template, str):
        raise ExperimentError(f"\"name\": {json.dumps(template)} is not text")
    fields = {flag.replace("-", "_"): _slug(",".join(map(_text, v)) if isinstance(v, list) else _text(v))
              for flag, v in flags.items()}
    try:
        name = template.format(recipe=recipe, **fields)
    except (KeyError, IndexError, ValueError) as error:
        raise ExperimentError(f"\"name\": {template!r} uses {error}, which is not a flag of this job; "
                              f"its flags: {', '.join(fields) or 'none'}") from None
    if not NAME_PATTERN.match(name):
        raise ExperimentError(f"job name {name!r} is not a usable folder name; use letters, digits and . _ = + , -")
    return name


def _slug(text: str) -> str:
    """A flag's value as part of a folder name: "ambient pad" -> "ambient_pad", "C5:0.5 E5:1" -> "C5_0.5_E5_1"."""
    return re.sub(r"[^A-Za-z0-9.=+,-]+", "_", text).strip("_")[:40]


def _duplicate_names(jobs: list[ExperimentJob]) -> list[str]:
    first_line: dict[str, int] = {}
    errors = []
    for job in jobs:
        if job.name in first_line and first_line[job.name] == job.line:
            errors.append(f"line {job.line}: the grid names two jobs {job.name!r}; its name template must use "
                          f"every flag the grid varies")
        elif job.name in first_line:
            errors.append(f"line {job.line}: job name {job.name!r} is also given on line {first_line[job.name]}; "
                          f"each job needs its own name")
        first_line.setdefault(job.name, job.line)
    return errors


__all__ = ["ExperimentError", "ExperimentJob", "RUNNER_FLAGS", "flags_to_argv", "read_experiment", "recipe_parser"]
