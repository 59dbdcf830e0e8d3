"""`ditto run` / `ditto summarize`: experiment files checked whole, jobs sharded over torchrun, resumable runs,
failures contained, and the tables rebuilt from the job folders."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile
from scipy import stats

from ditto.app.experiments import ExperimentError, read_experiment
from ditto.app.runs import job_status
from ditto.app.summary import mean_interval
from helpers import ditto_command, write_lines

ROOT = Path(__file__).resolve().parents[1]
SHORT = {"seconds": 0.5, "fit-window": True, "steps": 3}  # the tiny model, half a second, three sampler steps


def read_rows(out: Path) -> list[dict]:
    with open(out / "summary.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_jobs_and_grids_expand_in_file_order_with_their_flags(tmp_path):
    experiment = write_lines(
        tmp_path / "e.jsonl", "# the paper's shapes, two seeds",
        {"recipe": "intensity", "name": "one", "curve": [-40, -10.5], "fit-window": True, "seconds": 0.5},
        {"recipe": "intensity", "grid": {"shape": ["crescendo", "swell"], "seed": [0, 1]}, "name": "{shape}-s{seed}",
         "optimize-noise": False},
        "", {"recipe": "melody", "grid": {"seed": [0, 1]}})
    jobs = read_experiment(experiment)
    assert [job.name for job in jobs[:5]] == ["one", "crescendo-s0", "crescendo-s1", "swell-s0", "swell-s1"]
    assert jobs[0].argv() == ["--curve=-40,-10.5", "--fit-window", "--seconds=0.5"]
    assert jobs[4].argv() == ["--no-optimize-noise", "--shape=swell", "--seed=1"]
    assert [job.line for job in jobs] == [2, 3, 3, 3, 3, 5, 5]
    unnamed = [job.name for job in jobs[5:]]  # recipe + hash of the flags: stable when lines move, new when they change
    assert unnamed[0].startswith("melody-") and unnamed[0] != unnamed[1]
    assert [job.name for job in read_experiment(experiment)] == [job.name for job in jobs]


def test_every_bad_line_is_reported_with_its_number_before_anything_runs(tmp_path):
    experiment = write_lines(
        tmp_path / "bad.jsonl",
        {"recipe": "intensity", "shap": "crescendo"},
        {"recipe": "intensty"},
        "not json",
        {"recipe": "intensity", "shape": "loud"},
        {"recipe": "intensity", "fit-window": 1},
        {"recipe": "intensity", "out": "x"},
        {"recipe": "intensity", "grid": {"seed": [0, 1]}, "name": "same"},
        {"recipe": "intensity", "grid": {"seed": [0, 1]}, "name": "{sed}"},
        {"recipe": "melody", "reference": str(tmp_path / "missing.wav")},
        {"recipe": "intensity", "seed": "abc"})
    with pytest.raises(ExperimentError) as caught:
        read_experiment(experiment)
    message = str(caught.value)
    expected = {1: "no flag --shap; did you mean \"shape\"", 2: "'intensty' is not a recipe", 3: "not JSON",
                4: "invalid choice: 'loud'", 5: "--fit-window takes true or false", 6: "\"out\" is set by ditto run",
                7: "names two jobs 'same'", 8: "'{sed}' uses 'sed'", 9: "missing.wav' is not a file",
                10: "invalid int value: 'abc'"}
    for number, words in expected.items():
        assert f"line {number}: " in message and words in message, (number, message)
    out = tmp_path / "out"
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 2
    assert not out.exists()  # nothing ran, nothing was written


def test_a_run_contains_failures_resumes_and_summarizes(tmp_path, capsys):
    experiment = write_lines(
        tmp_path / "e.jsonl",
        {"recipe": "intensity", **SHORT, "iterations": 3, "grid": {"shape": ["crescendo", "swell"]}, "name": "{shape}"},
        {"recipe": "melody", **SHORT, "iterations": 3, "name": "tune", "method": "ditto"},
        {"recipe": "inpaint", **SHORT, "iterations": 3, "name": "broken", "start": 5, "end": 6},  # past the clip
        {"recipe": "generate", "seconds": 0.25, "steps": 3, "name": "plain"})
    out = tmp_path / "out"
    assert ditto_command("run", experiment, "--out", out, "--dry-run") == 0
    assert not out.exists() and capsys.readouterr().out.splitlines()[-1] == (
        f"5 jobs: 5 run (in {out}; nothing was run or written)")
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 1  # one job failed, the others went on
    capsys.readouterr()
    assert ditto_command("run", experiment, "--out", out, "--dry-run", "--retry-failed") == 0
    plan = capsys.readouterr().out.splitlines()
    assert plan[0].split()[:3] == ["skip", "done", "crescendo:"] and plan[3].split()[:3] == ["start", "over", "failed"]
    rows = {row["name"]: row for row in read_rows(out)}
    assert [row["status"] for row in rows.values()] == ["done", "done", "done", "failed", "done"]
    assert "gap" in rows["broken"]["error"] and rows["broken"]["error"] == json.loads(
        (out / "broken" / "error.json").read_text())["error"]
    assert sorted(p.name for p in (out / "broken").iterdir()) == ["error.json", "job.json"]
    assert float(rows["crescendo"]["intensity_mse_db2_after"]) < float(rows["crescendo"]["intensity_mse_db2_before"])
    assert rows["tune"]["melody_accuracy_after"] and rows["plain"]["method"] == "none"
    assert rows["crescendo"]["shape"] == "crescendo" and "steps" not in rows["crescendo"]  # only flags that vary
    assert rows["plain"]["flag_seconds"] == "0.25" and rows["crescendo"]["flag_seconds"] == "0.5"  # not the timing
    header = (out / "summary.csv").read_text().splitlines()[0].split(",")
    assert len(header) == len(set(header)) and "method" in header  # --method varies: it is the method column
    table = (out / "summary.md").read_text()
    assert "| intensity | ditto | intensity_mse_db2 (lower is better) | 2 |" in table
    assert "- `broken` (inpaint): failed: " in table
    assert (out / "summary.png").stat().st_size > 0

    files = [out / "crescendo" / "report.json", out / "tune" / "report.json", out / "broken" / "error.json"]
    stamps = [path.stat().st_mtime_ns for path in files]
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 1  # done and failed jobs are not run again
    assert stamps == [path.stat().st_mtime_ns for path in files]
    assert ditto_command("run", experiment, "--out", out, "--quiet", "--retry-failed") == 1  # fails the same way
    assert stamps[:2] == [path.stat().st_mtime_ns for path in files[:2]] and stamps[2] != files[2].stat().st_mtime_ns

    table, rows = (out / "summary.md").read_text(), read_rows(out)
    (out / "summary.md").unlink()
    (out / "summary.csv").write_text("stale\n")
    assert ditto_command("summarize", out) == 0  # the tables come from the job folders alone
    assert (out / "summary.md").read_text() == table and read_rows(out) == rows
    assert ditto_command("summarize", tmp_path) == 2 and "holds no jobs.jsonl" in capsys.readouterr().err


def test_a_rerun_refuses_a_changed_job_under_an_old_name_and_a_foreign_folder(tmp_path, capsys):
    first = write_lines(tmp_path / "a.jsonl", {"recipe": "generate", "seconds": 0.5, "steps": 2, "name": "g"})
    out = tmp_path / "out"
    assert ditto_command("run", first, "--out", out, "--quiet") == 0
    changed = write_lines(tmp_path / "b.jsonl", {"recipe": "generate", "seconds": 0.5, "steps": 3, "name": "g"})
    capsys.readouterr()
    assert ditto_command("run", changed, "--out", out, "--quiet") == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: line 1: job 'g'") and "other flags" in error and "\n" not in error
    assert json.loads((out / "jobs.jsonl").read_text())["flags"]["steps"] == 2  # the old record stays
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert ditto_command("run", first, "--out", foreign, "--quiet") == 2
    assert "not a ditto experiment" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_the_confidence_interval_is_students_t_of_the_mean():
    mean, half_width = mean_interval([1.0, 2.0, 3.0])  # sd 1, n 3
    assert mean == 2.0 and math.isclose(half_width, stats.t.ppf(0.975, 2) / math.sqrt(3))
    assert math.isclose(half_width, 2.484, rel_tol=1e-3)  # t(0.975, 2) = 4.303 (any t table)
    assert math.isnan(mean_interval([5.0])[1])


def torchrun(experiment: Path, out: Path, **popen) -> subprocess.Popen:
    command_line = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    "-m", "ditto", "run", str(experiment), "--out", str(out), "--quiet"]
    return subprocess.Popen(command_line, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **popen)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def metric_columns(out: Path) -> list[tuple]:
    return [(row["name"], row["status"], row["intensity_mse_db2_before"], row["intensity_mse_db2_after"])
            for row in read_rows(out)]


def test_torchrun_shards_jobs_and_a_killed_run_continues_to_the_single_process_result(tmp_path):
    """Two gloo processes, six jobs; SIGKILL to the whole process group mid-run (a lost node), then the same
    command again: no finished job runs again, interrupted ones resume from their saved state, and every metric
    equals a one-process run's bit for bit (one thread per process in both, as torchrun sets)."""
    experiment = write_lines(tmp_path / "e.jsonl", {
        "recipe": "intensity", **SHORT, "iterations": 8, "save-every": 1,
        "grid": {"shape": ["crescendo", "swell", "pulse"], "seed": [0, 1]}, "name": "{shape}-s{seed}"})
    names = [job.name for job in read_experiment(experiment)]
    out = tmp_path / "sharded"
    first = torchrun(experiment, out)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        done = [name for name in names if job_status(out, name) == "done"]
        staged = [name for name in names if (out / f".{name}.partial" / "state.pt").is_file()]
        if len(done) >= 2 and staged:
            break
        time.sleep(0.2)
    assert first.poll() is None, f"the run ended before it could be killed:\n{first.communicate()[0]}"
    for pid in [first.pid, *children(first.pid)]:  # torchrun starts its workers in sessions of their own
        os.kill(pid, signal.SIGKILL)
    first.wait()
    done = {name: (out / name / "report.json").stat().st_mtime_ns for name in names
            if job_status(out, name) == "done"}
    interrupted = [name for name in names if job_status(out, name) == "interrupted"]
    assert done and interrupted and len(done) < len(names)

    second = torchrun(experiment, out)
    printed = second.communicate(timeout=600)[0]
    assert second.returncode == 0, printed
    assert done == {name: (out / name / "report.json").stat().st_mtime_ns for name in done}
    for name in interrupted:
        assert " --resume " in (out / "logs" / f"{name}.log").read_text().splitlines()[0] + " "
    assert {row["device"] for row in read_rows(out)} == {"cpu"}

    single = tmp_path / "single"
    one = subprocess.run([sys.executable, "-m", "ditto", "run", str(experiment), "--out", str(single), "--quiet"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ,
                                                                                     "OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, one.stderr
    assert metric_columns(out) == metric_columns(single)
    assert all(status == "done" for _, status, _, _ in metric_columns(out))


@pytest.mark.parametrize("path", sorted((ROOT / "recipes" / "experiments").glob("*.jsonl")), ids=lambda p: p.name)
def test_the_example_experiments_are_valid(path):
    """Checked whole; a hub model's values only where its config is at hand (HF_HUB_OFFLINE in the tests)."""
    jobs = read_experiment(path, check="stabilityai/" not in path.read_text())
    assert jobs and len({job.name for job in jobs}) == len(jobs)


def test_the_ditto_command_lists_its_commands_and_refuses_unknown_ones(capsys):
    assert ditto_command("--help") == 0
    usage = capsys.readouterr().out
    assert "intensity" in usage and "run EXPERIMENT.jsonl --out DIR" in usage and "summarize DIR" in usage
    assert ditto_command("intensityy") == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown command 'intensityy'; expected one of intensity")
    assert ditto_command("run", "--out", "x") == 2  # the experiment file is required
    assert "error: the following arguments are required: experiment" in capsys.readouterr().err


def test_an_interrupted_extend_job_resumes_from_its_last_window(tmp_path):
    """extend saves its chain after every window; an interrupted extend job continues with --resume."""
    experiment = write_lines(tmp_path / "e.jsonl", {"recipe": "extend", "seconds": 4, "overlap": 0.5, "steps": 2,
                                                    "iterations": 1, "name": "longer"})
    out = tmp_path / "out"
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 0
    piece = soundfile.read(str(out / "longer" / "edited.wav"), dtype="float32")[0]
    report = out / "longer" / "report.json"
    report.write_text(json.dumps({**json.loads(report.read_text()), "stop_reason": "interrupted"}))
    assert job_status(out, "longer") == "interrupted"
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 0
    assert " --resume " in (out / "logs" / "longer.log").read_text().splitlines()[0]
    assert job_status(out, "longer") == "done"
    assert (soundfile.read(str(out / "longer" / "edited.wav"), dtype="float32")[0] == piece).all()
