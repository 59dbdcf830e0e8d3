"""The settings objects: which chain (SamplerConfig), the descent (OptimizerConfig), how it executes (SpeedConfig)."""

import dataclasses

import pytest
import torch

import ditto
import objectives
from ditto.config import OptimizerConfig, SamplerConfig, SpeedConfig

CONFIGS = (SamplerConfig, OptimizerConfig, SpeedConfig)


def test_field_names_are_unique_across_the_configs():
    names = [field.name for config in CONFIGS for field in dataclasses.fields(config)]
    assert len(names) == len(set(names)), sorted({name for name in names if names.count(name) > 1})


def test_sampler_config_holds_only_the_chain():
    assert not {"checkpoint", "keep_steps", "autocast_bf16"} & {f.name for f in dataclasses.fields(SamplerConfig)}


def test_a_sampler_config_spread_into_optimize_keeps_per_step_checkpointing(tiny):
    """The README's pattern: `optimize(..., **asdict(SamplerConfig(...)))` once turned checkpointing off silently."""
    sampling = SamplerConfig(sampler="v-ddim", steps=4, cfg_scale=7.0)
    result = ditto.optimize(tiny, objectives.Intensity([-30.0, -10.0]), prompt="solo piano", seconds_total=0.5,
                            sample_size=11 * 2048, iterations=1, progress=False, **dataclasses.asdict(sampling))
    assert result.settings["checkpoint"] is True and result.settings["steps"] == 4


def test_plain_speed_checkpoints_nothing_and_takes_changes():
    assert SpeedConfig.plain() == SpeedConfig(checkpoint=False, decoder_checkpoint=False)
    assert SpeedConfig.plain(checkpoint=True).checkpoint is True


def test_generate_runs_the_same_chain_checkpointed_or_not(tiny):
    kwargs = dict(seconds_total=0.5, sample_size=11 * 2048, steps=3, sampler="v-ddim", seed=4)
    assert torch.equal(ditto.generate(tiny, "solo piano", **kwargs),
                       ditto.generate(tiny, "solo piano", checkpoint=True, keep_steps=1, **kwargs))


def test_optimize_takes_config_objects_as_well_as_flat_keywords(tiny):
    objective = objectives.Intensity([-30.0, -10.0])
    common = dict(prompt="solo piano", seconds_total=0.5, sample_size=11 * 2048, progress=False)
    flat = ditto.optimize(tiny, objective, steps=3, iterations=2, lr=0.1, checkpoint=False, **common)
    objects = ditto.optimize(tiny, objective, sampling=SamplerConfig(steps=3),
                             optimization=OptimizerConfig(iterations=2, lr=0.1),
                             speed=SpeedConfig(checkpoint=False), **common)
    assert flat.losses == objects.losses and flat.settings == objects.settings
    assert objects.settings["sampler"] == "v-ddim" and objects.settings["cfg_scale"] == 7.0  # the paper's defaults


@pytest.mark.parametrize("kwargs,named", [
    (dict(sampling=SamplerConfig(steps=3), steps=4), "sampling= and also steps"),
    (dict(optimization=OptimizerConfig(iterations=2), lr=0.1), "optimization= and also iterations, lr"),
    (dict(speed=SpeedConfig(), keep_steps=1), "speed= and also keep_steps"),
    (dict(speed=dict(checkpoint=False)), "expected a SpeedConfig"),
])
def test_a_setting_given_twice_is_a_type_error(tiny, kwargs, named):
    with pytest.raises(TypeError, match=named):
        ditto.optimize(tiny, objectives.Intensity([-30.0, -10.0]), prompt="solo piano", iterations=1, **kwargs)


def test_one_place_resolves_a_models_defaults(tiny, tiny_small):
    from ditto.config import model_sampling

    assert model_sampling(tiny, "generate") == SamplerConfig(sampler="dpmpp-3m-sde", steps=100, cfg_scale=7.0)
    assert model_sampling(tiny, "optimize") == SamplerConfig(sampler="v-ddim", steps=20, cfg_scale=7.0)
    small = model_sampling(tiny_small, "optimize")  # SAO Small's own: pingpong, 8 steps, CFG 1
    assert (small.sampler, small.steps, small.cfg_scale) == ("pingpong", 8, 1.0)
    assert model_sampling(tiny, "optimize", SamplerConfig(steps=5), cfg_scale=3.0).steps == 5
    with pytest.raises(ValueError, match="purpose 'train'"):
        model_sampling(tiny, "train")


def test_sgd_lowers_the_loss_and_adamw_is_gone(tiny):
    """SGD with momentum is the one alternative to the paper's Adam ("adamw" with no weight decay was Adam)."""
    result = ditto.optimize(tiny, objectives.Intensity([-35.0, -10.0]), prompt="solo piano", seconds_total=0.5,
                            sample_size=11 * 2048, steps=3, iterations=6, lr=2.0, optimizer="sgd", progress=False)
    assert min(result.losses) < 0.9 * result.losses[0]
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; valid: adam, sgd"):
        OptimizerConfig(optimizer="adamw").validate()


@pytest.mark.parametrize("text,parsed", [("3", (3, None)), ("0", (0, None)), ("40GB", (None, 40.0)),
                                         ("0.5gb", (None, 0.5))])
def test_keep_steps_is_one_flag_for_a_count_or_a_budget(text, parsed):
    from ditto.app.cli import recipe_parser

    assert recipe_parser("test", prompt="solo piano", iterations=70).parse_args(["--keep-steps", text]).keep_steps == parsed


@pytest.mark.parametrize("text", ["-1", "lots", "infGB", "-2GB"])
def test_a_bad_keep_steps_names_the_value(text):
    from ditto.app.cli import RecipeExit, recipe_parser

    with pytest.raises(RecipeExit) as exit_info:  # a recipe's run() makes it an Outcome: exit 2 and this line
        recipe_parser("test", prompt="solo piano", iterations=70).parse_args(["--keep-steps", text])
    assert exit_info.value.code == 2 and f"{text!r} is not a step count or a memory budget" in exit_info.value.message


@pytest.mark.parametrize("method", ["guide", "best_of_n"])
def test_guide_and_best_of_n_take_config_objects_too(tiny, method):
    common = dict(prompt="solo piano", seconds_total=0.5, sample_size=11 * 2048, progress=False)
    extra = dict(scale=10.0) if method == "guide" else dict(n=2)
    run = getattr(ditto, method)
    target = objectives.Intensity([-30.0, -10.0])
    flat = run(tiny, target, steps=3, cfg_scale=3.0, decoder_bf16=False, **extra, **common)
    objects = run(tiny, target, sampling=SamplerConfig(steps=3, cfg_scale=3.0), speed=SpeedConfig(), **extra,
                  **common)
    assert flat.losses == objects.losses and flat.settings == objects.settings
    with pytest.raises(TypeError, match="sampling= and also steps"):
        run(tiny, target, sampling=SamplerConfig(), steps=3, **extra, **common)
