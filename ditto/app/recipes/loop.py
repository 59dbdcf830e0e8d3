"""DITTO seamless loops: make the generation, a clip of yours, or any section of a song loop without an audible seam.

Reference-free (default): the output's last --overlap seconds are optimized to match its own first --overlap
seconds (the paper: 0.5 s), on VAE latents. With --reference, the output reproduces your clip, or the section
[--start, --end) of a reference of any length, and ends on its opening (optionally with --bridge seconds left
free for the transition). edited.wav is the loop: the first (length - overlap) seconds, its opening crossfaded
from the closing overlap; play it on repeat. With --reference on Stable Audio 3, --method native conditions the
generation on the clip (and its opening at its end) through the model's own inpaint inputs, --method both does
that and optimizes x_T too.
"""

import sys

from ditto.app import add_control_flags, control_objective, edit_job, plan_loop, recipe_parser, run_recipe
from ditto.app.cli import add_native_methods, check_edit, window
from ditto.editing import check_edit_method


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="ambient pad", iterations=70)
    edit = parser.add_argument_group("edit")
    edit.add_argument("--reference", default=None, help="audio file to turn into a loop (default: reference-free)")
    edit.add_argument("--start", type=float, default=None,
                      help="with --reference: start of the section to loop, in seconds (with --end)")
    edit.add_argument("--end", type=float, default=None,
                      help="with --reference: end of the section to loop, in seconds; at most one window after --start")
    edit.add_argument("--overlap", type=float, default=0.5, help="seconds the end must match the start")
    edit.add_argument("--bridge", type=float, default=0.0,
                      help="with --reference: seconds before the closing overlap left free for the transition")
    add_control_flags(parser)
    add_native_methods(parser)
    return parser


def section(args):
    """(start, end) of the section to loop, or None for all of it; ValueError unless both or neither are given."""
    if (args.start is None) != (args.end is None):
        raise ValueError(f"--start {args.start} and --end {args.end}: give both to loop a section, or neither")
    return None if args.start is None else (args.start, args.end)


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel), its control targets, and that its --reference file reads (the edit plan itself needs the weights)."""
    section(args)
    check_edit(args, model)


def target(args):
    """(the section to loop or None, the control objective or None); ValueError on a bad one."""
    return section(args), control_objective(args)


def job(args, model, target):
    """The loop plan, from --reference (or none) and the model's window."""
    check_edit_method(model, args.method)  # native / both: refused right after the model loads
    section_s, control = target
    plan = plan_loop(model, args.reference, overlap_s=args.overlap, sample_size=window(args, model),
                     bridge_s=args.bridge, section_s=section_s)
    kind = f"loop of {args.reference}" if args.reference else "reference-free loop"
    where = "" if section_s is None else f" ({args.start}-{args.end} s)"
    return edit_job(plan, f"{kind}{where}, {args.overlap} s overlap", control)


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
