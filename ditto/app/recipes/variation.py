"""Variations of a clip (audio-to-audio), optionally steered by DITTO control objectives.

The sampler starts from the VAE encoding of --init-audio noised to --init-noise-level (1 = almost ignore it,
small = stay close), as stable-audio-tools' init audio does. Without control flags this is plain variation (no
optimization); with --intensity-shape, --melody-notes or --form, x_T is optimized for them as in the control
recipes. Without --init-audio, the tiny model's own output (seed 1234) is varied, so the recipe runs out of the box.
"""

import sys

import ditto
from ditto import read_audio
from ditto.app import (Job, add_control_flags, control_objective, plot_waveforms, recipe_parser,
                       reference_or_demo, run_recipe)
from ditto.app.cli import check_settings, window


def build_parser():
    """This recipe's flags (also what an experiment file's job may set)."""
    parser = recipe_parser(__doc__, prompt="solo piano", iterations=70)
    var = parser.add_argument_group("variation")
    var.add_argument("--init-audio", default=None, help="audio file to vary (any rate/channels)")
    var.add_argument("--init-noise-level", type=float, default=0.6,
                     help="noise level the init audio is sampled from (sigma for v models, t for flows)")
    add_control_flags(parser, intensity_weight=1.0)
    return parser


def check(args, model):
    """What `ditto run` checks of a job before any job runs (no weights): its settings against `model` (a
    ConfigModel), its control targets, and that its --init-audio file reads (the edit plan itself needs the weights)."""
    check_settings(args, model)
    control_objective(args)
    if args.init_audio is not None:
        read_audio(args.init_audio)


def target(args):
    """The control objective (None without control flags: plain variation); ValueError on a bad one."""
    return control_objective(args)


def job(args, model, control):
    """The Job: the init audio (--init-audio or the model's own clip), steered by the control objective if any."""
    init, rate = reference_or_demo(args.init_audio, args, model, window(args, model))
    if rate is None:
        init, rate = read_audio(init)
    if control is None:  # plain variation: render only
        args.iterations = 0
        control = lambda audio, sample_rate: audio.new_zeros(audio.shape[0])  # noqa: E731
    init_at_model_rate = ditto.audio.load_for_model(init, rate, target_rate=model.sample_rate,
                                                    channels=model.channels)[0]
    return Job(control, description=f"variation of {args.init_audio or 'a tiny-model clip'} at noise level "
               f"{args.init_noise_level}", plot=plot_waveforms(init_at_model_rate), init_audio=(rate, init),
               init_noise_level=args.init_noise_level)


def run(argv, models=None):
    """This recipe with the command line `argv` (its flags, as --help lists them); how it ended, an Outcome.
    `models(source, device=...)` loads the model (a cache when many runs share it)."""
    return run_recipe(build_parser, target, job, argv, models=models)


def main(argv=None):
    raise SystemExit(run(sys.argv[1:] if argv is None else argv).code)
