"""Brightness control: make the spectral centroid of the generated music follow a target curve.

The target is a named shape (brighter, darker, swell, dip, pulse) between --low-hz and --high-hz (geometric:
the curve is linear in semitones), explicit centroid values in Hz spread over the clip (--curve 800,3000,800), or
the centroid curve of a reference file (--reference). The loss is the MSE in semitones² between the smoothed
log spectral centroid (librosa's definition) and the target.
"""

import sys

import objectives
from ditto import read_audio
from ditto.app import Job, number_list, plot_brightness, recipe_parser, run_recipe
from ditto.app.cli import check_settings


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="ambient pad", iterations=70)
    target = parser.add_argument_group("target")
    target.add_argument("--shape", default="brighter", choices=objectives.BRIGHTNESS_SHAPES,
                        help="named brightness shape")
    target.add_argument("--low-hz", type=float, default=500.0, help="darkest point of the shape (centroid in Hz)")
    target.add_argument("--high-hz", type=float, default=4000.0, help="brightest point of the shape (centroid in Hz)")
    target.add_argument("--curve", type=number_list, default=None,
                        help="comma-separated centroid values in Hz spread over the clip, e.g. 800,3000,800 "
                             "(overrides --shape)")
    target.add_argument("--reference", default=None, help="audio file whose centroid curve is the target")
    return parser


def target(args):
    """The objective and its description from the flags, without a model; ValueError on a bad target."""
    if args.reference is not None:
        audio, rate = read_audio(args.reference)
        objective, description = objectives.Brightness.from_audio(audio, rate), f"centroid of {args.reference}"
    elif args.curve is not None:
        objective, description = objectives.Brightness(args.curve), f"curve {args.curve} Hz"
    else:
        objective = objectives.Brightness.from_shape(args.shape, low_hz=args.low_hz, high_hz=args.high_hz)
        description = f"{args.shape} from {args.low_hz:g} to {args.high_hz:g} Hz"
    return objective, description


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel) and its target, built as the run builds it; ValueError with the run's own message."""
    check_settings(args, model)
    target(args)


def job(args, model, target):
    """The run's Job: the target's objective, its plot panel."""
    objective, description = target
    return Job(objective, description=f"brightness: {description}", plot=plot_brightness(objective))


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
