"""DITTO continuation (outpainting): extend a clip past its end, or past the model's window.

The first --overlap seconds of the generation are optimized to reproduce the last --overlap seconds of the
reference (masked MSE on VAE latents, no decoder backprop); edited.wav is reference + continuation joined by an
equal-power crossfade over the overlap. recipes/extend.py chains windows to reach any length. On Stable Audio 3,
--method native conditions the generation on the overlap through the model's own inpaint inputs, --method both
does that and optimizes x_T too. Without
--reference, the tiny model's own output (seed 1234) is continued, so the recipe runs out of the box.
"""

import sys

from ditto.app import (add_control_flags, control_objective, edit_job, plan_outpaint, recipe_parser,
                       reference_or_demo, run_recipe)
from ditto.app.cli import add_native_methods, check_edit, window
from ditto.editing import check_edit_method


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="solo piano", iterations=70)
    edit = parser.add_argument_group("edit")
    edit.add_argument("--reference", default=None, help="audio file to continue (WAV, FLAC, OGG, MP3; any rate/channels)")
    edit.add_argument("--overlap", type=float, default=1.0, help="seconds of overlap (the paper: 1, 2 or 3)")
    add_control_flags(parser)
    add_native_methods(parser)
    return parser


check = check_edit  # settings, control targets and --reference checked without weights


def target(args):
    """The control objective to combine with the edit (None without control flags); ValueError on a bad one."""
    return control_objective(args)


def job(args, model, control):
    """The edit plan, from --reference (or the model's own clip) and the model's window."""
    check_edit_method(model, args.method)  # native / both: refused right after the model loads
    sample_size = window(args, model)
    reference, rate = reference_or_demo(args.reference, args, model, sample_size)
    plan = plan_outpaint(model, reference, sample_rate=rate, overlap_s=args.overlap, sample_size=sample_size)
    return edit_job(plan, f"outpaint: continue {args.reference or 'a tiny-model clip'} "
                          f"with {args.overlap} s overlap", control)


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
