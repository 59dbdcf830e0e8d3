"""Rhythm control: make the onsets of the generated music fall on a target grid or pattern.

The target is a tempo and meter (--bpm 120 --beats-per-bar 4 --subdivision 2: downbeats accented), explicit
onset times in seconds (--onsets 0.1,0.35,0.6), the note starts of a MIDI file, drums included (--midi), or the
onsets detected in a reference recording (--reference). The loss is 1 - the correlation between the onset-strength
envelope (librosa's spectral flux on a log-mel spectrogram) and Gaussian pulses at the target onsets; the metric
is the onset F-measure within ±50 ms (mir_eval).
"""

import sys

import objectives
from ditto import read_audio
from ditto.app import Job, number_list, plot_rhythm, recipe_parser, run_recipe
from ditto.app.cli import check_settings


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="techno drums", iterations=70)
    target = parser.add_argument_group("target (one of)")
    target.add_argument("--bpm", type=float, default=120.0, help="tempo of the onset grid, beats per minute")
    target.add_argument("--beats-per-bar", type=int, default=4, help="meter: beats per bar (the first is accented)")
    target.add_argument("--subdivision", type=int, default=1, help="onsets per beat (2: eighth notes in 4/4)")
    target.add_argument("--offset", type=float, default=0.0, help="seconds before the first onset of the grid")
    target.add_argument("--onsets", type=number_list, default=None,
                        help="comma-separated onset times in seconds, e.g. 0.1,0.35,0.6 (overrides --bpm)")
    target.add_argument("--midi", default=None, help="MIDI file; the starts of its notes (drums too) are the target")
    target.add_argument("--reference", default=None, help="audio file whose detected onsets are the target")
    return parser


def target(args):
    """The objective and its description from the flags, without a model; ValueError on a bad target."""
    if args.reference is not None:
        audio, rate = read_audio(args.reference)
        objective, description = objectives.Rhythm.from_audio(audio, rate), f"onsets of {args.reference}"
    elif args.midi is not None:
        objective, description = objectives.Rhythm.from_midi(args.midi), f"note starts of {args.midi}"
    elif args.onsets is not None:
        objective, description = objectives.Rhythm(args.onsets), f"onsets {args.onsets} s"
    else:
        objective = objectives.Rhythm.from_tempo(args.bpm, beats_per_bar=args.beats_per_bar,
                                                 subdivision=args.subdivision, offset_s=args.offset)
        description = f"{args.bpm:g} bpm, {args.beats_per_bar} beats per bar, {args.subdivision} per beat"
    return objective, description


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel) and its target, built as the run builds it; ValueError with the run's own message."""
    check_settings(args, model)
    target(args)


def job(args, model, target):
    """The run's Job: the target's objective, its plot panel."""
    objective, description = target
    return Job(objective, description=f"rhythm: {description}", plot=plot_rhythm(objective))


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
