"""What every recipe shares: the flags that map one-to-one onto `ditto.optimize`, and running + saving a job."""

from __future__ import annotations

import argparse
import sys
import typing as tp

from . import report
from .loading import load_model
from .optimize import OPTIMIZERS, PAPER_LR, TINY_LR, OptimizationError, optimize

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
    out = parser.add_argument_group("output")
    out.add_argument("--out", default="out/run", help="run directory: result.wav, baseline.wav, report.json, plot.png, x_T.pt")
    out.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_recipe(args: argparse.Namespace, objective: tp.Callable, *, description: str,
               plot: tp.Callable | None = None, extra_report: dict | None = None) -> report.Result:
    """Load the model, optimize, write the run directory; exits with a one-line message on bad input."""
    try:
        out = report.prepare_run_dir(args.out, args.overwrite)
        model = load_model(args.model, device=args.device)
        sample_size = args.sample_size
        iterations = args.iterations
        if iterations is None:
            iterations = min(TINY_ITERATIONS, args.paper_iterations) if model.source == "tiny" else args.paper_iterations
        if args.fit_window:
            if args.seconds is None:
                raise ValueError("--fit-window needs --seconds")
            stride = model.latent_stride
            sample_size = -(-int(round(args.seconds * model.sample_rate)) // stride) * stride
        result = optimize(model, objective, prompt=args.prompt, negative_prompt=args.negative_prompt,
                          seconds_total=args.seconds, sample_size=sample_size, steps=args.steps,
                          sampler=args.sampler, cfg_scale=args.cfg_scale, iterations=iterations, lr=args.lr,
                          seed=args.seed, optimizer=args.optimizer, target_loss=args.target_loss,
                          patience=args.patience, checkpoint=not args.no_checkpoint,
                          chunk_latents=args.chunk_latents, autocast_bf16=args.bf16, progress=not args.quiet)
    except OptimizationError as error:
        report.write_run(out, error.result, objective_description=description, plot=plot,
                         extra={"error": str(error), **(extra_report or {})})
        sys.exit(f"error: {error} (best result so far written to {out})")
    except ValueError as error:
        sys.exit(f"error: {error}")
    paths = report.write_run(out, result, objective_description=description, plot=plot, extra=extra_report)
    print(f"metrics before: {_fmt(result.metrics['before'])}  after: {_fmt(result.metrics['after'])}")
    print(f"{len(result.losses)} iterations in {result.seconds['total']:.1f} s "
          f"({result.seconds['per_iteration'] or 0:.2f} s each); wrote {', '.join(str(p) for p in paths.values())}")
    return result


def _fmt(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


__all__ = ["recipe_parser", "run_recipe"]
