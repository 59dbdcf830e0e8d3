"""DITTO melody control: make the top pitch class of the generated music follow a target melody.

The target is a note list (--notes "C4:0.5 E4:0.5 r:0.25 G4:1": name+octave or MIDI number, colon, seconds;
r is a rest), a MIDI file (--midi: the top sounding note per frame), or the melody of a reference recording
(--reference: argmax of its high-passed chroma). The loss is the NLL of the target pitch class under the
log-softmax of the high-passed chromagram, over frames that have a melody note (DITTO §4.2).
"""

import sys

import objectives
from ditto import read_audio
from ditto.app import Job, plot_melody, recipe_parser, run_recipe
from ditto.app.cli import check_settings


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="solo piano", iterations=150)
    target = parser.add_argument_group("target (one of)")
    target.add_argument("--notes", default="C5:0.25 E5:0.25 G5:0.25 C6:0.25",
                        help="note list: NAME_OR_MIDI:SECONDS separated by spaces, r:SECONDS for a rest")
    target.add_argument("--midi", default=None, help="MIDI file; its top note per frame is the target")
    target.add_argument("--reference", default=None, help="audio file whose melody (chroma argmax) is the target")
    return parser


def target(args):
    """The objective and its description from the flags, without a model; ValueError on a bad target."""
    if args.reference is not None:
        audio, rate = read_audio(args.reference)
        objective, description = objectives.Melody.from_audio(audio, rate), f"melody of {args.reference}"
    elif args.midi is not None:
        objective, description = objectives.Melody.from_midi(args.midi), f"top notes of {args.midi}"
    else:
        objective, description = objectives.Melody.from_notes(args.notes), f"notes {args.notes!r}"
    return objective, description


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel) and its target, built as the run builds it; ValueError with the run's own message."""
    check_settings(args, model)
    target(args)


def job(args, model, target):
    """The run's Job: the target's objective, its plot panel."""
    objective, description = target
    return Job(objective, description=f"melody: {description}", plot=plot_melody(objective))


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
