"""DITTO continuation (outpainting): extend a clip past its end, or past the model's window.

The first --overlap seconds of the generation are optimized to reproduce the last --overlap seconds of the
reference (masked MSE on VAE latents, no decoder backprop); edited.wav is reference + continuation joined by an
equal-power crossfade over the overlap. recipes/extend.py chains windows to reach any length. On Stable Audio 3,
--method native conditions the generation on the overlap through the model's own inpaint inputs, --method both
does that and optimizes x_T too. Without
--reference, the tiny model's own output (seed 1234) is continued, so the recipe runs out of the box.
"""

from ditto.app import (add_control_flags, control_objective, edit_job, plan_outpaint, recipe_parser,
                       reference_or_demo, run_recipe)
from ditto.app.cli import add_native_methods, check_edit
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


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    def build(model, sample_size):
        check_edit_method(model, args.method)  # native / both: refused right after the model loads
        control = control_objective(args)
        reference, rate = reference_or_demo(args.reference, args, model, sample_size)
        plan = plan_outpaint(model, reference, sample_rate=rate, overlap_s=args.overlap, sample_size=sample_size)
        return edit_job(plan, f"outpaint: continue {args.reference or 'a tiny-model clip'} "
                              f"with {args.overlap} s overlap", control)

    run_recipe(args, build)

