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
`overwrite`, `resume`, `quiet` and `device` belong to `ditto run`, not to a job, and no job may be named like one
of the experiment folder's own entries (jobs.jsonl, logs, summary.*).

Every job is checked before any runs, values included: parsed by its recipe's parser, then its recipe's model-free
`check(args, model)` (the same target building and setting checks its run does) against its model's config, read
without the weights (`ConfigModel`). More than `MAX_JOBS` jobs are refused before any is built.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import hashlib
import importlib
import itertools
import json
import math
import re
import typing as tp
from pathlib import Path

from .cli import ConfigModel, RecipeExit
from .recipes import RECIPES
from .runs import EXPERIMENT_ENTRIES
from ..generation import check_prompt

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


@functools.lru_cache(maxsize=None)
def recipe_parser(recipe: str):
    """The argparse parser of a recipe (its `build_parser()`), built once: it is only read and parsed with."""
    return importlib.import_module(f"{__package__}.recipes.{recipe}").build_parser()


@functools.lru_cache(maxsize=64)
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


MAX_JOBS = 10_000  # more jobs than this in one file need --max-jobs (a typo in a grid can make millions)


def read_experiment(path: str | Path, *, max_jobs: int = MAX_JOBS, check: bool = True) -> list[ExperimentJob]:
    """The jobs of an experiment file, every grid expanded; raises ExperimentError listing each bad line.

    Every job is parsed by its recipe's parser and, with `check`, its values are checked as its run would check
    them (`check_values`): its target built, its files read, its settings against its model's config (read without
    the weights). More than `max_jobs` jobs are refused before any is built."""
    path = Path(path)
    text = _read_text(path)
    jobs, errors, total = [], [], 0
    checker = ValueChecker() if check else None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entry = _parse_line(line)
            total += entry.size
            if total > max_jobs:
                raise ExperimentError(f"the file has more than {max_jobs} jobs (this line alone {entry.size}); "
                                      f"pass --max-jobs N to allow up to N")
            line_jobs, line_errors = _jobs_of_line(entry, number, checker)
            jobs += line_jobs
            errors += [f"line {number}: {error}" for error in line_errors]
        except ExperimentError as error:
            errors.append(f"line {number}: {error}")
            if total > max_jobs:
                break
    errors += _duplicate_names(jobs)
    if not jobs and not errors:
        errors.append("no jobs (one JSON object per line, e.g. {\"recipe\": \"intensity\", \"seed\": 0})")
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise ExperimentError(f"{path}: " + "; ".join(shown))
    return jobs


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; ExperimentError naming the file (and line) when it cannot be read or decoded."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExperimentError(f"cannot read experiment file {str(path)!r}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ExperimentError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x}); an experiment "
                              f"file is JSON lines in UTF-8") from None


@dataclasses.dataclass
class _Line:
    """One parsed line: the recipe, its fixed flags, its grid (or None), its name (template) and job count."""

    recipe: str
    fixed: dict
    grid: dict | None
    name: tp.Any
    parser: tp.Any
    size: int


def _parse_line(line: str) -> _Line:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise ExperimentError(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(entry, dict):
        raise ExperimentError(f"expected a JSON object, got {type(entry).__name__}")
    recipe = entry.pop("recipe", None)
    if recipe not in RECIPES:
        raise ExperimentError(f"\"recipe\": {recipe!r} is not a recipe; expected one of {', '.join(RECIPES)}")
    name, grid = entry.pop("name", None), entry.pop("grid", None)
    parser = recipe_parser(recipe)
    _check_flags(entry, recipe, parser)
    if grid is None:
        return _Line(recipe, entry, None, name, parser, 1)
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ExperimentError("\"grid\" must map flags to non-empty lists of values, e.g. {\"seed\": [0, 1, 2]}")
    for flag, values in grid.items():  # every value of every list, not only the first
        for value in values:
            _check_flags({flag: value}, recipe, parser)
    if both := sorted(set(grid) & set(entry)):
        raise ExperimentError(f"{', '.join(both)} set both as a fixed flag and in \"grid\"; keep one")
    return _Line(recipe, entry, grid, name, parser, math.prod(len(values) for values in grid.values()))


def _jobs_of_line(entry: _Line, number: int, checker) -> tuple[list[ExperimentJob], list[str]]:
    """The line's jobs (a grid's combinations lazily, in order) and its bad jobs' errors, one per distinct error
    (naming the first job and grid values that have it, and how many more do)."""
    combinations = [{}] if entry.grid is None else (dict(zip(entry.grid, values))
                                                    for values in itertools.product(*entry.grid.values()))
    parse = _GridParser(entry)
    jobs, errors = [], {}
    for varied in combinations:
        try:
            jobs.append(_job(entry, {**entry.fixed, **varied}, number, checker, parse(varied)))
        except ExperimentError as error:
            where, _, message = str(error).rpartition("\0")
            where = f"{where} (grid {json.dumps(varied)})".strip() if varied else where
            errors.setdefault(message, []).append(where)
    return jobs, [(f"{where[0]}: " if where[0] else "") + message
                  + (f" (and {len(where) - 1} more jobs of this line)" if len(where) > 1 else "")
                  for message, where in errors.items()]


class _GridParser:
    """A line's jobs parsed by the recipe's parser: the first combination in full, then each grid value once (with
    the other flags as in the first combination); a job's namespace is the first one's plus what its values change.
    Parsing every combination would cost argparse's millisecond per job (100,000 jobs: minutes)."""

    def __init__(self, entry: _Line):
        self.entry = entry
        self.first = {flag: values[0] for flag, values in (entry.grid or {}).items()}
        self.base = _parse(entry.parser, {**entry.fixed, **self.first})
        self.changes: dict[tuple[str, str], dict | str] = {}

    def __call__(self, varied: dict):
        """The namespace of the job with grid values `varied`, or the parser's one-line error."""
        if isinstance(self.base, str):  # a bad first combination: every job on its own
            return _parse(self.entry.parser, {**self.entry.fixed, **varied})
        args = argparse.Namespace(**vars(self.base))
        for flag, value in varied.items():
            key = (flag, json.dumps(value))
            if key not in self.changes:
                parsed = _parse(self.entry.parser, {**self.entry.fixed, **self.first, flag: value})
                self.changes[key] = parsed if isinstance(parsed, str) else {
                    dest: new for dest, new in vars(parsed).items() if getattr(self.base, dest, None) != new}
            if isinstance(self.changes[key], str):
                return self.changes[key]
            vars(args).update(self.changes[key])
        return args


def _parse(parser, flags: dict):
    """The recipe parser's namespace for `flags`, or its error as one line."""
    try:
        return parser.parse_args(flags_to_argv(flags, parser))
    except RecipeExit as error:  # a recipe's parser raises its one-line error instead of exiting
        return (error.message or f"exit code {error.code}").removesuffix(" (see --help)")


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


def _job(entry: _Line, flags: dict, number: int, checker, args) -> ExperimentJob:
    """One job from its parsed flags `args` (or the parser's error), its values checked with a checker;
    ExperimentError "job 'NAME'\\0MESSAGE" otherwise (the caller adds the grid values)."""
    name = _job_name(entry.recipe, flags, entry.name)
    if isinstance(args, str):
        raise ExperimentError(f"job {name!r}\0{args}")
    job = ExperimentJob(name=name, recipe=entry.recipe, flags=flags, line=number)
    if checker is not None:
        message = checker(job, args)
        if message is not None:
            raise ExperimentError(f"job {name!r}\0{message}")
    return job


class ValueChecker:
    """Checks a job's values as its run would, before any job runs: the recipe's `check(args, model)` against
    the model's config (`ConfigModel`: no weights), or for a recipe without one its prompt and its `target(args)`.
    Results are kept per model and per job flags other than the seed, so a grid over seeds checks once."""

    def __init__(self):
        self.models: dict[str, tp.Any] = {}
        self.results: dict[str, str | None] = {}

    def __call__(self, job: ExperimentJob, args) -> str | None:
        """None if the job is good, else the one-line error its run would end with."""
        key = json.dumps([job.recipe, {k: v for k, v in job.flags.items() if k != "seed"}], sort_keys=True)
        if key not in self.results:
            self.results[key] = self._check(job.recipe, args)
        return self.results[key]

    def model(self, source: str):
        if source not in self.models:
            try:
                self.models[source] = ConfigModel(source)
            except ValueError as error:  # ModelLoadError
                self.models[source] = str(error)
        return self.models[source]

    def _check(self, recipe: str, args) -> str | None:
        model = self.model(args.model)
        if isinstance(model, str):
            return model
        module = importlib.import_module(f"{__package__}.recipes.{recipe}")
        try:
            if hasattr(module, "check"):
                module.check(args, model)
            else:  # its prompt and its model-free target, as its run builds it
                check_prompt(model, "prompt", args.prompt)
                module.target(args)
        except (ValueError, OSError) as error:
            return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None


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
    if name.lower() in (entry.lower() for entry in EXPERIMENT_ENTRIES):
        raise ExperimentError(f"job name {name!r} is one of the experiment folder's own entries "
                              f"({', '.join(EXPERIMENT_ENTRIES)}); choose another name")
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


__all__ = ["ExperimentError", "ExperimentJob", "MAX_JOBS", "RUNNER_FLAGS", "ValueChecker", "flags_to_argv", "read_experiment", "recipe_parser"]
