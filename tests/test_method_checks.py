"""Bad inputs and failure paths of the control methods (issue 20: results you can publish).

Each test reproduces what a user found: unbounded onset grids, non-finite guidance, extend ignoring --method,
Ctrl-C lost by best-of-N, infinite objective weights, a non-checkpoint file given to ditto.convert, messages that
name Python arguments instead of flags, and extend's window count and state file. Everything runs in this process
on the tiny model (0.5 to 2 s of audio, 3 steps); Ctrl-C is a real SIGINT sent to this process by the objective.
"""

import json
import os
import signal

import numpy as np
import pytest
import soundfile
import torch

import ditto
import objectives
from ditto import convert
from ditto.app import cli, editing
from recipe_runs import FAST, assert_one_line_error, no_run_left, run_in_process

RATE = 44100
CRESCENDO = objectives.Intensity.from_shape("crescendo")
SHORT = dict(prompt="solo piano", seconds_total=0.5, sample_size=11 * 2048, steps=3, progress=False)
WINDOW = ["--sample-size", str(22 * 2048), "--steps", "3", "--iterations", "2", "--quiet"]  # 1.02 s windows


@pytest.fixture(scope="module")
def opening(tmp_path_factory):
    """1 s of a stereo 220 Hz tone over seeded noise, as a float WAV (the reference extend continues)."""
    t = np.arange(RATE) / RATE
    mono = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    path = tmp_path_factory.mktemp("opening") / "opening.wav"
    soundfile.write(str(path), np.stack([mono, mono], axis=1).astype(np.float32), RATE, subtype="FLOAT")
    return path


# 7. an unbounded onset grid


def test_a_dense_onset_grid_is_refused_with_the_valid_range():
    with pytest.raises(ValueError, match=r"subdivision 10000000 .*1\.\.6"):
        objectives.Rhythm.from_tempo(1000, subdivision=10_000_000)
    assert len(objectives.Rhythm.from_tempo(1000, subdivision=6).onsets_s) > 0  # the finest valid grid builds


def test_rhythm_recipe_refuses_a_dense_grid_in_one_line(tmp_path, capsys, no_model):
    out = tmp_path / "run"
    code, _, last = run_in_process("rhythm", ["--bpm", "1000", "--subdivision", "10000000", *FAST, "--out", out],
                                   capsys)
    assert_one_line_error(code, last, "10000000")
    assert no_run_left(out)


# 11. an infinite product of weights


def test_an_infinite_product_of_weights_is_refused():
    with pytest.raises(ValueError, match="inf"):
        1e200 * (1e200 * objectives.Rhythm.from_tempo(120))


# 12. a file that is not a checkpoint


def test_convert_names_what_is_wrong_with_a_file_given_as_source(tmp_path, capsys):
    source = tmp_path / "notpickle.ckpt"
    source.write_text("hello")
    assert convert.main([str(source), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert "is a file" in error and "not a checkpoint" in error and "model.ckpt + model_config.json" in error
    assert "does not exist" not in error and not (tmp_path / "out").exists()


# 8. non-finite guidance, and guidance that makes the objective worse


def test_guidance_that_overflows_raises_with_the_baseline_as_its_result(tiny):
    with pytest.raises(ditto.OptimizationError, match="--guidance-scale") as error:
        ditto.guide(tiny, CRESCENDO, scale=1e30, **SHORT)
    result = error.value.result
    assert torch.isfinite(result.audio).all() and torch.equal(result.audio, result.baseline_audio)
    assert result.stop_reason == "failed" and result.warning


def test_guidance_recipe_never_publishes_nan(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, last = run_in_process("rhythm", ["--method", "guidance", "--guidance-scale", "1e30", *FAST,
                                              "--out", out], capsys)
    assert_one_line_error(code, last, "guidance", expected_code=1)
    audio, _ = soundfile.read(str(out / "result.wav"))
    assert np.isfinite(audio).all()
    report = json.loads((out / "report.json").read_text())
    assert "error" in report and all(np.isfinite(report["losses"]))


def test_best_of_n_refuses_a_non_finite_loss(tiny):
    def nan_loss(audio, sample_rate):
        return audio.sum(dim=(1, 2)) * float("nan")

    with pytest.raises(ditto.OptimizationError, match="seed 0 became nan"):
        ditto.best_of_n(tiny, nan_loss, n=2, **SHORT)


def test_guidance_that_makes_the_objective_worse_says_so(tiny):
    """The user's finding: outpainting by guidance at the default scale raises the overlap's reconstruction error."""
    opening = ditto.generate(tiny, "solo piano", sample_size=22 * 2048, steps=3, sampler="v-ddim", seed=1234)[0]
    plan = editing.plan_outpaint(tiny, opening, sample_rate=RATE, overlap_s=0.5, sample_size=22 * 2048)
    result = ditto.guide(tiny, plan.objective, prompt="solo piano", sample_size=22 * 2048,
                         seconds_total=22 * 2048 / RATE, steps=3, progress=False)
    before, after = (result.metrics[when]["reconstruction_mse"] for when in ("before", "after"))
    assert after > before and result.final_loss == {"before": pytest.approx(before), "after": pytest.approx(after)}
    assert not result.improved and "made the objective worse" in result.warning
    assert "--guidance-scale" in result.warning


def test_the_guidance_warning_reaches_the_terminal_and_the_report(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, last = run_in_process("outpaint", ["--method", "guidance", "--overlap", 0.5, *WINDOW, "--out", out],
                                   capsys)
    assert code == 0 and last.startswith("warning: guidance made the objective worse"), last
    report = json.loads((out / "report.json").read_text())
    assert report["warning"].startswith("guidance made the objective worse") and report["improved"] is False
    assert report["final_loss"]["after"] > report["final_loss"]["before"]


# 10. Ctrl-C / SIGTERM in every method


class SignalOnCall:
    """An objective that sends this process a real SIGINT on its `call`-th evaluation."""

    def __init__(self, objective, call):
        self.objective, self.call, self.calls = objective, call, 0

    def __call__(self, audio, sample_rate):
        self.calls += 1
        if self.calls == self.call:
            os.kill(os.getpid(), signal.SIGINT)
        return self.objective(audio, sample_rate)

    def metric(self, audio, sample_rate):
        return self.objective.metric(audio, sample_rate)


def method_args(out, *flags):
    return [*FAST, "--out", str(out), *flags]


def run_job(argv, objective):
    """cli.run_recipe of a recipe whose Job optimizes `objective`: (exit code, the run's report.json and result.wav
    when it wrote them)."""
    outcome = cli.run_recipe(lambda: cli.recipe_parser("test", prompt="solo piano", iterations=2), lambda args: None,
                             lambda args, model, target: cli.Job(objective, description="test"), argv)
    written = {path.name: path for path in outcome.paths}
    if "report.json" not in written:
        return outcome.code, None
    return outcome.code, (json.loads(written["report.json"].read_text()), soundfile.read(str(written["result.wav"]))[0])


def test_ctrl_c_stops_best_of_n_publishes_the_best_and_resumes(tmp_path, capsys):
    out, reference = tmp_path / "run", tmp_path / "whole"
    code, result = run_job(method_args(reference, "--method", "best-of-n", "--candidates", "5"), CRESCENDO)
    assert code == 0
    code, _ = run_job(method_args(out, "--method", "best-of-n", "--candidates", "5"), SignalOnCall(CRESCENDO, 2))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and err[-1].startswith("error: interrupted after 2 of 5 candidates") and "--resume" in err[-1]
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == "interrupted" and len(report["losses"]) == 2
    assert (out / "result.wav").is_file()
    code, resumed = run_job(method_args(out, "--method", "best-of-n", "--candidates", "5", "--resume"), CRESCENDO)
    assert code == 0 and resumed[0]["losses"] == result[0]["losses"]
    assert resumed[0]["best_iteration"] == result[0]["best_iteration"]
    assert np.array_equal(resumed[1], result[1])


def test_ctrl_c_stops_guidance_and_publishes_the_baseline(tmp_path, capsys):
    out = tmp_path / "run"
    code, _ = run_job(method_args(out, "--method", "guidance"), SignalOnCall(CRESCENDO, 1))
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: interrupted after 1 guided steps")
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == "interrupted" and report["best_iteration"] == -1
    result, baseline = (soundfile.read(str(out / name))[0] for name in ("result.wav", "baseline.wav"))
    assert np.array_equal(result, baseline)


def test_ctrl_c_stops_an_extension_by_best_of_n(opening, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    calls = []
    original = ditto.best_of_n

    def signalling(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(ditto.editing, "WINDOW_METHODS", {**ditto.editing.WINDOW_METHODS, "best-of-n": signalling})
    flags = ["--reference", opening, "--seconds", 3.0, "--overlap", 0.25, "--method", "best-of-n",
             "--candidates", 2, *WINDOW, "--out", out]
    code, _, last = run_in_process("extend", flags, capsys)
    assert code == 130 and last.startswith("error: interrupted") and "--resume" in last
    assert json.loads((out / "report.json").read_text())["stop_reason"] == "interrupted"
    code, _, last = run_in_process("extend", [*flags, "--resume"], capsys)
    assert code == 0, last
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == "done" and len(report["windows"]) == report["settings"]["windows"] == 3


# 9. extend runs the method asked for, and reports metrics for the summary


@pytest.mark.parametrize("method,flags,losses", [("guidance", ["--guidance-scale", "30"], 2),
                                                 ("best-of-n", ["--candidates", "3"], 3)])
def test_extend_runs_the_method_asked_for(opening, tmp_path, capsys, method, flags, losses):
    out = tmp_path / "run"
    code, _, last = run_in_process("extend", ["--reference", opening, "--seconds", 1.7, "--overlap", 0.25,
                                              "--method", method, *flags, *WINDOW, "--out", out], capsys)
    assert code == 0, last
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == method and report["settings"]["method"] == method
    assert [len(window["losses"]) for window in report["windows"]] == [losses]
    for when in ("before", "after"):
        assert set(report["metrics"][when]) == {"reconstruction_mse", "seam_jump"}


def test_extend_reports_whole_piece_metrics(opening, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, last = run_in_process("extend", ["--reference", opening, "--seconds", 1.7, "--overlap", 0.25,
                                              "--intensity-shape", "crescendo", *WINDOW, "--out", out], capsys)
    assert code == 0, last
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "ditto"
    window = report["windows"][0]["metrics"]
    for when in ("before", "after"):
        assert report["metrics"][when]["reconstruction_mse"] == pytest.approx(window[when]["reconstruction_mse"])
        assert report["metrics"][when]["intensity_mse_db2"] == pytest.approx(window[when]["intensity_mse_db2"])
        assert report["metrics"][when]["seam_jump"] == report["joins"][0]["seam_jump"][when]


@pytest.mark.parametrize("flags,named", [
    (["--method", "best-of-n", "--candidates", "0"], "--candidates"),
    (["--method", "guidance", "--guidance-scale", "nan"], "--guidance-scale"),
    (["--method", "guidance", "--time-budget", "5"], "--time-budget"),
    (["--max-windows", "0"], "--max-windows"),
])
def test_extend_refuses_bad_method_flags_before_loading(tmp_path, capsys, no_model, flags, named):
    out = tmp_path / "run"
    code, _, last = run_in_process("extend", ["--seconds", "5", *flags, *WINDOW, "--out", out], capsys)
    assert_one_line_error(code, last, named)
    assert no_run_left(out)


# unclear findings: flag names, checks before the model loads


@pytest.mark.parametrize("flags,named", [
    (["--method", "guidance", "--guidance-scale", "-1"], "--guidance-scale"),
    (["--method", "guidance", "--guidance-scale", "inf"], "--guidance-scale"),
    (["--method", "best-of-n", "--candidates", "0"], "--candidates"),
    (["--method", "best-of-n", "--time-budget", "-2"], "--time-budget"),
])
def test_method_flags_are_named_and_checked_before_the_model_loads(tmp_path, capsys, no_model, flags, named):
    out = tmp_path / "run"
    code, _, last = run_in_process("intensity", [*flags, *FAST, "--out", out], capsys)
    assert_one_line_error(code, last, named)
    assert no_run_left(out)


def test_best_of_n_takes_a_time_budget_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, last = run_in_process("intensity", ["--method", "best-of-n", "--time-budget", "0.001", *FAST,
                                                 "--out", out], capsys)
    assert code == 0, last
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == "time_budget" and len(report["losses"]) == 1


# unclear findings: extend's lengths, windows and state


def test_extend_says_seconds_must_be_finite(opening, tmp_path, capsys):
    code, _, last = run_in_process("extend", ["--reference", opening, "--seconds", "inf", "--overlap", 0.25, *WINDOW,
                                              "--out", tmp_path / "run"], capsys)
    assert_one_line_error(code, last, "finite")


def test_an_overlap_rounded_past_the_reference_says_how_long_it_is(opening, tmp_path, capsys):
    code, _, last = run_in_process("extend", ["--reference", opening, "--seconds", 3, "--overlap", 1, *WINDOW,
                                              "--sample-size", 44 * 2048, "--out", tmp_path / "run"], capsys)
    assert_one_line_error(code, last, "1.022 s")  # 1 s is 22 latent frames of 2048 samples
    assert "at most 0.9752 s" in last


def test_extend_refuses_more_windows_than_max_windows(opening, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, last = run_in_process("extend", ["--reference", opening, "--seconds", 100000, "--overlap", 0.25, *WINDOW,
                                              "--out", out], capsys)
    assert_one_line_error(code, last, "--max-windows")
    assert no_run_left(out)


def test_the_extend_state_grows_by_one_window_at_a_time(opening, tmp_path):
    model = ditto.load_model("tiny", device="cpu")
    state, seen = tmp_path / "state.pt", []

    def note(join):
        seen.append((state.stat().st_ino, state.stat().st_size))

    editing.extend(model, str(opening), seconds=3.0, overlap_s=0.25, sample_size=22 * 2048, prompt="solo piano",
                   steps=3, iterations=1, progress=False, state_path=state, on_window=note)
    assert len(seen) == 3 and len({inode for inode, _ in seen}) == 1  # appended, never rewritten
    growth = [b[1] - a[1] for a, b in zip(seen, seen[1:])]
    assert max(growth) < 1.2 * min(growth), growth  # each window adds the same amount


# unclear findings: brightness targets, read errors


def test_a_brightness_target_above_nyquist_is_refused():
    audio = torch.randn(1, 2, RATE // 2)
    with pytest.raises(ValueError, match="1e\\+09 Hz .*22050"):
        objectives.Brightness([1e9])(audio, RATE)
    with pytest.raises(ValueError, match="Nyquist"):
        objectives.Brightness.from_shape("brighter", 500.0, 30000.0)(audio, RATE)


def test_a_silent_brightness_reference_is_refused():
    with pytest.raises(ValueError, match="silent"):
        objectives.Brightness.from_audio(torch.zeros(1, 2, RATE // 2), RATE)


def test_read_errors_list_the_formats_that_read(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(ValueError) as error:
        ditto.read_audio(bad)
    expected = "MP3" if "MP3" in soundfile.available_formats() else "OGG"
    assert expected in str(error.value)


def test_a_pitch_hop_names_its_flag_and_must_be_finite():
    with pytest.raises(ValueError, match="--hop.*finite"):
        objectives.PitchConfig(hop_s=float("inf"))
