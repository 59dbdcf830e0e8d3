"""DITTO structure control: give the generated music a musical form such as ABA, ABAB or AABA.

The target is the self-similarity matrix of the form (equal sections unless --boundaries gives the section
starts as fractions of the clip), or the structure of a reference recording (--reference). The loss is the MSE
between the smoothed MFCC self-similarity matrix of the output and the target's (DITTO §4.3).
"""

import sys

import objectives
from ditto import read_audio
from ditto.app import Job, number_list, plot_structure, recipe_parser, run_recipe
from ditto.app.cli import check_settings


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="jazz trio", iterations=150)
    target = parser.add_argument_group("target")
    target.add_argument("--form", default="ABA", help="form string: one letter per section (ABA, ABAB, AABA, ...)")
    target.add_argument("--boundaries", type=number_list, default=None,
                        help="comma-separated section boundaries as fractions of the clip, e.g. 0.25,0.75 for ABA")
    target.add_argument("--reference", default=None, help="audio file whose self-similarity is the target")
    return parser


def target(args):
    """The objective and its description from the flags, without a model; ValueError on a bad target."""
    if args.reference is not None:
        audio, rate = read_audio(args.reference)
        objective, description = objectives.Structure.from_audio(audio, rate), f"structure of {args.reference}"
    else:
        boundaries = args.boundaries
        objective = objectives.Structure(args.form, boundaries=boundaries)
        description = f"form {args.form}" + (f" with boundaries {boundaries}" if boundaries else "")
    return objective, description


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel) and its target, built as the run builds it; ValueError with the run's own message."""
    check_settings(args, model)
    target(args)


def job(args, model, target):
    """The run's Job: the target's objective, its plot panel."""
    objective, description = target
    return Job(objective, description=f"structure: {description}", plot=plot_structure(objective))


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
