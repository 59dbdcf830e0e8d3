"""What every recipe shares: the flags that map one-to-one onto `ditto.optimize`, and running + saving a job."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import re
import signal
import sys
import threading
import traceback
import typing as tp
from pathlib import Path

import objectives
import torch

from . import plots, report
from .runs import RunFolder, RunFolderError
from ..audio import read_audio, write_audio
from ..generation import generate
from ..loading import load_model
from ..loading import PAPER_LR
from ..loading import Model, ModelDefaults, config_objective, read_config
from ..generation import check_prompt, check_window, resolve_length
from ..config import OPTIMIZERS, SamplerConfig, SpeedConfig, field_names, model_sampling
from ..editing import EDIT_METHODS, NATIVE_METHODS, check_edit_method, steer
from ..methods import (GUIDANCE_SCALE, METHODS, START_OPTIONS, GuidanceConfig, best_of_n, check_guidable, check_search,
                       guide)
from ..optimize import OptimizationError, Result, _configs, optimize

SAO_HINT = """Defaults run the embedded tiny model on the CPU in under a minute. For the real model on a GPU:
  --model stabilityai/stable-audio-open-1.0
(then the paper's settings apply: Adam lr 5e-3, 20 DDIM steps, CFG 7, 70/150 iterations, 47.5 s window)."""


EXIT_BAD_INPUT = 2  # a bad flag, file or folder: nothing was written
EXIT_FAILED = 1  # the run itself failed (non-finite loss, a write error); the message says what was kept
EXIT_INTERRUPTED = 130  # SIGINT / SIGTERM: the best result so far was written, --resume continues


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag; the description printed as written (no re-wrapping of model ids).

    A flag whose help already says its default, or whose default is None (chosen later, e.g. by the model), gets
    no second "(default: ...)"."""

    def _get_help_string(self, action):
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


HelpFormatter = _HelpFormatter  # for parsers built elsewhere (generate, ditto run)


class RecipeParser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) and values that start with a minus sign (--curve -40,-10,-30).

    With `exit_on_error=False` (every recipe's parser) a bad flag or --help raises `RecipeExit` instead of exiting:
    the recipe's `run` returns it as an Outcome."""

    _NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)

    def error(self, message: str) -> tp.NoReturn:
        if not self.exit_on_error:  # a recipe's parser: run() turns it into an Outcome
            raise RecipeExit(EXIT_BAD_INPUT, f"{message} (see --help)")
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see --help)\n")

    def exit(self, status: int = 0, message: str | None = None) -> tp.NoReturn:
        if not self.exit_on_error:  # after --help: nothing more to run
            raise RecipeExit(status, message)
        super().exit(status, message)

    def parse_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        takes_value = {option for action in self._actions if action.nargs is None and action.option_strings
                       for option in action.option_strings}
        joined = []
        for token in args:  # "--curve", "-40,-10" -> "--curve=-40,-10": argparse would read -40,... as a flag
            if joined and joined[-1] in takes_value and self._NEGATIVE_VALUE.match(token):
                joined[-1] = f"{joined[-1]}={token}"
            else:
                joined.append(token)
        try:
            return super().parse_args(joined, namespace)
        except argparse.ArgumentError as error:  # exit_on_error=False: argparse raises these instead of error()
            self.error(str(error))


def number_list(text: str) -> list[float]:
    """argparse type: comma-separated finite numbers ("0.25,0.75"); the error names the item that is not one."""
    values = []
    for item in (part.strip() for part in text.split(",")):
        try:
            value = float(item)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{item!r} in {text!r} is not a finite number; expected comma-separated "
                                             f"numbers such as 0.25,0.75")
        values.append(value)
    return values


STATUSES = {0: "done", EXIT_BAD_INPUT: "refused", EXIT_INTERRUPTED: "stopped"}  # any other code: "failed"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a recipe run ended: "done" (0), "refused" (2: bad input, nothing written), "failed" (1) or "stopped"
    (130: interrupted, the best so far written); the one-line error (None when done) and the paths written."""

    status: str
    code: int
    error: str | None = None
    paths: tuple[Path, ...] = ()


def ended(code: int, message: str | None = None, paths: tp.Iterable[Path] = ()) -> Outcome:
    """The Outcome for `code`; its message printed as the run's last line, `error: message`, to stderr."""
    if message:
        print(f"error: {message}", file=sys.stderr, flush=True)
    return Outcome(STATUSES.get(code, "failed"), code, message or None, tuple(paths))


def crashed(error: Exception) -> Outcome:
    """An unexpected exception (a bug, a device error such as CUDA out of memory) as a failed Outcome, for a caller
    that runs many recipes (`ditto run`, the UI): the traceback printed, then one line."""
    traceback.print_exception(error)
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ended(EXIT_FAILED, f"{type(error).__name__}: {first}")


class RecipeExit(Exception):
    """Ends a recipe run early with an exit code and a one-line message (`fail`, a recipe parser's error or
    --help); `run_recipe` turns it into the run's Outcome."""

    def __init__(self, code: int, message: str | None = None):
        super().__init__(message)
        self.code, self.message = code, message.strip() if message else None

    def outcome(self) -> Outcome:
        return ended(self.code, self.message)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> tp.NoReturn:
    """End the recipe run with one `error: message` line and exit code `code`."""
    raise RecipeExit(code, message)


class StopOnSignal:
    """While active, the first SIGINT or SIGTERM only asks the optimization to stop after its current iteration
    (`requested`); a second SIGINT aborts at once (KeyboardInterrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: stopping after this iteration (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)



def recipe_parser(doc: str, *, prompt: str, iterations: int, save_every: bool = True, seconds_help: str | None = None,
                  resume_help: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with the flags shared by all recipes (defaults shown in --help); `save_every=False` for
    a recipe that saves its state at its own points (extend: after each window), without --save-every.
    `seconds_help`: --seconds is required and means this (extend: the whole piece's length); `resume_help`: what
    --resume continues, if not the optimization."""
    parser = RecipeParser(description=f"{doc}\n{SAO_HINT}", formatter_class=_HelpFormatter, exit_on_error=False)
    model = parser.add_argument_group("model and sampling")
    model.add_argument("--model", default="tiny",
                       help="'tiny', a directory with model_config.json + model.safetensors, or a hub repo id")
    model.add_argument("--device", type=device_name, default=None,
                       help="torch device (default: cuda if available, else cpu)")
    model.add_argument("--prompt", default=prompt, help="text prompt")
    model.add_argument("--negative-prompt", default=None, help="negative prompt for CFG")
    model.add_argument("--seconds", type=float, default=None, required=seconds_help is not None,
                       help=seconds_help or "seconds_total: the timing condition and the span the loss sees "
                                            "(default: the window)")
    model.add_argument("--sample-size", type=int, default=None,
                       help="generation window in samples, a multiple of the latent stride (default: the model's); "
                            "smaller is proportionally cheaper")
    model.add_argument("--fit-window", action="store_true",
                       help="set --sample-size to the smallest window holding --seconds")
    model.add_argument("--steps", type=int, default=None,
                       help="sampler steps (default: the model's own, e.g. 8 for SAO Small, else the paper's 20)")
    model.add_argument("--sampler", default=None,
                       help="sampler (default: v-ddim for v models, euler for flows: deterministic, as in the paper)")
    model.add_argument("--cfg-scale", type=float, default=None,
                       help="classifier-free guidance scale (default: the model's own, e.g. 1 for SAO Small, else 7)")
    model.add_argument("--apg-scale", type=float, default=None,
                       help="APG blend of the guidance, stable-audio-tools 0.0.20 only: 0 plain CFG, 1 full APG "
                            "(default: the installed stable-audio-tools' own: 1 on 0.0.20, 0 on 0.0.19)")
    model.add_argument("--seed", type=int, default=0, help="seed of the initial x_T (the baseline uses it too)")
    opt = parser.add_argument_group("optimization")
    opt.add_argument("--iterations", type=int, default=None,
                     help=f"optimizer iterations (default: the paper's {iterations}, capped by the model's own "
                          f"max_iterations: 60 for the tiny model)")
    parser.set_defaults(paper_iterations=iterations)
    opt.add_argument("--lr", type=float, default=None,
                     help=f"learning rate (default: the model's own, 0.3 for the tiny model; the paper's {PAPER_LR} "
                          f"otherwise)")
    opt.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="optimizer")
    opt.add_argument("--target-loss", type=float, default=None, help="stop once the loss reaches this value")
    opt.add_argument("--patience", type=int, default=None, help="stop after this many iterations without a new best")
    opt.add_argument("--optimize-noise", action=argparse.BooleanOptionalAction, default=None,
                     help="optimize a stochastic sampler's per-step injected noises beside x_T (default: yes for "
                          "stochastic samplers, which x_T alone barely steers)")
    opt.add_argument("--no-checkpoint", action="store_true",
                     help="keep every sampler step's activations (faster, memory grows with --steps)")
    opt.add_argument("--chunk-latents", type=int, default=None,
                     help="decode in overlapping chunks of this many latents (less decoder memory)")
    opt.add_argument("--bf16", action="store_true", help="run the DiT under bf16 autocast")
    opt.add_argument("--decoder-bf16", action="store_true", help="decode with a bf16 copy of the VAE decoder")
    opt.add_argument("--keep-steps", type=kept_steps, default=(None, None), metavar="K|GB",
                     help="sampler steps that keep their activations instead of being recomputed: a count (3), or "
                          "a budget (40GB) that keeps as many as fit (default: none; memory flat in steps)")
    opt.add_argument("--surrogate-steps", type=int, default=None,
                     help="optimize through a chain of this many steps, render the result with --steps")
    _add_method_flags(parser)
    _add_output_flags(parser, save_every, resume_help)
    return parser


def _add_method_flags(parser: argparse.ArgumentParser) -> None:
    method = parser.add_argument_group("control method (to compare DITTO with others on the same target)")
    method.add_argument("--method", default="ditto", choices=METHODS,
                        help="ditto: optimize x_T (the paper); guidance: steer each sampler step by the objective's "
                             "gradient (DPS / FreeDoM); best-of-n: render --candidates seeds, keep the best")
    method.add_argument("--guidance-scale", type=float, default=GUIDANCE_SCALE,
                        help="--method guidance: step size, normalised by sqrt(loss) as in DPS")
    method.add_argument("--candidates", type=int, default=None,
                        help="--method best-of-n: seeds to render (default: 8, or as many as --time-budget allows)")
    method.add_argument("--time-budget", type=float, default=None,
                        help="seconds: --method ditto stops iterating, best-of-n stops rendering seeds once this much "
                             "time has passed (extend: per window)")


def add_native_methods(parser: argparse.ArgumentParser) -> None:
    """An editing recipe's --method also takes "native" and "both" (an inpainting model's own conditioning)."""
    for action in parser._actions:
        if "--method" in action.option_strings:
            action.choices = EDIT_METHODS
            action.help += ("; native (inpainting models such as Stable Audio 3): one generation conditioned on "
                            "the kept audio, nothing optimized; both: native conditioning and DITTO's x_T "
                            "optimization")


def check_method_flags(args: argparse.Namespace, chain: bool = False) -> None:
    """The --method flags that need no model, named as flags; ValueError on a bad one (before any model loads).
    `chain`: the recipe saves its own state (extend's chain), so --resume goes with every method."""
    budget = getattr(args, "time_budget", None)
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise ValueError(f"--time-budget {budget!r} is invalid; expected a finite number of seconds > 0")
    if args.method == "native":
        if args.resume and not chain:
            raise ValueError("--resume continues a DITTO, both or best-of-n run; --method native renders once and "
                             "keeps no state: rerun without --resume")
        if budget is not None:
            raise ValueError("--time-budget applies to --method ditto, both and best-of-n; native renders once")
    if args.method == "guidance":
        GuidanceConfig(scale=args.guidance_scale).check()
        if getattr(args, "sampler", None) is not None:
            check_guidable(args.sampler)
        if args.resume and not chain:
            raise ValueError("--resume continues a DITTO or best-of-n run; --method guidance keeps no state: rerun "
                             "without --resume")
        if budget is not None:
            raise ValueError("--time-budget applies to --method ditto and best-of-n; guidance runs its --steps once")
    if args.method == "best-of-n":
        check_search(search_candidates(args), budget)


def search_candidates(args: argparse.Namespace) -> int | None:
    """--candidates, else 8, or no count when --time-budget bounds the search."""
    if args.candidates is not None or getattr(args, "time_budget", None) is not None:
        return args.candidates
    return 8


def _add_output_flags(parser: argparse.ArgumentParser, save_every: bool, resume_help: str | None) -> None:
    out = parser.add_argument_group("output")
    out.add_argument("--out", default="out/run", help="run directory: result.wav, baseline.wav, report.json, plot.png, x_T.pt")
    out.add_argument("--overwrite", action="store_true",
                     help="replace the run already in --out (only once the new one is complete)")
    out.add_argument("--resume", action="store_true", help=resume_help or "continue the interrupted, killed or "
                     "finished run in --out (same flags; --iterations may grow)")
    if save_every:
        out.add_argument("--save-every", type=int, default=10,
                         help="save the optimization state every this many iterations (for --resume)")
    out.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclasses.dataclass
class Job:
    """What a recipe asks `ditto.optimize` (or the --method chosen) for, and what it adds to the run directory."""

    objective: tp.Callable  # audio, latent or joint objective
    description: str  # one line for report.json
    plot: tp.Callable | None = None  # draws the feature panel of plot.png: plot(figure, cell, result)
    report: tp.Callable[[Result], dict] | None = None  # extra report.json entries, from the result
    finish: tp.Callable[[Result, Path], list[Path]] | None = None  # writes extra files (e.g. the stitched edit)
    init_audio: tp.Any = None  # audio-to-audio start: (sample_rate, tensor) or a path
    init_noise_level: float = 1.0
    whole_window: bool = False  # the loss and the files cover the whole generation window (edits)
    plan: tp.Any = None  # the edit's EditPlan (edits): what --method native / both condition on

    def run(self, args: argparse.Namespace, model, folder: RunFolder) -> Outcome:
        """Run --method on the job (the first SIGINT / SIGTERM stops it after the current iteration), write its
        files into `folder`'s staging folder and publish it."""
        with StopOnSignal() as stop:
            try:
                result = _run_method(args, model, self, folder, stop)
            except OptimizationError as error:
                paths = _publish(folder, error.result, self, {"error": str(error)})
                return ended(EXIT_FAILED, f"{error} (best result so far written to {folder.out})", paths)
            paths = _publish(folder, result, self, {})
        print(f"metrics before: {_fmt(result.metrics['before'])}  after: {_fmt(result.metrics['after'])}")
        print(f"{len(result.losses)} iterations in {result.seconds['total']:.1f} s "
              f"({result.seconds['per_iteration'] or 0:.2f} s each); wrote {', '.join(str(p) for p in paths)}")
        if result.warning:
            print(f"warning: {result.warning}", file=sys.stderr)
        if result.stop_reason == "interrupted":
            return ended(EXIT_INTERRUPTED, interrupted_message(result, folder.out), paths)
        return ended(0, paths=paths)


Models = tp.Callable[..., Model]  # models(source, device=...) -> Model: load_model, or a cache of it


def window_for(args: argparse.Namespace, model) -> int | None:
    """--sample-size, or with --fit-window the smallest window (a multiple of the latent stride) holding --seconds."""
    if not args.fit_window:
        return args.sample_size
    if args.seconds is None:
        raise ValueError("--fit-window needs --seconds")
    stride = model.latent_stride
    return -(-int(round(args.seconds * model.sample_rate)) // stride) * stride


def window(args: argparse.Namespace, model) -> int:
    """The generation window in samples: `window_for`, else the model's own."""
    return window_for(args, model) or model.sample_size


def run_recipe(build_parser: tp.Callable[[], argparse.ArgumentParser], target: tp.Callable, job: tp.Callable,
               argv: list[str], *, models: Models | None = None) -> Outcome:
    """One run of a recipe with the command line `argv`: parse it with `build_parser()`, build `target(args)` from
    the flags alone (a ValueError refuses the run before any model loads), check --out, load the model, then run
    `job(args, model, target)` (a Job, or anything with its `run`) and publish the run folder whole. Every ending
    is an Outcome (its error line printed): 0 done, 2 bad input (nothing written), 1 the run failed, 130
    interrupted (the best so far written).

    `models(source, device=...)` loads the model (default `load_model`); a caller running many recipes passes one
    cache (e.g. `functools.cache(load_model)`) so that each model loads once."""
    try:
        args = build_parser().parse_args([str(token) for token in argv])
        goal = target(args)
        if hasattr(args, "method"):  # a recipe saving its own chain (extend) resumes with every method
            check_method_flags(args, chain=not hasattr(args, "save_every"))
        folder = RunFolder(args.out, overwrite=args.overwrite, resume=getattr(args, "resume", False)).check()
    except RecipeExit as exit_:
        return exit_.outcome()
    except ValueError as error:  # RunFolderError is one
        return ended(EXIT_BAD_INPUT, str(error))
    try:
        with failing_cleanly(folder):
            model = (models or load_model)(args.model, device=args.device)
            return job(args, model, goal).run(args, model, folder)
    except RecipeExit as exit_:
        return exit_.outcome()


def interrupted_message(result: Result, out: Path) -> str:
    """The last line of an interrupted run: how far it got, where the best so far is, how to continue."""
    method = result.settings.get("method", "ditto")
    if method == "guidance":
        return (f"interrupted after {len(result.losses)} guided steps; the unguided baseline is in {out} (guidance "
                f"keeps no state: rerun with --overwrite)")
    if method == "best-of-n":
        of = "" if result.settings.get("n") is None else f" of {result.settings['n']}"
        return (f"interrupted after {len(result.losses)}{of} candidates; the best so far is in {out}; continue with "
                f"the same command and --resume")
    return (f"interrupted after {len(result.losses)} of {result.settings['iterations']} iterations; the best result "
            f"so far is in {out}; continue with the same command and --resume")


@contextlib.contextmanager
def failing_cleanly(folder: RunFolder) -> tp.Iterator[None]:
    """Whatever goes wrong inside becomes one `error:` line and an exit code (bad input 2, a write error 1,
    a second Ctrl-C 130), and what the run wrote is discarded except its saved state, kept for --resume."""
    try:
        yield
    except ValueError as error:
        folder.discard()
        fail(str(error))
    except OSError as error:
        folder.discard()
        fail(f"{_describe(error)}{_kept(folder)}", EXIT_FAILED)
    except KeyboardInterrupt:
        folder.discard()
        fail(f"aborted{_kept(folder)}", EXIT_INTERRUPTED)
    except BaseException:
        folder.discard()  # after a publish there is nothing left to discard
        raise


METHOD_ARGUMENTS = (  # what guide and best_of_n share with optimize: the start but init audio (best_of_n's own), the
    # chain, and how it renders (not what only a descent through the chain needs)
    "prompt", "seed", *(name for name in START_OPTIONS if "init" not in name), *field_names(SamplerConfig),
    *(field.name for field in dataclasses.fields(SpeedConfig) if not field.metadata.get("descent_only")))


def _run_method(args: argparse.Namespace, model, job: Job, folder: RunFolder, stop: StopOnSignal) -> Result:
    """The job by --method: DITTO (resumable), training-free guidance, best-of-N, or for an edit on an inpainting
    model its native conditioning (alone, or with DITTO: `ditto.editing.steer`), on the same arguments."""
    arguments = _optimize_arguments(args, model, job)
    resume = folder.saved_state() if args.resume else None
    saved = dict(progress=not args.quiet, state_path=folder.state_path, save_every=args.save_every, resume=resume,
                 should_stop=lambda: stop.requested)
    if args.method == "ditto":
        return optimize(model, job.objective, **arguments, **saved)
    if args.method in NATIVE_METHODS:
        return steer(model, job.plan, job.objective, method=args.method, **arguments, **saved)
    shared = {name: value for name, value in arguments.items() if name in METHOD_ARGUMENTS}
    if args.method == "guidance":
        if job.init_audio is not None:
            raise ValueError("--method guidance starts from noise; this recipe starts from init audio: use "
                             "--method ditto or best-of-n")
        return guide(model, job.objective, scale=args.guidance_scale, progress=not args.quiet,
                     should_stop=lambda: stop.requested, **shared)
    return best_of_n(model, job.objective, n=search_candidates(args), time_budget_s=arguments["time_budget_s"],
                     progress=not args.quiet, init_audio=job.init_audio, init_noise_level=job.init_noise_level,
                     should_stop=lambda: stop.requested, state_path=folder.state_path, resume=resume, **shared)


def _optimize_arguments(args: argparse.Namespace, model, job: Job) -> dict:
    """The flags as `ditto.optimize` keyword arguments, with the per-model iteration default."""
    sample_size = window_for(args, model)
    iterations = args.iterations
    if iterations is None:
        iterations = min(args.paper_iterations, model.defaults.max_iterations or args.paper_iterations)
    seconds_total = args.seconds
    if job.whole_window:
        seconds_total = (sample_size or model.sample_size) / model.sample_rate
    return dict(prompt=args.prompt, negative_prompt=args.negative_prompt, seconds_total=seconds_total,
                sample_size=sample_size, steps=args.steps, sampler=args.sampler, cfg_scale=args.cfg_scale,
                apg_scale=args.apg_scale, iterations=iterations, lr=args.lr, seed=args.seed, optimizer=args.optimizer,
                optimize_noise=args.optimize_noise,
                target_loss=args.target_loss, patience=args.patience, checkpoint=not args.no_checkpoint,
                chunk_latents=args.chunk_latents, autocast_bf16=args.bf16, decoder_bf16=args.decoder_bf16,
                keep_steps=args.keep_steps[0], memory_budget_gb=args.keep_steps[1],
                surrogate_steps=args.surrogate_steps, init_audio=job.init_audio,
                init_noise_level=job.init_noise_level, time_budget_s=getattr(args, "time_budget", None))


def _publish(folder: RunFolder, result: Result, job: Job, extra: dict) -> list[Path]:
    """Write the run's files into the staging folder and rename it to --out; the paths as they are in --out."""
    try:
        extra = {**extra, **(job.report(result) if job.report is not None else {})}
        paths = list(report.write_run(folder.staging, result, objective_description=job.description, plot=job.plot,
                                      extra=extra).values())
        if job.finish is not None:
            paths += job.finish(result, folder.staging)
        folder.publish()
    except OSError as error:
        folder.discard()
        fail(f"{_describe(error)}{_kept(folder)}", EXIT_FAILED)
    return [folder.out / path.name for path in paths]


def _describe(error: OSError) -> str:
    """An OSError as one line naming the path: "cannot write '/x/report.json': No space left on device"."""
    where = f" {error.filename!r}" if error.filename else ""
    return f"cannot write{where}: {error.strerror or error}"


def _kept(folder: RunFolder) -> str:
    if folder.state_path.is_file():
        return f"; the optimization state is kept in {str(folder.staging)!r}: rerun the same command with --resume"
    return "; nothing was written"


def add_control_flags(parser: argparse.ArgumentParser, *, intensity_weight: float = 1 / 40) -> None:
    """Optional control objectives, combined by weight with an edit (the paper: intensity at 1/40 with outpainting)."""
    control = parser.add_argument_group("control objectives to combine (optional)")
    control.add_argument("--intensity-shape", default=None, choices=objectives.SHAPES, help="loudness shape target")
    control.add_argument("--low-db", type=float, default=-40.0, help="quietest point of the loudness shape (dB)")
    control.add_argument("--high-db", type=float, default=-10.0, help="loudest point of the loudness shape (dB)")
    control.add_argument("--intensity-weight", type=float, default=intensity_weight, help="weight of the intensity loss")
    control.add_argument("--melody-notes", default=None, help="note list target, e.g. 'C5:0.5 E5:0.5'")
    control.add_argument("--melody-weight", type=float, default=1.0, help="weight of the melody loss")
    control.add_argument("--form", default=None, help="structure target, e.g. ABA")
    control.add_argument("--structure-weight", type=float, default=1 / 40, help="weight of the structure loss")


def control_objective(args: argparse.Namespace):
    """The weighted sum of the control flags given (None if none); raises ValueError on a bad target."""
    terms = []
    if args.intensity_shape is not None:
        terms.append(args.intensity_weight * objectives.Intensity.from_shape(args.intensity_shape, low_db=args.low_db,
                                                                             high_db=args.high_db))
    if args.melody_notes is not None:
        terms.append(args.melody_weight * objectives.Melody.from_notes(args.melody_notes))
    if args.form is not None:
        terms.append(args.structure_weight * objectives.Structure(args.form))
    return sum(terms[1:], terms[0]) if terms else None


def reference_or_demo(path: str | None, args: argparse.Namespace, model, sample_size: int):
    """(reference, its sample rate or None): the user's file, or a clip the model makes itself (seed 1234)."""
    if path is not None:
        return path, None
    chain = model_sampling(model, "optimize", steps=args.steps, cfg_scale=args.cfg_scale)
    clip = generate(model, args.prompt, sample_size=sample_size, steps=chain.steps, sampler=chain.sampler,
                    cfg_scale=chain.cfg_scale, seed=1234)
    return clip[0].cpu(), model.sample_rate


def edit_job(plan, description: str, control=None) -> Job:
    """A Job for an `EditPlan`: its latent loss (+ control terms), the stitched edit as edited.wav, seams reported."""
    def seams_report(result: Result) -> dict:
        """The regions and the seams before / after, the seams also among the metrics (the experiment tables')."""
        seams = {"before": plan.seams(result.baseline_audio[0]), "after": plan.seams(result.audio[0])}
        metrics = {**result.metrics, **{when: {**result.metrics.get(when, {}), **seams[when]} for when in seams}}
        return {"edit": plan.kind, "regions": plan.regions, "seams": seams, "metrics": metrics,
                "metric_info": report.metric_declarations(metrics)}

    def finish(result: Result, out: Path) -> list[Path]:
        edited = write_audio(out / "edited.wav", plan.stitch(result.audio[0]), result.sample_rate, overwrite=True)
        baseline = write_audio(out / "baseline_edited.wav", plan.stitch(result.baseline_audio[0]), result.sample_rate,
                               overwrite=True)
        return [edited, baseline]

    objective = plan.objective if control is None else plan.objective + control
    return Job(objective, description=description, plot=plots.plot_edit(plan), report=seams_report, finish=finish,
               whole_window=True, plan=plan)


def kept_steps(text: str) -> tuple[int | None, float | None]:
    """argparse type of --keep-steps: (count, None) for "3", (None, budget in GB) for "40GB"."""
    value = text.strip()
    with contextlib.suppress(ValueError):  # not a number: the error below
        if value.upper().endswith("GB"):
            budget = float(value[:-2])
            if math.isfinite(budget) and budget >= 0:
                return None, budget
        elif int(value) >= 0:
            return int(value), None
    raise argparse.ArgumentTypeError(f"{text!r} is not a step count or a memory budget; expected an integer >= 0 "
                                     f"(3) or a number of GB (40GB)")


def available_devices() -> list[str]:
    """The torch devices this machine can run on: cpu, and cuda, cuda:N (and mps) where present."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def device_name(text: str) -> str:
    """argparse type of --device: a torch device this machine has, checked before any model loads or file is
    written; the error names the value and the devices that are valid here."""
    valid = available_devices()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        device = None
    if device is None or text.strip() != text or (device.type if device.index is None else f"{device}") not in valid:
        why = "is not a torch device" if device is None else "is not available on this machine"
        raise argparse.ArgumentTypeError(f"{text!r} {why}; valid here: {', '.join(valid)}")
    return text


class ConfigModel:
    """A model's facts read from its model_config.json alone, without its weights: enough for `check_settings`
    (prompt list, window, sample rate, latent stride, sampler family, the model's own defaults)."""

    sample_rate, sample_size, channels = Model.sample_rate, Model.sample_size, Model.channels

    def __init__(self, source: str):
        self.source, self.config = source, read_config(source)

    @property
    def latent_stride(self) -> int:
        model = self.config.get("model", {})
        ratio = model.get("pretransform", {}).get("config", {}).get("downsampling_ratio", 1)
        return int(ratio) * int(model.get("diffusion", {}).get("config", {}).get("patch_size", 1))

    @property
    def diffusion_objective(self) -> str:
        return config_objective(self.config)

    @property
    def defaults(self) -> ModelDefaults:
        return ModelDefaults.from_config(self.config, self.source)


def check_edit(args: argparse.Namespace, model) -> None:
    """What `ditto run` checks of an editing job before any job runs (no weights): its settings against `model` (a
    ConfigModel), its control targets, and that its --reference file reads (the edit plan itself needs the weights)."""
    check_settings(args, model, whole_window=True)
    check_edit_method(model, args.method)  # native / both: the model's config has inpaint conditioning
    control_objective(args)
    if args.reference is not None:
        read_audio(args.reference)


def check_settings(args: argparse.Namespace, model, *, whole_window: bool = False) -> None:
    """A recipe's settings checked as `ditto.optimize` checks them (the same ValueError), before any work: the
    prompt against the model's prompt list, --seconds against the window, the sampler, lr, steps... `model` may be
    a `ConfigModel`: `ditto run` checks every job this way before any runs."""
    arguments = _optimize_arguments(args, model, Job(objective=None, description="", whole_window=whole_window))
    check_prompt(model, "prompt", arguments.pop("prompt"))
    negative = arguments.pop("negative_prompt")
    if negative is not None:
        check_prompt(model, "negative_prompt", negative)
    sample_size, seconds_total = resolve_length(model, arguments.pop("sample_size"), 0.0,
                                                arguments.pop("seconds_total"))
    check_window(model, sample_size, seconds_total)
    for name in ("seed", "init_audio", "init_noise_level"):
        arguments.pop(name)
    given = {name: arguments.pop(name) for name in ("sampler", "steps", "cfg_scale", "iterations", "lr")}
    sampling, _, speed, _ = _configs(model, dict(given, sampling=None, optimization=None, speed=None), arguments)
    sampling.validate(model)
    speed.validate()
    check_method_flags(args, chain=not hasattr(args, "save_every"))


def _fmt(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


__all__ = ["ConfigModel", "EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "Job", "Models", "Outcome", "RecipeExit",
           "RecipeParser", "StopOnSignal", "add_control_flags", "available_devices", "check_settings",
           "control_objective", "crashed", "device_name", "edit_job", "ended", "fail", "failing_cleanly",
           "number_list", "recipe_parser", "reference_or_demo", "run_recipe", "window", "window_for"]
