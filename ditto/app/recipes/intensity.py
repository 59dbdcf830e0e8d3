"""DITTO intensity control: make the loudness curve of the generated music follow a target.

The target is a named shape (crescendo, decrescendo, swell, fade-in, fade-out, pulse) between --low-db and
--high-db, explicit dB values spread over the clip (--curve "-40,-10,-30"), or the loudness of a reference
file (--reference). The loss is the MSE in dB² between the smoothed frame loudness and the target (DITTO §4.1).
"""

import sys

import objectives
from ditto import read_audio
from ditto.app import Job, number_list, plot_intensity, recipe_parser, run_recipe
from ditto.app.cli import check_settings


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="ambient pad", iterations=70)
    target = parser.add_argument_group("target")
    target.add_argument("--shape", default="crescendo", choices=objectives.SHAPES, help="named loudness shape")
    target.add_argument("--low-db", type=float, default=-40.0, help="quietest point of the shape (dB)")
    target.add_argument("--high-db", type=float, default=-10.0, help="loudest point of the shape (dB)")
    target.add_argument("--curve", type=number_list, default=None,
                        help="comma-separated dB values spread over the clip, e.g. -40,-10,-30 (overrides --shape)")
    target.add_argument("--reference", default=None, help="audio file whose loudness curve is the target")
    return parser


def target(args):
    """The objective and its description from the flags, without a model; ValueError on a bad target."""
    if args.reference is not None:
        audio, rate = read_audio(args.reference)
        objective, description = objectives.Intensity.from_audio(audio, rate), f"loudness of {args.reference}"
    elif args.curve is not None:
        objective, description = objectives.Intensity(args.curve), f"curve {args.curve} dB"
    else:
        objective = objectives.Intensity.from_shape(args.shape, low_db=args.low_db, high_db=args.high_db)
        description = f"{args.shape} from {args.low_db} to {args.high_db} dB"
    return objective, description


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel) and its target, built as the run builds it; ValueError with the run's own message."""
    check_settings(args, model)
    target(args)


def job(args, model, target):
    """The run's Job: the target's objective, its plot panel."""
    objective, description = target
    return Job(objective, description=f"intensity: {description}", plot=plot_intensity(objective))


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
