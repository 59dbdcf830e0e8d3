"""What every recipe shares: the flags that map one-to-one onto `ditto.optimize`, and running + saving a job."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing as tp
from pathlib import Path

import objectives

from . import report
from .audio import write_audio
from .generation import generate
from .loading import load_model
from .optimize import OPTIMIZERS, PAPER_LR, TINY_LR, OptimizationError, Result, optimize

SAO_HINT = """Defaults run the embedded tiny model on the CPU in under a minute. For the real model on a GPU:
  --model stabilityai/stable-audio-open-1.0
(then the paper's settings apply: Adam lr 5e-3, 20 DDIM steps, CFG 7, 70/150 iterations, 47.5 s window)."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag; the description printed as written (no re-wrapping of model ids)."""


TINY_ITERATIONS = 60  # keeps every recipe's default run on the tiny model under a minute on 2 cores


def recipe_parser(doc: str, *, prompt: str, iterations: int) -> argparse.ArgumentParser:
    """An argparse parser with the flags shared by all recipes (defaults shown in --help)."""
    parser = argparse.ArgumentParser(description=f"{doc}\n{SAO_HINT}", formatter_class=_HelpFormatter)
    model = parser.add_argument_group("model and sampling")
    model.add_argument("--model", default="tiny",
                       help="'tiny', a directory with model_config.json + model.safetensors, or a hub repo id")
    model.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    model.add_argument("--prompt", default=prompt, help="text prompt")
    model.add_argument("--negative-prompt", default=None, help="negative prompt for CFG")
    model.add_argument("--seconds", type=float, default=None,
                       help="seconds_total: the timing condition and the span the loss sees (default: the window)")
    model.add_argument("--sample-size", type=int, default=None,
                       help="generation window in samples, a multiple of the latent stride (default: the model's); "
                            "smaller is proportionally cheaper")
    model.add_argument("--fit-window", action="store_true",
                       help="set --sample-size to the smallest window holding --seconds")
    model.add_argument("--steps", type=int, default=20, help="sampler steps (the paper: 20)")
    model.add_argument("--sampler", default=None,
                       help="sampler (default: v-ddim for v models, euler for flows: deterministic, as in the paper)")
    model.add_argument("--cfg-scale", type=float, default=7.0, help="classifier-free guidance scale")
    model.add_argument("--seed", type=int, default=0, help="seed of the initial x_T (the baseline uses it too)")
    opt = parser.add_argument_group("optimization")
    opt.add_argument("--iterations", type=int, default=None,
                     help=f"optimizer iterations (default: the paper's {iterations}; {TINY_ITERATIONS} for the tiny model)")
    parser.set_defaults(paper_iterations=iterations)
    opt.add_argument("--lr", type=float, default=None,
                     help=f"learning rate (default: {TINY_LR} for the tiny model, the paper's {PAPER_LR} otherwise)")
    opt.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="optimizer")
    opt.add_argument("--target-loss", type=float, default=None, help="stop once the loss reaches this value")
    opt.add_argument("--patience", type=int, default=None, help="stop after this many iterations without a new best")
    opt.add_argument("--no-checkpoint", action="store_true",
                     help="keep every sampler step's activations (faster, memory grows with --steps)")
    opt.add_argument("--chunk-latents", type=int, default=None,
                     help="decode in overlapping chunks of this many latents (less decoder memory)")
    opt.add_argument("--bf16", action="store_true", help="run the DiT under bf16 autocast")
    opt.add_argument("--decoder-bf16", action="store_true", help="decode with a bf16 copy of the VAE decoder")
    opt.add_argument("--keep-steps", type=int, default=None,
                     help="sampler steps that keep their activations instead of being recomputed")
    opt.add_argument("--memory-budget-gb", type=float, default=None,
                     help="keep as many steps' activations as fit in this many GB (ignored with --keep-steps)")
    opt.add_argument("--surrogate-steps", type=int, default=None,
                     help="optimize through a chain of this many steps, render the result with --steps")
    out = parser.add_argument_group("output")
    out.add_argument("--out", default="out/run", help="run directory: result.wav, baseline.wav, report.json, plot.png, x_T.pt")
    out.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


@dataclasses.dataclass
class Job:
    """What a recipe asks `ditto.optimize` for, and what it adds to the run directory."""

    objective: tp.Callable  # audio, latent or joint objective
    description: str  # one line for report.json
    plot: tp.Callable | None = None  # draws the feature panel of plot.png: plot(figure, cell, result)
    report: tp.Callable[[Result], dict] | None = None  # extra report.json entries, from the result
    finish: tp.Callable[[Result, Path], list[Path]] | None = None  # writes extra files (e.g. the stitched edit)
    init_audio: tp.Any = None  # audio-to-audio start: (sample_rate, tensor) or a path
    init_noise_level: float = 1.0
    whole_window: bool = False  # the loss and the files cover the whole generation window (edits)


def window_for(args: argparse.Namespace, model) -> int | None:
    """--sample-size, or with --fit-window the smallest window (a multiple of the latent stride) holding --seconds."""
    if not args.fit_window:
        return args.sample_size
    if args.seconds is None:
        raise ValueError("--fit-window needs --seconds")
    stride = model.latent_stride
    return -(-int(round(args.seconds * model.sample_rate)) // stride) * stride


def run_recipe(args: argparse.Namespace, job: Job | tp.Callable[..., Job]) -> Result:
    """Load the model, optimize, write the run directory; exits with a one-line message on bad input.

    `job` is a Job, or `build(model, sample_size) -> Job` for jobs that need the model (editing references).
    """
    out = None
    try:
        out = report.prepare_run_dir(args.out, args.overwrite)
        model = load_model(args.model, device=args.device)
        sample_size = window_for(args, model)
        if not isinstance(job, Job):
            job = job(model, sample_size if sample_size is not None else model.sample_size)
        iterations = args.iterations
        if iterations is None:
            iterations = min(TINY_ITERATIONS, args.paper_iterations) if model.source == "tiny" else args.paper_iterations
        seconds_total = args.seconds
        if job.whole_window:
            seconds_total = (sample_size or model.sample_size) / model.sample_rate
        result = optimize(model, job.objective, prompt=args.prompt, negative_prompt=args.negative_prompt,
                          seconds_total=seconds_total, sample_size=sample_size, steps=args.steps,
                          sampler=args.sampler, cfg_scale=args.cfg_scale, iterations=iterations, lr=args.lr,
                          seed=args.seed, optimizer=args.optimizer, target_loss=args.target_loss,
                          patience=args.patience, checkpoint=not args.no_checkpoint,
                          chunk_latents=args.chunk_latents, autocast_bf16=args.bf16, decoder_bf16=args.decoder_bf16,
                          keep_steps=args.keep_steps, memory_budget_gb=args.memory_budget_gb,
                          surrogate_steps=args.surrogate_steps, init_audio=job.init_audio,
                          init_noise_level=job.init_noise_level, progress=not args.quiet)
    except OptimizationError as error:
        _write(out, error.result, job, {"error": str(error)})
        sys.exit(f"error: {error} (best result so far written to {out})")
    except ValueError as error:
        sys.exit(f"error: {error}")
    paths = _write(out, result, job, {})
    print(f"metrics before: {_fmt(result.metrics['before'])}  after: {_fmt(result.metrics['after'])}")
    print(f"{len(result.losses)} iterations in {result.seconds['total']:.1f} s "
          f"({result.seconds['per_iteration'] or 0:.2f} s each); wrote {', '.join(str(p) for p in paths)}")
    return result


def _write(out: Path, result: Result, job: Job, extra: dict) -> list[Path]:
    extra = {**extra, **(job.report(result) if job.report is not None else {})}
    paths = list(report.write_run(out, result, objective_description=job.description, plot=job.plot,
                                  extra=extra).values())
    if job.finish is not None:
        paths += job.finish(result, out)
    return paths


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
    clip = generate(model, args.prompt, sample_size=sample_size, steps=args.steps, sampler="v-ddim", seed=1234)
    return clip[0].cpu(), model.sample_rate


def edit_job(plan, description: str, control=None) -> Job:
    """A Job for an `EditPlan`: its latent loss (+ control terms), the stitched edit as edited.wav, seams reported."""
    def seams_report(result: Result) -> dict:
        return {"edit": plan.kind, "regions": plan.regions,
                "seams": {"before": plan.seams(result.baseline_audio[0]), "after": plan.seams(result.audio[0])}}

    def finish(result: Result, out: Path) -> list[Path]:
        edited = write_audio(out / "edited.wav", plan.stitch(result.audio[0]), result.sample_rate, overwrite=True)
        baseline = write_audio(out / "baseline_edited.wav", plan.stitch(result.baseline_audio[0]), result.sample_rate,
                               overwrite=True)
        return [edited, baseline]

    objective = plan.objective if control is None else plan.objective + control
    return Job(objective, description=description, plot=report.plot_edit(plan), report=seams_report, finish=finish,
               whole_window=True)


def _fmt(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


__all__ = ["Job", "add_control_flags", "control_objective", "edit_job", "recipe_parser", "reference_or_demo",
           "run_recipe", "window_for"]
