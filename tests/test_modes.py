"""Speed and memory modes of ditto.optimize: each fast path's gradient agrees with the exact fp32 reference."""

import pytest
import torch

import objectives
from ditto.optimize import activation_bytes_per_step, optimize

FAST = dict(prompt="solo piano", seconds_total=1.0, sample_size=22 * 2048, steps=6, progress=False)


def first_gradient(model, objective, **kwargs):
    """dL/dx_T at the seeded x_T, as ditto.optimize computes it in its first iteration."""
    grads = []
    optimize(model, objective, iterations=1, callback=lambda info: grads.append(info["grad"]), **{**FAST, **kwargs})
    return grads[0]


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


@pytest.fixture(scope="module")
def crescendo():
    return objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)


@pytest.fixture(scope="module")
def reference_gradient(tiny, crescendo):
    return first_gradient(tiny, crescendo)


@pytest.mark.parametrize("mode", [
    dict(autocast_bf16=True),
    dict(decoder_bf16=True),
    dict(autocast_bf16=True, decoder_bf16=True),
    dict(keep_steps=3),
    dict(keep_steps=6, checkpoint=True),
    dict(memory_budget_gb=0.001),
    dict(checkpoint=False, decoder_checkpoint=False),
])
def test_fast_path_gradient_agrees_with_fp32_reference(tiny, crescendo, reference_gradient, mode):
    assert cosine(first_gradient(tiny, crescendo, **mode), reference_gradient) >= 0.99


def test_exact_modes_are_exact(tiny, crescendo, reference_gradient):
    for mode in (dict(keep_steps=2), dict(checkpoint=False)):
        assert torch.allclose(first_gradient(tiny, crescendo, **mode), reference_gradient, rtol=1e-5, atol=1e-9)


def test_memory_budget_picks_keep_steps_from_a_measured_step(tiny):
    settings = {}
    result = optimize(tiny, objectives.Intensity([-20.0]), iterations=1, memory_budget_gb=1.0, **FAST)
    settings.update(result.settings)
    assert settings["activation_gb_per_step"] > 0
    assert settings["keep_steps"] == 6  # 1 GB holds every step of the tiny model
    none = optimize(tiny, objectives.Intensity([-20.0]), iterations=1, memory_budget_gb=0.0, **FAST)
    assert none.settings["keep_steps"] == 0


def test_decode_only_the_span_matches_a_full_decode(tiny, crescendo):
    """A 0.3 s loss span in a 1 s window decodes 7 + 16 latents, not 22, and sees the same audio."""
    seen = []

    def spy(audio, sample_rate):
        seen.append(audio.detach())
        return crescendo(audio, sample_rate)

    optimize(tiny, spy, iterations=1, **{**FAST, "seconds_total": 0.3, "sample_size": 64 * 2048})
    import ditto
    full = ditto.generate(tiny, "solo piano", sample_size=64 * 2048, seconds_total=0.3, steps=6, sampler="v-ddim",
                          cut_to_seconds_total=True)
    assert seen[0].shape == full.shape
    assert (seen[0] - full).abs().max() <= 1e-5 * full.abs().max()


def test_surrogate_optimizes_few_steps_and_reports_the_full_render(tiny, crescendo):
    result = optimize(tiny, crescendo, iterations=10, surrogate_steps=2, **{**FAST, "steps": 8})
    assert {"before", "after", "before_surrogate", "after_surrogate"} <= set(result.metrics)
    import ditto
    rendered = ditto.generate(tiny, "solo piano", x_T=result.x_T, sample_size=22 * 2048, seconds_total=1.0, steps=8,
                              sampler="v-ddim", cut_to_seconds_total=True)
    assert torch.allclose(rendered, result.audio, atol=1e-5)
    assert result.metrics["after"]["intensity_mse_db2"] < result.metrics["before"]["intensity_mse_db2"]


def test_activation_bytes_grow_with_the_window(tiny):
    from ditto.generation import SamplerConfig, build_conditioning
    cond = build_conditioning(tiny, "solo piano", seconds_total=1.0)
    config = SamplerConfig(sampler="v-ddim", steps=4)
    small = activation_bytes_per_step(tiny, cond, config, torch.zeros(1, 64, 8))
    large = activation_bytes_per_step(tiny, cond, config, torch.zeros(1, 64, 32))
    assert 0 < small < large


@pytest.mark.parametrize("kwargs,named", [(dict(surrogate_steps=0), "0"), (dict(keep_steps=-1), "-1"),
                                          (dict(memory_budget_gb=-2.0), "-2.0")])
def test_bad_mode_arguments(tiny, kwargs, named):
    with pytest.raises(ValueError) as info:
        optimize(tiny, objectives.Intensity([-20.0]), iterations=1, **{**FAST, **kwargs})
    assert named in str(info.value)
