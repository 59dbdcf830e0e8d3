"""ditto.optimize: DITTO lowers each objective on the tiny model, keeps the best x_T, and fails clearly."""

import math

import pytest
import torch

import ditto
import objectives
from ditto.optimize import OptimizationError, optimize

# 1 s of audio in a 22-latent window, 8 DDIM steps: about 0.2 s per iteration on 2 cores
FAST = dict(prompt="solo piano", seconds_total=1.0, sample_size=22 * 2048, steps=8, progress=False)


@pytest.mark.parametrize("name,objective", [
    ("intensity", objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)),
    ("melody", objectives.Melody.from_notes("C5:0.25 E5:0.25 G5:0.25 C6:0.25")),
    ("structure", objectives.Structure("ABA")),
])
def test_each_objective_falls_by_half_within_30_iterations(tiny, name, objective):
    result = optimize(tiny, objective, iterations=30, seed=0, **FAST)
    assert len(result.losses) == 30
    assert min(result.losses) <= 0.5 * result.losses[0], f"{name}: {result.losses[0]} -> {min(result.losses)}"
    metric = next(iter(result.metrics["after"]))
    before, after = result.metrics["before"][metric], result.metrics["after"][metric]
    assert after > before if metric == "melody_accuracy" else after < before


def test_result_holds_best_x_T_baseline_and_timings(tiny):
    objective = objectives.Intensity.from_shape("swell", low_db=-35.0, high_db=-15.0)
    result = optimize(tiny, objective, iterations=4, **FAST)
    assert result.audio.shape == result.baseline_audio.shape == (1, 2, 44100)
    assert result.losses[result.best_iteration] == min(result.losses)
    assert result.x_T.shape == (1, tiny.latent_channels, 22)
    assert result.sample_rate == 44100 and result.stop_reason == "iterations"
    assert result.seconds["per_iteration"] > 0 and result.settings["lr"] == 0.3  # the tiny model's own default (its config)
    # The returned audio is what the returned x_T renders
    rerendered = ditto.generate(tiny, "solo piano", x_T=result.x_T, sample_size=22 * 2048, seconds_total=1.0,
                                steps=8, sampler="v-ddim", cut_to_seconds_total=True)
    assert torch.allclose(rerendered, result.audio, atol=1e-5)
    assert objective.metric(result.audio, 44100) == result.metrics["after"]


def test_baseline_is_plain_generation_with_the_same_seed(tiny):
    result = optimize(tiny, objectives.Structure("AB"), iterations=0, seed=5, **FAST)
    generated = ditto.generate(tiny, "solo piano", seed=5, sample_size=22 * 2048, seconds_total=1.0, steps=8,
                               sampler="v-ddim", cut_to_seconds_total=True)
    assert torch.equal(result.baseline_audio, generated)
    assert result.losses == [] and result.best_iteration == -1


def test_loss_sees_only_seconds_total(tiny):
    seen = []

    def spy(audio, sample_rate):
        seen.append(audio.shape[-1])
        return audio.square().mean(dim=(1, 2))

    optimize(tiny, spy, prompt="solo piano", seconds_total=0.5, sample_size=22 * 2048, steps=2, iterations=1,
             progress=False)
    assert seen[0] == 22050


def test_custom_objective_callable_and_callback(tiny):
    calls = []

    def quieter(audio, sample_rate):
        return audio.square().mean(dim=(1, 2))

    result = optimize(tiny, 0.5 * objectives.Objective.wrap(quieter), iterations=3, callback=calls.append, **FAST)
    assert [c["iteration"] for c in calls] == [0, 1, 2]
    assert all(math.isfinite(c["grad_norm"]) and c["grad_norm"] > 0 for c in calls)
    assert result.metrics == {"before": {}, "after": {}}


def test_early_stop_on_target_and_patience(tiny):
    objective = objectives.Intensity.from_shape("crescendo")
    first = optimize(tiny, objective, iterations=1, **FAST).losses[0]
    assert optimize(tiny, objective, iterations=10, target_loss=first, **FAST).stop_reason == "target_loss"
    flat = optimize(tiny, lambda audio, rate: audio.sum(dim=(1, 2)) * 0 + 1.0, iterations=10, patience=2, **FAST)
    assert flat.stop_reason == "patience" and len(flat.losses) == 3


def test_non_finite_loss_names_the_iteration_and_keeps_the_best(tiny):
    count = [0]

    def breaks_at_third(audio, sample_rate):
        count[0] += 1
        loss = audio.square().mean(dim=(1, 2))
        return loss * float("nan") if count[0] == 3 else loss

    with pytest.raises(OptimizationError, match="iteration 2") as info:
        optimize(tiny, breaks_at_third, iterations=5, **FAST)
    partial = info.value.result
    assert len(partial.losses) == 2 and partial.audio.shape == (1, 2, 44100)


@pytest.mark.parametrize("kwargs,named", [
    (dict(iterations=-1), "-1"),
    (dict(lr=0.0), "0.0"),
    (dict(optimizer="lbfgs"), "lbfgs"),
    (dict(sampler="warp"), "warp"),
    (dict(steps=0), "0"),
    (dict(sample_size=1000), "1000"),
    (dict(patience=0), "0"),
    (dict(x_T=torch.zeros(1, 64, 5)), "(1, 64, 5)"),
])
def test_bad_arguments_raise_value_error_naming_the_value(tiny, kwargs, named):
    args = dict(FAST, iterations=1)
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        optimize(tiny, objectives.Intensity([-20.0]), **args)
    assert named in str(info.value)


def test_objective_that_is_not_callable(tiny):
    with pytest.raises(ValueError, match="callable"):
        optimize(tiny, "loud", **FAST)
