"""DITTO extension: continue a clip (or a generated opening) to --seconds of any length, window by window.

Each new generation window overlaps the piece so far by --overlap seconds and is optimized to reproduce that
overlap (masked MSE on VAE latents, no decoder backprop), then crossfaded on; the next window continues from
there. A control such as --intensity-shape spans the whole piece and is cut to each window's span in time.
edited.wav is exactly --seconds long; report.json lists every join with its seam measure before and after, and
every window's optimization, and metrics for the whole piece (each window's averaged, the worst seam). Memory is
that of one window; time and the saved state (state.pt, for --resume) grow linearly with the number of windows.
--method picks how each window is steered: ditto (optimize x_T, the paper), guidance (--guidance-scale) or best-of-n
(--candidates seeds per window, or --time-budget seconds per window); on an inpainting model (Stable Audio 3) also
native (one generation conditioned on the overlap through the model's own inpaint inputs) or both (that and ditto).
Without --reference, the tiny model's own output (seed 1234, one window) is the opening.
"""

import sys

from ditto.app import add_control_flags, control_objective, recipe_parser, reference_or_demo, run_recipe
from ditto.app.cli import add_native_methods, window
from ditto.app.editing import MAX_WINDOWS, ExtendJob
from ditto.editing import check_edit_method


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="solo piano", iterations=70, save_every=False,
                           seconds_help="length of the extended piece (edited.wav) in seconds, any length past the "
                                        "reference's",
                           resume_help="continue the interrupted or killed chain in --out from its last complete "
                                       "window (same flags)")
    edit = parser.add_argument_group("edit")
    edit.add_argument("--reference", default=None,
                      help="audio file to continue (WAV, FLAC, OGG, MP3; any rate/channels)")
    edit.add_argument("--overlap", type=float, default=1.0,
                      help="seconds each window overlaps the piece so far (the paper: 1, 2 or 3), rounded to whole "
                           "latent frames")
    edit.add_argument("--max-windows", type=int, default=MAX_WINDOWS,
                      help="refuse a --seconds that needs more windows than this (each window is a full generation)")
    add_control_flags(parser)
    add_native_methods(parser)
    return parser


def target(args):
    """The control objective spanning the piece (None without control flags); ValueError on a bad flag."""
    if args.fit_window:
        raise ValueError("--fit-window does not apply to extend (--seconds is the whole piece's length; the window "
                         "is --sample-size); valid: the other flags of --help")
    if args.max_windows < 1:
        raise ValueError(f"--max-windows {args.max_windows} is invalid; expected an integer >= 1")
    return control_objective(args)


def job(args, model, control):
    """The chain: the opening (--reference, or the model's own clip) continued window by window."""
    check_edit_method(model, args.method)  # native / both: refused right after the model loads
    reference, rate = reference_or_demo(args.reference, args, model, window(args, model))
    description = (f"extend: {args.reference or 'a tiny-model clip'} to {args.seconds} s, "
                   f"{args.overlap} s overlap per window")
    return ExtendJob(reference, rate, control, description)


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
