"""Editing audio longer than the generation window, on the tiny model: inpaint inside a 12 s song, extend a 2 s
opening to 10 s window by window, loop a section; bad spans are one-line errors with exit code 2."""

import json

import numpy as np
import pytest
import soundfile
import torch

import ditto
import objectives
from ditto.app import editing
from recipe_runs import assert_one_line_error, no_run_left, run_in_process

RATE = 44100
FAST = ["--steps", "3", "--iterations", "2", "--quiet"]
WINDOW = ["--sample-size", str(44 * 2048)]  # 2.04 s: a 12 s song is six windows long


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """12 s of deterministic stereo audio (a 220 Hz tone swelling at 0.5 Hz over seeded noise), as a float WAV."""
    t = np.arange(12 * RATE) / RATE
    noise = np.random.default_rng(0).standard_normal(len(t))
    mono = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.05 * noise
    audio = np.stack([mono, np.roll(mono, 100)], axis=1).astype(np.float32)  # (samples, channels)
    path = tmp_path_factory.mktemp("long") / "song.wav"
    soundfile.write(str(path), audio, RATE, subtype="FLOAT")
    return path


def read(path):
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    assert rate == RATE
    return audio  # (samples, channels)


def test_inpaint_a_gap_inside_a_long_song(song, tmp_path, capsys):
    out = tmp_path / "fixed"
    code, printed, last = run_in_process("inpaint", ["--reference", song, "--start", 6, "--end", 7, *WINDOW, *FAST,
                                                     "--out", out], capsys)
    assert code == 0, last
    original, edited = read(song), read(out / "edited.wav")
    assert edited.shape == original.shape  # the whole song, not one window
    start, end = 6 * RATE, 7 * RATE  # the gap; its crossfades lie inside it
    assert edited[:start].tobytes() == original[:start].tobytes()
    assert edited[end:].tobytes() == original[end:].tobytes()
    assert not np.array_equal(edited[start:end], original[start:end])
    assert read(out / "result.wav").shape == (44 * 2048, 2)  # one window was generated
    report = json.loads((out / "report.json").read_text())
    window = report["regions"]["window_s"]
    assert window[0] < 6 and window[1] > 7 and window[1] - window[0] == pytest.approx(44 * 2048 / RATE)
    assert set(report["seams"]) == {"before", "after"}


def test_extend_a_two_second_opening_to_ten_seconds(song, tmp_path, capsys):
    opening = tmp_path / "opening.wav"
    soundfile.write(str(opening), read(song)[:2 * RATE], RATE, subtype="FLOAT")
    out = tmp_path / "longer"
    code, printed, last = run_in_process("extend", ["--reference", opening, "--seconds", 10, "--overlap", 0.5, *FAST,
                                                    "--out", out], capsys)
    assert code == 0, last
    edited = read(out / "edited.wav")
    assert edited.shape == (10 * RATE, 2)
    assert edited[:RATE].tobytes() == read(opening)[:RATE].tobytes()  # the opening, up to its crossfade
    assert read(out / "baseline_edited.wav").shape == (10 * RATE, 2)
    report = json.loads((out / "report.json").read_text())
    windows = report["settings"]["windows"]
    assert windows == 4 and len(report["windows"]) == 4  # 8 s to add, 2.46 s per 2.97 s window
    assert [join["window"] for join in report["joins"]] == list(range(windows))
    assert report["joins"][0]["at_s"] == pytest.approx(2.0)
    for join in report["joins"]:
        assert set(join["seam_jump"]) == {"before", "after"}
        assert join["reconstruction_mse"]["after"] < join["reconstruction_mse"]["before"]
    assert torch.load(out / "x_T.pt")["x_T"].shape == (4, 64, 64)
    assert printed.count("window ") == 4 and report["stop_reason"] == "done"


def test_loop_a_section_of_a_long_song(song, tmp_path, capsys):
    out = tmp_path / "loop"
    code, _, last = run_in_process("loop", ["--reference", song, "--start", 4, "--end", 6, *WINDOW, *FAST,
                                            "--out", out], capsys)
    assert code == 0, last
    assert read(out / "edited.wav").shape == ((43 - 11) * 2048, 2)  # 2 s = 43 latent frames, less 0.5 s overlap
    report = json.loads((out / "report.json").read_text())
    assert report["regions"]["section_s"] == [4.0, 6.0] and set(report["seams"]) == {"before", "after"}


@pytest.mark.parametrize("name,args,named", [
    ("inpaint", ["--start", "11.5", "--end", "13"], "13.0"),  # the gap ends past the song
    ("inpaint", ["--start", "2", "--end", "5"], "(2.0, 5.0)"),  # longer than the 2.04 s window
    ("extend", ["--seconds", "20", "--overlap", "5"], "5.0"),  # the overlap is longer than the window
    ("extend", ["--seconds", "8"], "8.0"),  # not longer than the 12 s reference
    ("loop", ["--start", "10", "--end", "14"], "14.0"),  # the section ends past the song
    ("loop", [], "--start/--end"),  # a long reference needs a section
])
def test_bad_spans_fail_with_one_line(song, tmp_path, capsys, name, args, named):
    out = tmp_path / "x"
    code, _, last = run_in_process(name, ["--reference", song, *args, *WINDOW, *FAST, "--out", out], capsys)
    assert_one_line_error(code, last, named)
    assert no_run_left(out)


def test_an_interrupted_extension_resumes_to_the_same_piece(song, tmp_path):
    """The chain is saved after each complete window; stopped inside window 2 and resumed from the save, it
    renders window 2 again from its start and ends on the uninterrupted piece, sample for sample."""
    model = ditto.load_model("tiny")
    opening = torch.from_numpy(read(song)[:2 * RATE].T.copy())  # (channels, samples)
    arguments = dict(seconds=6, overlap_s=0.5, sample_size=44 * 2048, sample_rate=RATE, prompt="solo piano",
                     steps=3, iterations=3, progress=False)
    whole = editing.extend(model, opening, **arguments)
    asked = []
    state = tmp_path / "state.pt"
    stopped = editing.extend(model, opening, state_path=state, should_stop=lambda: asked.append(1) or len(asked) > 6,
                             **arguments)
    assert stopped.stop_reason == "interrupted" and len(stopped.windows) == 3  # windows 0 and 1 done, 2 cut short
    resumed = editing.extend(model, opening, state_path=state, resume_from=state, **arguments)
    assert resumed.stop_reason == "done" and len(resumed.windows) == len(whole.windows)
    assert torch.equal(resumed.audio, whole.audio) and torch.equal(resumed.baseline_audio, whole.baseline_audio)
    assert [w["losses"] for w in resumed.windows] == [w["losses"] for w in whole.windows]
    with pytest.raises(ValueError, match="another run .*seed"):
        editing.extend(model, opening, resume_from=state, **{**arguments, "seed": 1})


@pytest.mark.parametrize("flag", ["--save-every", "--fit-window"])
def test_extend_refuses_flags_that_do_not_apply(tmp_path, capsys, flag):
    code, _, last = run_in_process("extend", ["--seconds", "5", flag, *FAST, "--out", tmp_path / "x"], capsys)
    assert_one_line_error(code, last, flag)


def test_a_whole_piece_control_is_cut_per_window():
    """A crescendo over 10 s, cut to [4, 6) s, spans the curve's values at 4 s and 6 s; weights and sums carry."""
    control = 0.5 * objectives.Intensity([-40.0, -10.0]) + 0.25 * objectives.Intensity.from_shape("swell")
    part = editing.slice_control(control, 4.0, 6.0, 10.0)
    first, second = part.terms
    assert first.weight == 0.5 and second.weight == 0.25
    assert float(first.objective.target_db[0]) == pytest.approx(-28.0)
    assert float(first.objective.target_db[-1]) == pytest.approx(-22.0)
    assert float(second.objective.target_db.max()) == pytest.approx(-10.0, abs=0.1)  # the swell's peak at 5 s
    past_the_end = editing.slice_control(objectives.Intensity([-40.0, -10.0]), 9.0, 11.0, 10.0)
    assert float(past_the_end.target_db[-1]) == pytest.approx(-10.0)
    with pytest.raises(ValueError, match="Melody"):
        editing.slice_control(objectives.Melody.from_notes("C5:0.5"), 0.0, 2.0, 10.0)
