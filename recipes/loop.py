"""DITTO seamless loops: make the generation (or a clip of yours) loop without an audible seam.

Reference-free (default): the output's last --overlap seconds are optimized to match its own first --overlap
seconds (the paper: 0.5 s), on VAE latents. With --reference, the output reproduces your clip and ends on its
opening (optionally with --bridge seconds left free for the transition). edited.wav is the loop: the first
(length - overlap) seconds, its opening crossfaded from the closing overlap; play it on repeat.
"""

from ditto.app import add_control_flags, control_objective, edit_job, plan_loop, recipe_parser, run_recipe


def main(argv=None):
    parser = recipe_parser(__doc__, prompt="ambient pad", iterations=70)
    edit = parser.add_argument_group("edit")
    edit.add_argument("--reference", default=None, help="audio file to turn into a loop (default: reference-free)")
    edit.add_argument("--overlap", type=float, default=0.5, help="seconds the end must match the start")
    edit.add_argument("--bridge", type=float, default=0.0,
                      help="with --reference: seconds before the closing overlap left free for the transition")
    add_control_flags(parser)
    args = parser.parse_args(argv)

    def build(model, sample_size):
        plan = plan_loop(model, args.reference, overlap_s=args.overlap, sample_size=sample_size,
                                 bridge_s=args.bridge)
        kind = f"loop of {args.reference}" if args.reference else "reference-free loop"
        return edit_job(plan, f"{kind}, {args.overlap} s overlap", control_objective(args))

    run_recipe(args, build)


if __name__ == "__main__":
    main()
