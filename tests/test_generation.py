"""ditto.generate equals stable-audio-tools' generate_diffusion_cond bit for bit (0.0.19 or 0.0.20, whichever is
installed; on 0.0.20 CFG is APG-blended, `apg_scale` 1 by default), and rejects bad arguments by name."""

import pytest
import torch

import ditto
from ditto import sat as sat_adapter
from helpers import assert_same_audio, sine

# 4 latent frames: fast on 2 cores. sigma_min/max and cfg_scale are always passed: SAT's function defaults
# (0.01, 100, cfg 6) are not the SAO model card's (0.3, 500, cfg 7), which ditto uses.
SHORT = dict(sample_size=8192, seconds_total=1.0, steps=6, sigma_min=0.3, sigma_max=500.0, cfg_scale=7.0)
V_SAMPLERS = ["dpmpp-2m", "k-heun", "k-lms", "k-dpm-2", "k-dpm-fast", "v-ddim", "dpmpp-2m-sde",
              "dpmpp-3m-sde", "k-dpmpp-2s-ancestral"]


def sat_generate(model, prompt="solo piano", **kwargs):
    """The reference: SAT's own generate_diffusion_cond, called as its UI does."""
    return sat_adapter.reference_generate(model, prompt, **kwargs)


@pytest.mark.parametrize("sampler", V_SAMPLERS)
def test_generate_equals_sat_for_every_v_sampler(tiny, sampler):
    kwargs = dict(SHORT, sampler=sampler, seed=11, rho=1.0)
    assert_same_audio(ditto.generate(tiny, "solo piano", **kwargs), sat_generate(tiny, **kwargs))


@pytest.mark.parametrize("sampler", ["euler", "rk4", "dpmpp", "pingpong"])
@pytest.mark.parametrize("apg_scale", [None, 0.0])
def test_generate_equals_sat_for_every_flow_sampler(tiny_rf, sampler, apg_scale):
    kwargs = dict(SHORT, sampler=sampler, seed=5, apg_scale=apg_scale)
    assert_same_audio(ditto.generate(tiny_rf, "solo piano", **kwargs), sat_generate(tiny_rf, **kwargs))


@pytest.mark.parametrize("cfg", [
    dict(cfg_scale=1.0),
    dict(cfg_scale=3.5, negative_prompt="techno drums"),
    dict(cfg_scale=9.0, cfg_interval=(0.5, 1.0)),
    dict(cfg_scale=7.0, scale_phi=0.7),
    dict(cfg_scale=7.0, seconds_start=2.0, batch_size=2),
    dict(cfg_scale=7.0, apg_scale=0.0),  # plain CFG: 0.0.19's only guidance, 0.0.20's apg_scale=0
    pytest.param(dict(cfg_scale=7.0, apg_scale=0.5, negative_prompt="techno drums"),
                 marks=pytest.mark.skipif(not sat_adapter.SAT_0_0_20, reason="APG is SAT 0.0.20's")),
])
def test_generate_equals_sat_across_guidance_settings(tiny, cfg):
    kwargs = dict(SHORT, sampler="dpmpp-2m", seed=2)
    kwargs.update(cfg)
    assert_same_audio(ditto.generate(tiny, "jazz trio", **kwargs), sat_generate(tiny, "jazz trio", **kwargs))


@pytest.mark.parametrize("sampler,rate,channels", [("dpmpp-3m-sde", 22050, 1), ("v-ddim", 44100, 2),
                                                   ("k-heun", 48000, 2)])
def test_generate_equals_sat_with_init_audio(tiny, sampler, rate, channels):
    init = sine(330.0, duration_s=0.15, sample_rate=rate, amplitude=0.3, channels=channels)  # zero-padded to the window
    kwargs = dict(SHORT, sampler=sampler, seed=4, init_noise_level=0.8)
    ours = ditto.generate(tiny, "solo piano", init_audio=(rate, init), **kwargs)
    assert_same_audio(ours, sat_generate(tiny, init_audio=(rate, init), **kwargs))


def test_flow_init_audio_matches_sat(tiny_rf):
    init = torch.randn(2, 9000) * 0.1
    kwargs = dict(SHORT, sampler="euler", seed=8, init_noise_level=0.6)
    assert_same_audio(ditto.generate(tiny_rf, "orchestral", init_audio=(44100, init), **kwargs),
                      sat_generate(tiny_rf, "orchestral", init_audio=(44100, init), **kwargs))


def test_given_x_T_reproduces_the_seeded_draw(tiny):
    torch.manual_seed(21)
    x_T = torch.randn(1, tiny.latent_channels, 4)
    kwargs = dict(SHORT, sampler="dpmpp-2m")
    assert torch.equal(ditto.generate(tiny, "solo piano", seed=21, **kwargs),
                       ditto.generate(tiny, "solo piano", seed=999, x_T=x_T, **kwargs))


def test_cut_to_seconds_total_trims_the_window(tiny):
    audio = ditto.generate(tiny, "solo piano", sample_size=8192, seconds_total=0.1, steps=2, sampler="v-ddim",
                           cut_to_seconds_total=True)
    assert audio.shape == (1, 2, 4410)


def test_checkpointed_generation_is_identical(tiny):
    kwargs = dict(SHORT, sampler="dpmpp-3m-sde", seed=3)
    assert torch.equal(ditto.generate(tiny, "solo piano", checkpoint=True, **kwargs),
                       ditto.generate(tiny, "solo piano", **kwargs))


@pytest.mark.parametrize("kwargs,named", [
    (dict(sampler="euler-magic"), "euler-magic"),
    (dict(sampler="pingpong"), "pingpong"),  # a flow sampler asked of a v model
    (dict(steps=0), "0"),
    (dict(sigma_min=600.0), "600.0"),
    (dict(sigma_min=0.0), "0.0"),
    (dict(seconds_total=-1.0), "-1.0"),
    (dict(seconds_start=-2.0), "-2.0"),
    (dict(sample_size=5000), "5000"),
    (dict(batch_size=0), "0"),
    (dict(cfg_interval=(0.8, 0.2)), "(0.8, 0.2)"),
    (dict(schedule="zigzag"), "zigzag"),
    (dict(init_audio=(44100, torch.zeros(1, 2, 3, 100))), "(1, 2, 3, 100)"),
    (dict(init_audio=(44100, torch.zeros(2, 0))), "(2, 0)"),
    (dict(init_audio="/no/such/init.wav"), "/no/such/init.wav"),
    (dict(x_T=torch.zeros(1, 64, 3)), "(1, 64, 3)"),
])
def test_bad_arguments_raise_value_error_naming_the_value(tiny, kwargs, named):
    args = dict(sample_size=8192, steps=2, sampler="v-ddim")
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        ditto.generate(tiny, "solo piano", **args)
    assert named in str(info.value)
    assert "\n" not in str(info.value)
