"""Fault injection: interrupts and --resume, full and read-only disks, and bad input that must not run.

Every failure ends in one `error:` line naming the bad value or path; bad input exits 2 and leaves no folder, an
interrupt exits 130 with the best result so far written, and --resume reaches the bitwise-same x_T.pt and losses.

Only the runs that are signalled or killed are real processes; every other recipe run is in this process
(`run_in_process`), which saves the seconds a fresh interpreter spends importing torch.
"""

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import time

import numpy as np
import pytest
import soundfile
import torch

from helpers import model_copy, truncate_weights
from recipe_runs import FAST, ROOT, assert_one_line_error, call_main, no_run_left, recipe_command, run_in_process

RESUMABLE = ["--seconds", "0.5", "--fit-window", "--steps", "3", "--iterations", "6", "--quiet", "--save-every", "1"]


def read_run(out):
    report = json.loads((out / "report.json").read_text())
    return report, (out / "x_T.pt").read_bytes()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    assert call_main("intensity", [*RESUMABLE, "--out", out]) == 0
    return read_run(out)


def interrupt_after_first_save(out, signum):
    """Start the resumable run as a process, send `signum` once its first state is saved; the finished process.

    It computes with this process's torch thread count, so its iterations are bitwise those of the runs in here.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    process = subprocess.Popen(recipe_command("intensity", *RESUMABLE, "--out", out), cwd=ROOT, text=True, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = out.parent / f".{out.name}.partial" / "state.pt"
    deadline = time.monotonic() + 240
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=240)
    return process.returncode, stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_writes_the_best_so_far_and_resume_is_bitwise_identical(tmp_path, uninterrupted, signum, capsys):
    out = tmp_path / "run"
    code, stderr = interrupt_after_first_save(out, signum)
    assert code == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted after") and "--resume" in stderr
    report, _ = read_run(out)
    assert report["stop_reason"] == "interrupted" and 1 <= len(report["losses"]) < 6
    assert (out / "result.wav").is_file() and (out / "state.pt").is_file()

    code, _, last = run_in_process("intensity", [*RESUMABLE, "--out", out], capsys)
    assert code != 0 and "--resume" in last  # a rerun never silently replaces it
    code, _, last = run_in_process("intensity", [*RESUMABLE, "--out", out, "--resume"], capsys)
    assert code == 0, last
    report, x_T_bytes = read_run(out)
    whole_report, whole_x_T_bytes = uninterrupted
    assert report["losses"] == whole_report["losses"] and report["stop_reason"] == "iterations"
    assert x_T_bytes == whole_x_T_bytes


def test_killed_run_leaves_no_folder_and_resumes_from_its_state(tmp_path, uninterrupted, capsys):
    out = tmp_path / "run"
    code, _ = interrupt_after_first_save(out, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not out.exists() and (tmp_path / ".run.partial" / "state.pt").is_file()
    code, _, last = run_in_process("intensity", [*RESUMABLE, "--out", out], capsys)
    assert code == 2 and "unfinished run" in last and "--resume" in last
    code, _, last = run_in_process("intensity", [*RESUMABLE, "--out", out, "--resume"], capsys)
    assert code == 0, last
    assert read_run(out)[1] == uninterrupted[1] and not (tmp_path / ".run.partial").exists()


@contextlib.contextmanager
def tmpfs(path, options):
    """A small tmpfs at `path` (needs root and mount); skips the test with the reason otherwise."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_fails_in_one_line_keeps_the_state_and_leaves_no_run(tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "size=96k") as disk:
        out = disk / "run"
        code, _, last = run_in_process("intensity", [*FAST, "--out", out], capsys)
        assert code == 1
        assert last.startswith("error: cannot write") and "No space left on device" in last and str(disk) in last
        assert "--resume" in last
        assert not out.exists() and sorted(p.name for p in (disk / ".run.partial").iterdir()) == ["state.pt"]
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        code, _, last = run_in_process("intensity", [*FAST, "--out", out, "--resume"], capsys)
        assert code == 0, last
        assert (out / "report.json").is_file() and not (disk / ".run.partial").exists()


def test_read_only_folder_fails_before_any_work(tmp_path, capsys, no_model):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as read_only:
        code = call_main("intensity", [*FAST, "--out", read_only / "run"])
        printed = capsys.readouterr()
        assert code == 2 and printed.out == "" and printed.err.count("\n") == 1  # one line, nothing ran
        last = printed.err.strip()
        assert last.startswith("error: cannot write to --out") and "Read-only file system" in last
        assert str(read_only / "run") in last


def write_wav(path, audio, rate=44100):
    soundfile.write(str(path), np.asarray(audio, dtype=np.float32), rate, subtype="FLOAT")
    return path


@pytest.fixture
def nan_wav(tmp_path):
    audio = np.zeros((22050, 2), dtype=np.float32)
    audio[100] = np.nan
    return write_wav(tmp_path / "nan.wav", audio)


@pytest.fixture
def broken_model(tmp_path):
    """A copy of the tiny model's folder, its weights cut to half their bytes."""
    return truncate_weights(model_copy(tmp_path / "broken"))


BAD_INPUT = [  # (recipe, flags, what the error line must name)
    ("variation", ["--init-audio", "{nan_wav}"], "nan.wav"),
    ("outpaint", ["--reference", "{nan_wav}"], "nan.wav"),
    ("intensity", ["--reference", "{nan_wav}"], "nan.wav"),
    ("intensity", ["--prompt", "death metal"], "death metal"),
    ("intensity", ["--seconds", "10", "--steps", "2"], "10"),
    ("intensity", ["--curve", "-40,x,-30"], "'x'"),
    ("structure", ["--boundaries", "0.2,x"], "--boundaries"),
    ("intensity", ["--model", "{broken_model}"], "model.safetensors"),
    ("intensity", ["--model", "nope"], "nope"),
    ("generate", ["--model", "nope"], "nope"),
    ("generate", ["--steps", "0"], "steps"),
    ("generate", ["--seconds", "-1"], "-1"),
    ("generate", ["--prompt", "death metal", "--steps", "2"], "death metal"),
]


@pytest.mark.parametrize("name,flags,named", BAD_INPUT, ids=[f"{n}:{' '.join(f)}" for n, f, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_and_no_folder(tmp_path, capsys, request, name, flags, named):
    files = {key: request.getfixturevalue(key) for key in ("nan_wav", "broken_model") if any(key in f for f in flags)}
    flags = [flag.format(**files) for flag in flags]
    named = named.format(**files)
    out = tmp_path / "out"
    speed = [] if name == "generate" else ["--steps", "2", "--iterations", "2", "--quiet"]
    code, _, last = run_in_process(name, [*speed, *flags, "--out", out], capsys)
    assert_one_line_error(code, last, named)
    assert no_run_left(out)


def test_negative_curve_as_its_help_shows_it(tmp_path, capsys):
    code, _, _ = run_in_process("intensity", ["--curve", "-40,-10,-30", *FAST, "--out", tmp_path / "out"], capsys)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert code == 0 and report["objective"] == "intensity: curve [-40.0, -10.0, -30.0] dB"


def test_a_diverging_lr_says_no_iteration_improved(tmp_path, capsys):
    code, _, last = run_in_process("intensity", [*FAST, "--lr", "1e6", "--iterations", "3", "--out", tmp_path / "out"],
                                   capsys)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert code == 0 and report["improved"] is False and report["best_iteration"] == 0
    assert "no iteration improved" in report["warning"] and "1000000" in report["warning"]
    assert last.startswith("warning: no iteration improved")


def test_overwrite_replaces_the_whole_run_with_usual_permissions(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_in_process("outpaint", ["--overlap", "0.25", *FAST, "--out", out], capsys)[0] == 0
    assert (out / "edited.wav").is_file()
    old_umask = os.umask(0o022)
    try:
        code, _, _ = run_in_process("intensity", [*FAST, "--out", out, "--overwrite"], capsys)
    finally:
        os.umask(old_umask)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["baseline.wav", "plot.png", "report.json", "result.wav",
                                                      "state.pt", "x_T.pt"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o644}
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_a_folder_with_other_files_is_never_replaced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, last = run_in_process("intensity", [*FAST, "--out", out, "--overwrite"], capsys)
    assert_one_line_error(code, last, "notes.txt")
    assert (out / "notes.txt").read_text() == "keep me" and not (tmp_path / ".mine.partial").exists()


def test_optimize_resumes_bitwise_in_python(tiny, tmp_path):
    """The API offers what --resume does: state_path + should_stop, then resume=path."""
    import ditto
    import objectives
    crescendo = objectives.Intensity.from_shape("crescendo")
    settings = dict(prompt="solo piano", seconds_total=0.5, sample_size=11 * 2048, steps=3, iterations=5,
                    progress=False)
    whole = ditto.optimize(tiny, crescendo, **settings)
    asked = iter([False, True])
    state = tmp_path / "state.pt"
    part = ditto.optimize(tiny, crescendo, state_path=state, should_stop=lambda: next(asked), **settings)
    assert part.stop_reason == "interrupted" and len(part.losses) == 2
    resumed = ditto.optimize(tiny, crescendo, resume=state, **settings)
    assert resumed.losses == whole.losses and torch.equal(resumed.x_T, whole.x_T)
    with pytest.raises(ValueError, match="steps=3 -> 4"):
        ditto.optimize(tiny, crescendo, resume=state, **{**settings, "steps": 4})
