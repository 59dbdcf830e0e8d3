"""Every metric an objective reports is declared once with its direction and unit (objectives.metric_info)."""

import math

import pytest
import torch

import objectives

RATE = 16000


def tone(seconds: float = 1.0, hz: float = 440.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return (0.3 * torch.sin(2 * math.pi * hz * t) * torch.linspace(0.2, 1.0, t.numel()))[None, None]


AUDIO_OBJECTIVES = {
    "intensity": lambda: objectives.Intensity.from_shape("crescendo"),
    "melody": lambda: objectives.Melody.from_notes("A4:0.5 C5:0.5"),
    "structure": lambda: objectives.Structure("AB"),
    "rhythm": lambda: objectives.Rhythm.from_tempo(120),
    "brightness": lambda: objectives.Brightness.from_shape("brighter"),
    "pitch": lambda: objectives.Pitch.from_notes("A4:1"),
    "sum": lambda: objectives.Intensity([-30, -10]) + objectives.Intensity([-10, -30]),
}
EXPECTED = {  # the paper's and mir_eval's directions
    "intensity_mse_db2": False, "melody_accuracy": True, "structure_mse": False, "onset_f1": True,
    "centroid_mse_st2": False, "raw_pitch_accuracy": True, "raw_chroma_accuracy": True,
    "reconstruction_mse": False, "loop_mse": False, "seam_jump": False,
}


@pytest.mark.parametrize("name", sorted(AUDIO_OBJECTIVES))
def test_every_reported_metric_is_declared(name):
    metrics = AUDIO_OBJECTIVES[name]().metric(tone(), RATE)
    assert metrics
    for metric in metrics:
        info = objectives.metric_info(metric)
        assert info.higher_is_better is EXPECTED[metric.removesuffix("_2")]
        assert isinstance(info.unit, str) and info.description and "\n" not in info.description


def test_latent_and_seam_metrics_are_declared():
    latents = torch.randn(1, 4, 16)
    match = objectives.LatentMatch(torch.randn(4, 16), objectives.region_mask(16, 0.0, 0.3, 21.5))
    found = {*match.metric(latents, 21.5), *objectives.SelfLoop(3).metric(latents, 21.5), "seam_jump"}
    for metric in found:
        assert objectives.metric_info(metric).higher_is_better is EXPECTED[metric]


def test_declared_names_are_exactly_the_built_in_ones():
    assert {info.name for info in objectives.declared_metrics()} >= set(EXPECTED)
    for name, higher in EXPECTED.items():
        assert objectives.metric_info(name).higher_is_better is higher


def test_an_unknown_metric_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'clap_scor' is not declared.*declare_metric"):
        objectives.metric_info("clap_scor")


def test_a_custom_objective_declares_its_own_metric():
    info = objectives.declare_metric("test_clap_score", higher_is_better=True, unit="cosine",
                                     description="similarity of the output to the prompt")

    def loss(audio, sample_rate):
        return audio.pow(2).mean(dim=(1, 2))

    custom = 0.5 * objectives.Objective.wrap(loss, metric=lambda audio, rate: {"test_clap_score": 0.3})
    assert objectives.metric_info(next(iter(custom.metric(tone(), RATE)))) == info
    assert info.improvement(0.2, 0.4) == pytest.approx(2.0)
    assert objectives.metric_info("intensity_mse_db2").improvement(40.0, 4.0) == pytest.approx(10.0)
    assert objectives.declare_metric("test_clap_score", higher_is_better=True, unit="cosine",
                                     description="similarity of the output to the prompt") == info
    with pytest.raises(ValueError, match="already declared"):
        objectives.declare_metric("test_clap_score", higher_is_better=False, unit="cosine", description="flipped")


@pytest.mark.parametrize("bad", [dict(name="9x"), dict(higher_is_better=1), dict(unit=None), dict(description="")])
def test_a_bad_declaration_names_the_bad_value(bad):
    arguments = dict(name="test_other", higher_is_better=True, unit="", description="one line") | bad
    with pytest.raises(ValueError, match="invalid"):
        objectives.declare_metric(arguments.pop("name"), **arguments)


def summary_rows(metric, pairs):
    return [{"name": f"job{i}", "recipe": "custom", "method": "ditto", "status": "done", "seconds": 1.0,
             "error": None, f"{metric}_before": before, f"{metric}_after": after} for i, (before, after) in
            enumerate(pairs)]


def test_the_summary_reads_each_metrics_declared_direction(tmp_path):
    from ditto.app import summary

    objectives.declare_metric("test_new_score", higher_is_better=True, unit="", description="a score, new here")
    table = summary.markdown(tmp_path, summary_rows("test_new_score", [(0.2, 0.4), (0.2, 0.4)]), ["test_new_score"])
    assert "test_new_score (higher is better) | 2 | 0.2 ± 0 | 0.4 ± 0 | 2×" in table  # after / before, not inverted
    table = summary.markdown(tmp_path, summary_rows("onset_f1", [(0.5, 0.25)]), ["onset_f1"])
    assert "onset_f1 (higher is better) | 1 | 0.5 | 0.25 | 0.5×" in table
    table = summary.markdown(tmp_path, summary_rows("test_nobody_declared", [(1.0, 2.0)]), ["test_nobody_declared"])
    assert "test_nobody_declared (direction not declared) | 1 | 1 | 2 | — |" in table  # not guessed


def test_a_report_carries_its_declarations_to_another_process():
    from ditto.app import report, summary

    objectives.declare_metric("test_carried", higher_is_better=True, unit="%", description="carried over")
    recorded = report.metric_declarations({"before": {"test_carried": 1.0, "intensity_mse_db2": 3.0, "undeclared": 1},
                                           "after": {"test_carried": 2.0}})
    assert set(recorded) == {"test_carried", "intensity_mse_db2"}
    recorded["test_recorded_only"] = dict(recorded["test_carried"], description="only in a report")
    summary.declare_recorded({"metric_info": recorded})
    assert objectives.metric_info("test_recorded_only").higher_is_better is True
    summary.declare_recorded({"metric_info": {"onset_f1": dict(higher_is_better=False, unit="", description="x")}})
    assert objectives.metric_info("onset_f1").higher_is_better is True  # a contradicting record does not win
