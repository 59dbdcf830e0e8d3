"""Editing as Python API: ditto.outpaint / inpaint / loop return a Result whose `edited` is the stitched audio;
ditto.extend returns the whole piece with every window's results. The recipes use the same functions."""

import pytest
import torch

import ditto
import objectives

WINDOW = 22 * 2048  # 1.02 s
FAST = dict(prompt="solo piano", sample_size=WINDOW, steps=4, progress=False)


@pytest.fixture(scope="module")
def clip(tiny):
    """1.5 s of the tiny model's own output: a reference it can match."""
    return ditto.generate(tiny, "solo piano", sample_size=33 * 2048, steps=4, sampler="v-ddim", seed=3)[0]


@pytest.mark.parametrize("edit,kwargs,metric", [
    (ditto.outpaint, dict(overlap_s=0.25), "reconstruction_mse"),
    (ditto.inpaint, dict(gap_s=(0.4, 0.6)), "reconstruction_mse"),
    (ditto.loop, dict(overlap_s=0.2), "loop_mse"),
])
def test_each_edit_lowers_its_latent_loss_and_stitches_the_result(tiny, clip, edit, kwargs, metric):
    reference = {} if edit is ditto.loop else dict(reference=clip, sample_rate=tiny.sample_rate)
    result = edit(tiny, **reference, iterations=8, **kwargs, **FAST)
    assert result.metrics["after"][metric] < 0.8 * result.metrics["before"][metric]
    edited = result.edited
    assert edited.audio.shape[0] == tiny.channels and torch.isfinite(edited.audio).all()
    assert set(edited.seams) == {"before", "after"} and "seam_jump" in edited.seams["after"]
    if edit is ditto.outpaint:  # reference + continuation past the overlap
        assert edited.audio.shape[-1] == clip.shape[-1] + WINDOW - edited.plan.regions["overlap_s"] * 44100
    if edit is ditto.inpaint:  # the reference's length, the gap filled
        assert edited.audio.shape[-1] == clip.shape[-1]
        assert torch.equal(edited.audio[:, :8000], clip[:, :8000].cpu())


@pytest.mark.parametrize("method,kwargs", [("guidance", dict(scale=100.0)), ("best-of-n", dict(n=2))])
def test_an_edit_runs_every_method(tiny, clip, method, kwargs):
    result = ditto.outpaint(tiny, clip, sample_rate=tiny.sample_rate, overlap_s=0.25, method=method, **kwargs, **FAST)
    assert result.settings["method"] == method and result.edited.audio.shape[-1] > clip.shape[-1]
    with pytest.raises(ValueError, match="method 'native' is invalid; valid: ditto, guidance, best-of-n"):
        ditto.outpaint(tiny, clip, sample_rate=tiny.sample_rate, overlap_s=0.25, method="native", **FAST)


def test_an_edit_takes_a_control_beside_its_latent_loss(tiny, clip):
    control = 0.025 * objectives.Intensity([-40.0, -10.0])
    result = ditto.outpaint(tiny, clip, sample_rate=tiny.sample_rate, overlap_s=0.25, control=control, iterations=2,
                            **FAST)
    assert {"reconstruction_mse", "intensity_mse_db2"} <= set(result.metrics["after"])


def test_extend_returns_the_whole_piece_and_each_windows_results(tiny, clip):
    piece = ditto.extend(tiny, clip, sample_rate=tiny.sample_rate, seconds=2.5, overlap_s=0.25, iterations=2,
                         **FAST)
    assert isinstance(piece, ditto.Extension) and piece.stop_reason == "done"
    assert piece.audio.shape[-1] == round(2.5 * tiny.sample_rate) == piece.baseline_audio.shape[-1]
    assert len(piece.windows) == len(piece.joins) == piece.settings["windows"] >= 2
    assert all("reconstruction_mse" in window["metrics"]["after"] for window in piece.windows)
