"""Plain text-to-audio generation with ditto's differentiable sampler (identical to stable-audio-tools).

Writes OUT/result.wav and OUT/report.json (the settings, no metrics: nothing is optimized). Runs on the embedded tiny model by default; pass
--model stabilityai/stable-audio-open-1.0 on a GPU for the real model.
"""

import sys
import time

import ditto
from ditto.app import RecipeParser, run_recipe
from ditto.app.cli import HelpFormatter, device_name, ended
from ditto.app.report import write_json
from ditto.config import SamplerConfig
from ditto.generation import check_prompt, resolve_length
from ditto.sampling import RF_SAMPLERS, V_SAMPLERS


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = RecipeParser(description=__doc__, formatter_class=HelpFormatter, exit_on_error=False)
    parser.add_argument("--model", default="tiny", help="'tiny', a directory with model_config.json + "
                        "model.safetensors, or a hub repo id")
    parser.add_argument("--device", type=device_name, default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--prompt", default="solo piano", help="text prompt")
    parser.add_argument("--seconds", type=float, default=None, help="seconds_total (default: the model's window)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's own, else 100)")
    parser.add_argument("--sampler", default=None, choices=V_SAMPLERS + RF_SAMPLERS,
                        help="sampler (default: the model's own, else dpmpp-3m-sde for v models, pingpong for flows)")
    parser.add_argument("--cfg-scale", type=float, default=None,
                        help="classifier-free guidance scale (default: the model's own, else 7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of x_T (-1: random)")
    parser.add_argument("--out", default="out/generate", help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out once the new one is done")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): the prompt against `model`'s (a
    ConfigModel's) prompt list, --seconds against its window, the sampler and steps; ValueError as generate's."""
    check_prompt(model, "prompt", args.prompt)
    resolve_length(model, None, 0.0, args.seconds)
    defaults = model.defaults
    sampler = args.sampler or defaults.sampler or ("dpmpp-3m-sde" if model.diffusion_objective == "v" else "pingpong")
    SamplerConfig(sampler=sampler, steps=defaults.steps or 100 if args.steps is None else args.steps,
                  cfg_scale=(7.0 if defaults.cfg_scale is None else defaults.cfg_scale) if args.cfg_scale is None
                  else args.cfg_scale).validate(model)


def target(args):
    """Nothing to build: generation has no objective (its settings are checked by `ditto.generate`)."""
    return None


class Generation:
    """The generate recipe's job: one `ditto.generate` call, written as result.wav and report.json."""

    def run(self, args, model, folder):
        start = time.perf_counter()
        audio = ditto.generate(model, args.prompt, seconds_total=args.seconds, steps=args.steps,
                               sampler=args.sampler, cfg_scale=args.cfg_scale, seed=args.seed,
                               cut_to_seconds_total=args.seconds is not None, progress=not args.quiet)
        seconds = time.perf_counter() - start
        ditto.write_audio(folder.staging / "result.wav", audio[0], model.sample_rate, overwrite=True)
        settings = {**vars(args), "device": str(model.device), "sample_rate": model.sample_rate}
        write_json(folder.staging / "report.json", {
            "objective": None, "method": "none", "settings": settings, "metrics": {}, "stop_reason": "done",
            "seconds": {"total": seconds}, "sample_rate": model.sample_rate,
            "audio_seconds": audio.shape[-1] / model.sample_rate})
        out = folder.publish()
        print(f"wrote {out / 'result.wav'} ({audio.shape[-1] / model.sample_rate:.2f} s) in {seconds:.1f} s")
        return ended(0, paths=[out / "result.wav", out / "report.json"])


def job(args, model, target):
    """The run's job: the one generation."""
    return Generation()


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
