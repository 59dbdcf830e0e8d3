"""DITTO inpainting: regenerate a gap [--start, --end) of a clip or a whole song so that it fits what surrounds it.

One generation window is placed around the gap (the gap plus as much context on both sides as fits), and
everything in it outside the gap is optimized to match the reference (masked MSE on VAE latents, no decoder
backprop). edited.wav is the whole reference, bit for bit outside the gap, with the gap's borders crossfaded;
result.wav is the generated window. Stable Audio Open was not trained for inpainting: this works on it anyway.
Stable Audio 3 was: --method native conditions one generation on the kept audio through its own inpaint inputs
(nothing optimized), --method both does that and optimizes x_T as above (docs/editing.md).
Without --reference, the tiny model's own output (seed 1234) is used, so the recipe runs out of the box.
"""

import sys

from ditto.app import (add_control_flags, control_objective, edit_job, plan_inpaint, recipe_parser,
                       reference_or_demo, run_recipe)
from ditto.app.cli import add_native_methods, check_edit, window
from ditto.editing import check_edit_method


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="solo piano", iterations=70)
    edit = parser.add_argument_group("edit")
    edit.add_argument("--reference", default=None,
                      help="audio file to repair: any length, the gap shorter than the generation window")
    edit.add_argument("--start", type=float, default=1.0, help="gap start in seconds")
    edit.add_argument("--end", type=float, default=2.0, help="gap end in seconds")
    edit.add_argument("--fade", type=float, default=0.05, help="seconds of equal-power crossfade inside each border")
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
    plan = plan_inpaint(model, reference, sample_rate=rate, gap_s=(args.start, args.end),
                        sample_size=sample_size, fade_s=args.fade)
    return edit_job(plan, f"inpaint: gap {args.start}-{args.end} s of {args.reference or 'a tiny-model clip'}",
                    control)


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
