"""What `ditto ui` does behind its page, without Gradio: a recipe run in this process into a new folder of --runs.

Each run is a recipe's own command line (the flags `ditto intensity ...` takes) run by the recipe's `run`, as
`ditto run` runs an experiment's jobs: the folder is written and published exactly as the recipe writes it, bad
input ends in the recipe's own one-line `error: ...` with nothing written, and the folder is recorded in
`RUNS/jobs.jsonl` (and what the recipe printed in `RUNS/logs/NAME.log`), so `ditto summarize RUNS` tables a
session's runs. One run at a time; the model is loaded once per source (the session's model cache).

The page watches a run through `ditto.optimize`'s own `callback` (the loss after every iteration) and stops it
through the recipe's stop flag, which Ctrl-C sets on the command line: the best result so far is written and
marked `"stop_reason": "interrupted"`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import importlib
import io
import json
import shutil
import sys
import threading
import time
import typing as tp
from pathlib import Path

from . import cli, editing
from .. import editing as core_editing
from .experiments import flags_to_argv, recipe_parser
from .recipes import RECIPES
from .runs import JOBS_FILE, LOG_DIR, read_json
from ..files import atomic_write
from ..loading import load_model

CONTROLS = ("intensity", "melody", "structure", "rhythm", "brightness", "pitch")
EDITS = ("outpaint", "inpaint", "loop", "extend")
UI_RECIPES = CONTROLS + EDITS  # a tab each
UI_DIR = ".ui"  # RUNS/.ui: the page's own files (uploads, zips), hidden from `ditto summarize`


@dataclasses.dataclass
class ModelFacts:
    """What the page shows about a model before anything runs: its prompts and its defaults."""

    source: str
    prompts: list[str] | None  # the fixed prompt list of a list-conditioned model (the tiny one), else None
    window_s: float
    sample_rate: int
    sampler: str  # the default sampler
    samplers: list[str]  # every sampler of its family
    steps: int
    cfg_scale: float
    lr: float
    max_iterations: int | None

    def describe(self) -> str:
        cap = f", at most {self.max_iterations} iterations by default" if self.max_iterations else ""
        return (f"**{self.source}**: {self.window_s:.2f} s window at {self.sample_rate} Hz; defaults: sampler "
                f"`{self.sampler}`, {self.steps} steps, CFG {self.cfg_scale:g}, lr {self.lr:g}{cap}")


def model_facts(source: str, device: str | None = None, models: cli.Models = load_model) -> ModelFacts:
    """Load the model `source` (through `models`, a cache in a session) and read its facts; a bad source raises the
    loader's one-line ValueError."""
    from ..generation import conditioner_configs
    from ..optimize import control_sampling, default_sampler
    from ..sampling import SAMPLERS, family_of

    model = models(source, device=device)
    conditioner = conditioner_configs(model).get("prompt", {})
    prompts = list(conditioner.get("config", {}).get("options", [])) if conditioner.get("type") == "list" else None
    sampling = control_sampling(model)
    family = family_of(model.diffusion_objective)
    return ModelFacts(source=source, prompts=prompts, window_s=model.sample_size / model.sample_rate,
                      sample_rate=model.sample_rate, sampler=default_sampler(model),
                      samplers=[name for name, spec in SAMPLERS.items() if spec.family == family],
                      steps=sampling.steps, cfg_scale=sampling.cfg_scale, lr=model.defaults.lr,
                      max_iterations=model.defaults.max_iterations)


@dataclasses.dataclass
class Run:
    """One run of the page: its recipe and flags, and what came of it."""

    name: str
    recipe: str
    flags: dict
    folder: Path
    code: int  # the recipe's exit code: 0 done, 1 failed, 2 bad input, 130 interrupted
    error: str | None  # the recipe's one-line message (without "error: "), None when done
    seconds: float
    log: str

    @property
    def written(self) -> bool:
        """The recipe published a folder (done, interrupted or failed with the best so far)."""
        return (self.folder / "report.json").is_file()

    @property
    def report(self) -> dict:
        return read_json(self.folder / "report.json") or {}

    def audio(self, which: str) -> Path | None:
        """"baseline" or "result": the stitched edit for edits (edited.wav), else the generated clip."""
        names = {"baseline": ("baseline_edited.wav", "baseline.wav"), "result": ("edited.wav", "result.wav")}[which]
        return next((self.folder / name for name in names if (self.folder / name).is_file()), None)

    @property
    def plot(self) -> Path | None:
        path = self.folder / "plot.png"
        return path if path.is_file() else None

    def metrics(self) -> list[list]:
        """[[metric, before, after], ...] from report.json."""
        metrics = self.report.get("metrics", {})
        before, after = metrics.get("before", {}), metrics.get("after", {})
        return [[name, _round(before.get(name)), _round(after.get(name))] for name in {**before, **after}]

    def command(self) -> str:
        """The command line that makes the same run."""
        argv = flags_to_argv(self.flags, recipe_parser(self.recipe)) + [f"--out={self.folder}"]
        return " ".join(["ditto", self.recipe, *map(_shell_flag, argv)])

    def summary_row(self) -> list:
        report = self.report
        status = report.get("stop_reason", "error") if self.written else "error"
        metrics = self.metrics()
        first = metrics[0] if metrics else ["", None, None]
        return [self.name, self.recipe, report.get("method", self.flags.get("method", "ditto")), status,
                len(report.get("losses", [])), first[0], first[1], first[2], round(self.seconds, 1)]


SUMMARY_COLUMNS = ["run", "recipe", "method", "stop", "iterations", "metric", "before", "after", "seconds"]


def _round(value):
    return None if value is None else float(f"{value:.4g}")


def _shell_flag(token: str) -> str:
    """"--prompt=ambient pad" as `--prompt 'ambient pad'` (values starting with a minus keep the = form)."""
    import shlex

    flag, equals, value = token.partition("=")
    if not equals:
        return token
    return f"{flag}={shlex.quote(value)}" if value.startswith("-") else f"{flag} {shlex.quote(value)}"


class _Tee(io.TextIOBase):
    """Writes to a buffer and to the terminal: the run's log, while the terminal still shows it."""

    def __init__(self, buffer: io.StringIO, stream):
        self.buffer_, self.stream = buffer, stream

    def write(self, text: str) -> int:
        self.buffer_.write(text)
        with contextlib.suppress(OSError, ValueError):  # a closed or broken terminal: the log still has it
            self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()


@contextlib.contextmanager
def watched(stop: threading.Event, on_iteration: tp.Callable[[dict], None] | None) -> tp.Iterator[None]:
    """While inside, recipes stop when `stop` is set (as after Ctrl-C: the best so far is written, marked
    interrupted) and report each DITTO iteration to `on_iteration({"iteration", "iterations", "loss",
    "best_loss"})` through `ditto.optimize`'s own `callback`.

    The recipes read these names from `ditto.app.cli`, `ditto.app.editing` and `ditto.editing` when they run, so this swaps them
    for the run's duration (one run at a time: `Session` holds a lock)."""
    class PageStop(cli.StopOnSignal):
        """Ctrl-C's flag, set by the page's Stop button too."""

        @property
        def requested(self) -> bool:
            return stop.is_set()

        @requested.setter
        def requested(self, value: bool) -> None:
            if value:
                stop.set()

    real_optimize = cli.optimize

    def watched_optimize(*args, **kwargs):
        given = kwargs.pop("callback", None)
        iterations = kwargs.get("iterations")

        def callback(info: dict) -> None:
            if given is not None:
                given(info)
            if on_iteration is not None:
                on_iteration({"iteration": info["iteration"] + 1, "iterations": iterations, "loss": info["loss"],
                              "best_loss": info["best_loss"]})
        return real_optimize(*args, callback=callback, **kwargs)

    patches = [(cli, "StopOnSignal", PageStop), (editing, "StopOnSignal", PageStop),
               (cli, "optimize", watched_optimize),
               (core_editing, "WINDOW_METHODS", {**core_editing.WINDOW_METHODS, "ditto": watched_optimize})]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


class Session:
    """The runs of one `ditto ui`: each into a new folder of `runs`, one at a time, the model loaded once."""

    def __init__(self, runs: str | Path, model: str = "tiny", device: str | None = None):
        self.runs = Path(runs).resolve()
        self.model = model
        self.device = device
        self.history: list[Run] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._owner: str | None = None
        self.models = functools.cache(load_model)  # recipes reuse each (model, device) loaded by this session

    def close(self) -> None:
        self.models.cache_clear()

    @property
    def ui_dir(self) -> Path:
        return self.runs / UI_DIR

    def facts(self, source: str | None = None) -> ModelFacts:
        return model_facts(source or self.model, self.device, self.models)

    def new_name(self, recipe: str) -> str:
        """A folder name not yet used in `runs`: RECIPE-YYYYmmdd-HHMMSS (-2, -3... within the same second)."""
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        name, count = f"{recipe}-{stamp}", 1
        taken = {run.name for run in self.history}
        while name in taken or (self.runs / name).exists() or (self.runs / f".{name}.partial").exists():
            count += 1
            name = f"{recipe}-{stamp}-{count}"
        return name

    def stop(self, owner: str | None = None) -> bool:
        """Ask the running job to stop after its current iteration (Ctrl-C's meaning); only the owner's run when
        an owner is given. True if a run was asked to stop."""
        if self._owner is None or (owner is not None and owner != self._owner):
            return False
        self._stop.set()
        return True

    @property
    def running(self) -> bool:
        return self._owner is not None

    def run(self, recipe: str, flags: dict, *, on_iteration: tp.Callable[[dict], None] | None = None,
            owner: str = "local") -> Run:
        """Run `ditto RECIPE` with `flags` ({long flag without dashes: value}, as a `ditto run` job) into a new
        folder of `runs`; returns the Run (its `error` is the recipe's one-line message when it did not finish).
        """
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; expected one of {', '.join(RECIPES)}")
        flags = {"model": self.model, **{k: v for k, v in flags.items() if v is not None and v != ""}}
        module = importlib.import_module(f"{__package__}.recipes.{recipe}")
        with self._lock:
            name = self.new_name(recipe)
            folder = self.runs / name
            argv = flags_to_argv(flags, module.build_parser()) + [f"--out={folder}", "--quiet"]
            if self.device is not None:
                argv.append(f"--device={self.device}")
            self._stop.clear()
            self._owner = owner
            printed = io.StringIO()
            start = time.perf_counter()
            program, sys.argv[0] = sys.argv[0], f"ditto {recipe}"
            try:
                with watched(self._stop, on_iteration), contextlib.redirect_stdout(_Tee(printed, sys.__stdout__)), \
                        contextlib.redirect_stderr(_Tee(printed, sys.__stderr__)):
                    outcome = _run(module, argv, self.models)
            finally:
                sys.argv[0] = program
                self._owner = None
            seconds = time.perf_counter() - start
            code = outcome.code
            error = outcome.error or (None if code == 0 else f"exit code {code}")
            run = Run(name=name, recipe=recipe, flags=flags, folder=folder, code=code, error=error, seconds=seconds,
                      log=f"$ ditto {recipe} {' '.join(argv)}\n{printed.getvalue()}exit code {code} after "
                          f"{seconds:.1f} s\n")
            if run.written:
                self._record(run)
                self.history.append(run)
        return run

    def _record(self, run: Run) -> None:
        """jobs.jsonl (as `ditto run` writes it: `ditto summarize RUNS` reads it) and logs/NAME.log."""
        jobs = self.runs / JOBS_FILE
        previous = jobs.read_text() if jobs.is_file() else ""
        record = {"name": run.name, "recipe": run.recipe, "flags": run.flags}
        atomic_write(jobs, previous + json.dumps(record) + "\n")
        (self.runs / LOG_DIR).mkdir(parents=True, exist_ok=True)
        atomic_write(self.runs / LOG_DIR / f"{run.name}.log", run.log)

    def find(self, name: str) -> Run | None:
        return next((run for run in self.history if run.name == name), None)

    def zip(self, run: Run) -> Path:
        """The run folder as RUNS/.ui/zips/NAME.zip (made once)."""
        target = self.ui_dir / "zips" / f"{run.name}.zip"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = shutil.make_archive(str(target.with_suffix(".partial")), "zip", root_dir=self.runs,
                                          base_dir=run.name)
            Path(partial).replace(target)
        return target


def _run(module, argv: list[str], models: cli.Models) -> cli.Outcome:
    """A recipe's run; an unexpected exception (a bug, a device error) fails it in one line, the traceback logged."""
    try:
        return module.run(argv, models=models)
    except Exception as error:
        return cli.crashed(error)


def target_curve(recipe: str, *, shape: str, low: float, high: float, curve: str | None,
                 seconds: float) -> tuple[list[float], list[float], str]:
    """(times in s, values, unit) of an intensity or brightness target (a named shape between `low` and `high`,
    or a typed `curve`), for the preview before anything runs; a bad value raises ValueError with the recipe's
    own message."""
    import argparse

    import objectives

    points = None
    if curve not in (None, ""):
        try:
            points = cli.number_list(curve)
        except argparse.ArgumentTypeError as error:
            raise ValueError(f"argument --curve: {error}") from None
    frames = 200
    if recipe == "intensity":
        objective = (objectives.Intensity(points) if points is not None else
                     objectives.Intensity.from_shape(shape, low_db=low, high_db=high))
        values, unit = objectives.interpolate_curve(objective.target_db, frames), "loudness (dB)"
    elif recipe == "brightness":
        objective = (objectives.Brightness(points) if points is not None else
                     objectives.Brightness.from_shape(shape, low_hz=low, high_hz=high))
        values, unit = objectives.interpolate_curve(objective.target_hz, frames), "spectral centroid (Hz)"
    else:
        raise ValueError(f"no target curve to preview for {recipe}")
    times = [seconds * i / (frames - 1) for i in range(frames)]
    return times, [float(v) for v in values], unit


__all__ = ["CONTROLS", "EDITS", "ModelFacts", "Run", "SUMMARY_COLUMNS", "Session", "UI_RECIPES", "model_facts",
           "target_curve", "watched"]
