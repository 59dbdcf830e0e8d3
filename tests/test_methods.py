"""Guidance and best-of-N beside DITTO: same problem, objectives, metrics and Result; bad arguments named."""

import pytest
import torch

import ditto
import objectives

FAST = dict(prompt="solo piano", seconds_total=1.0, sample_size=22 * 2048, steps=8, progress=False)
CRESCENDO = objectives.Intensity.from_shape("crescendo")


def plain(tiny, seed=0):
    return ditto.generate(tiny, "solo piano", sample_size=22 * 2048, seconds_total=1.0, steps=8, sampler="v-ddim",
                          seed=seed, cut_to_seconds_total=True)


def test_guidance_at_scale_zero_is_plain_generation(tiny):
    result = ditto.guide(tiny, CRESCENDO, scale=0.0, **FAST)
    assert torch.equal(result.audio, plain(tiny)) and torch.equal(result.baseline_audio, plain(tiny))


def test_guidance_lowers_the_intensity_error_against_its_unguided_render(tiny):
    result = ditto.guide(tiny, CRESCENDO, scale=30.0, **FAST)
    before, after = (result.metrics[k]["intensity_mse_db2"] for k in ("before", "after"))
    assert after < 0.9 * before, (before, after)
    assert len(result.losses) == 7 and result.seconds["total"] > 0 and result.settings["method"] == "guidance"
    assert result.audio.shape == result.baseline_audio.shape == (1, 2, 44100)


def test_best_of_n_keeps_the_lowest_loss_of_every_candidate(tiny):
    result = ditto.best_of_n(tiny, CRESCENDO, n=5, batch_size=2, **FAST)
    assert len(result.losses) == 5 and result.losses[result.best_iteration] == min(result.losses)
    assert torch.allclose(result.baseline_audio, plain(tiny), atol=1e-5)  # candidate 0: the seed's plain render (batched)
    best_seed = result.settings["best_seed"]
    assert best_seed == result.best_iteration
    assert torch.allclose(result.audio, plain(tiny, best_seed), atol=1e-5)
    assert result.metrics["after"]["intensity_mse_db2"] <= result.metrics["before"]["intensity_mse_db2"]


def test_best_of_n_within_a_time_budget_renders_at_least_one_batch(tiny):
    result = ditto.best_of_n(tiny, CRESCENDO, time_budget_s=1e-3, batch_size=2, **FAST)
    assert len(result.losses) == 2 and result.stop_reason == "time_budget"


def test_a_saved_best_of_n_search_keeps_its_plain_layout_and_resumes_bit_for_bit(tiny, tmp_path):
    """best_of_n's state file holds plain containers in the layout every version has written, so searches saved
    by older versions resume: the best candidate {"loss", "index", "x_T", "latents", "audio"} and the first's
    render {"latents", "audio"}; a search resumed from it ends exactly where an uninterrupted one does."""
    short = dict(FAST, seconds_total=0.5, sample_size=11 * 2048, steps=3)
    state = tmp_path / "search.pt"
    ditto.best_of_n(tiny, CRESCENDO, n=2, state_path=state, **short)
    saved = torch.load(state, map_location="cpu", weights_only=True)
    assert set(saved) == {"settings", "losses", "best", "first", "seconds"}
    assert set(saved["best"]) == {"loss", "index", "x_T", "latents", "audio"}
    assert set(saved["first"]) == {"latents", "audio"}
    assert saved["best"]["loss"] == min(saved["losses"]) == saved["losses"][saved["best"]["index"]]
    resumed = ditto.best_of_n(tiny, CRESCENDO, n=4, resume=state, **short)
    whole = ditto.best_of_n(tiny, CRESCENDO, n=4, **short)
    assert resumed.losses == whole.losses and resumed.best_iteration == whole.best_iteration
    assert torch.equal(resumed.audio, whole.audio) and torch.equal(resumed.baseline_audio, whole.baseline_audio)
    assert torch.equal(resumed.x_T, whole.x_T) and resumed.metrics == whole.metrics


@pytest.mark.parametrize("method,kwargs,named", [
    ("guide", dict(sampler="dpmpp-3m-sde"), "dpmpp-3m-sde"),
    ("guide", dict(sampler="no-such-sampler"), "no-such-sampler"),
    ("guide", dict(scale=-1.0), "-1.0"),
    ("guide", dict(repeats=0), "repeats"),
    ("guide", dict(guided_steps=[9]), "[9]"),
    ("best_of_n", dict(n=0), "n must"),
    ("best_of_n", dict(), "neither"),
    ("best_of_n", dict(n=2, time_budget_s=-5.0), "-5.0"),
])
def test_bad_method_arguments_name_the_value(tiny, method, kwargs, named):
    with pytest.raises(ValueError) as error:
        getattr(ditto, method)(tiny, CRESCENDO, **{**FAST, **kwargs})
    assert named in str(error.value) and "\n" not in str(error.value)


def test_unknown_keyword_lists_the_valid_ones(tiny):
    with pytest.raises(TypeError, match="valid: .*seconds_total"):
        ditto.guide(tiny, CRESCENDO, init_audio="x.wav", **FAST)


def test_time_travel_repeats_change_the_guided_render(tiny):
    once = ditto.guide(tiny, CRESCENDO, scale=30.0, guided_steps=[2, 3], **FAST)
    twice = ditto.guide(tiny, CRESCENDO, scale=30.0, guided_steps=[2, 3], repeats=2, **FAST)
    assert len(twice.losses) == 2 and not torch.equal(once.audio, twice.audio)
