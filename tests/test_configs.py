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
