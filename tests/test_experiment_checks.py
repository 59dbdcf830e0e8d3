"""`ditto run` refuses bad input up front (issue 20, "results you can publish"): every job of every grid is built
and checked, values included, against its model's config before anything runs; an experiment folder holds one
experiment; a job folder run with other flags is never taken for done; and every bad input is one `error:` line
naming the file, line and value, exit code 2, with nothing written.

Everything runs in this process; the few real runs are the generate recipe on half a second of the tiny model."""

import json
import shlex
import time

import pytest
import soundfile
import torch

from ditto.app import summary
from ditto.app.experiments import ExperimentError, read_experiment
from ditto.app.runs import job_status
from helpers import ditto_command, sine, write_lines

C = {"iterations": 2, "steps": 4, "seconds": 0.5, "fit-window": True}  # the reproductions
PLAIN = {"recipe": "generate", "seconds": 0.25, "steps": 2}  # the fastest real job


def one_error(capsys) -> str:
    """The command's stderr, which must be exactly one `error:` line."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def tone(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), sine(440.0, samples=22050, sample_rate=44100, amplitude=0.3).numpy(), 44100)
    return path


# 1. every value of every grid list is checked


def test_every_value_of_a_grid_list_is_checked(tmp_path, tone, capsys, no_model):
    experiment = write_lines(
        tmp_path / "e.jsonl",
        {"recipe": "intensity", **C, "grid": {"reference": [str(tone), str(tmp_path / "missing.wav")]}},
        {"recipe": "intensity", **C, "grid": {"prompt": ["ambient pad", None]}})
    out = tmp_path / "out"
    assert ditto_command("run", experiment, "--out", out, "--dry-run") == 2
    error = one_error(capsys)
    assert "line 1: " in error and "missing.wav' is not a file" in error
    assert "line 2: " in error and '"prompt": null is not valid' in error
    assert not out.exists()


# 2. values are checked as the run checks them, against the model's config


def test_values_are_checked_against_the_model_before_anything_runs(tmp_path, capsys, no_model):
    experiment = write_lines(
        tmp_path / "e.jsonl",
        {"recipe": "intensity", **C, "name": "good"},
        {"recipe": "intensity", **C, "prompt": "death metal"},
        {"recipe": "rhythm", **C, "bpm": 0},
        '{"recipe": "intensity", "iterations": 2, "steps": 4, "seconds": 0.5, "fit-window": true, "lr": NaN}',
        {"recipe": "melody", **C, "notes": "H5:0.5"},
        {"recipe": "intensity", "steps": 4, "seconds": 10, "fit-window": False},
        {"recipe": "intensity", **C, "grid": {"seed": [0, 1], "shape": ["crescendo", "swell"],
                                              "low-db": [-40, float("inf")]}, "name": "{shape}-{low_db}-s{seed}"},
        {"recipe": "generate", "prompt": "death metal", "seconds": 0.25})
    out = tmp_path / "out"
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 2
    error = one_error(capsys)
    expected = {2: "'death metal' is not one of this model's prompts", 3: "bpm", 4: "lr must be a finite number > 0, "
                "got nan", 5: "H5", 6: "seconds_total 10.0 is longer than", 8: "'death metal' is not one of"}
    for number, words in expected.items():
        assert f"line {number}: " in error and words in error, (number, error)
    assert "line 1: " not in error
    # a grid's bad jobs name their grid values, once per distinct error
    assert "line 7: job 'crescendo-inf-s0' (grid {\"seed\": 0, \"shape\": \"crescendo\", \"low-db\": Infinity})" \
        in error and "(and 3 more jobs of this line)" in error
    assert not out.exists()


def test_the_check_reports_the_runs_own_message(tmp_path, capsys):
    """One definition: the recipe's run and the experiment check build the target the same way."""
    for flags, job in ((["--bpm", "0"], {"bpm": 0}), (["--notes", "H5:0.5"], {"notes": "H5:0.5"})):
        recipe = "rhythm" if "bpm" in job else "melody"
        assert ditto_command(recipe, *flags, "--out", tmp_path / "o", "--quiet") == 2
        run_error = one_error(capsys).removeprefix("error: ")
        with pytest.raises(ExperimentError) as caught:
            read_experiment(write_lines(tmp_path / "e.jsonl", {"recipe": recipe, **job}))
        assert run_error in str(caught.value)


def test_the_config_alone_gives_the_models_facts(tiny):
    from ditto.app.cli import ConfigModel
    facts = ConfigModel("tiny")
    assert (facts.sample_rate, facts.sample_size, facts.latent_stride, facts.diffusion_objective) == \
           (tiny.sample_rate, tiny.sample_size, tiny.latent_stride, tiny.diffusion_objective)
    assert facts.defaults == tiny.defaults


# 3. an experiment folder holds one experiment; a job folder run with other flags is never done


def test_another_experiment_into_an_existing_folder_is_refused(tmp_path, capsys):
    first = write_lines(tmp_path / "a.jsonl", {**PLAIN, "name": "a"})
    out = tmp_path / "exp"
    assert ditto_command("run", first, "--out", out, "--quiet") == 0
    jobs = (out / "jobs.jsonl").read_text()
    other = write_lines(tmp_path / "b.jsonl", {**PLAIN, "name": "b"})
    capsys.readouterr()
    assert ditto_command("run", other, "--out", out, "--quiet") == 2
    error = one_error(capsys)
    assert "holds another experiment" in error and "new --out" in error
    assert (out / "jobs.jsonl").read_text() == jobs and not (out / "b").exists()
    assert ditto_command("run", other, "--out", out, "--dry-run") == 2


def test_a_job_folder_run_with_other_flags_is_never_reported_done(tmp_path, capsys):
    first = write_lines(tmp_path / "a.jsonl", {**PLAIN, "grid": {"seed": [0]}, "name": "g{seed}"})
    out = tmp_path / "exp"
    assert ditto_command("run", first, "--out", out, "--quiet") == 0
    # the folder's record survives whatever happens to jobs.jsonl (an older ditto replaced it, a hand edit...)
    changed = {**PLAIN, "name": "g0", "seed": 7}
    (out / "jobs.jsonl").write_text(json.dumps({"name": "g0", "recipe": "generate",
                                                "flags": {k: v for k, v in changed.items()
                                                          if k not in ("recipe", "name")}}) + "\n")
    assert job_status(out, "g0", json.loads((out / "jobs.jsonl").read_text())) == "stale"
    capsys.readouterr()
    assert ditto_command("run", write_lines(tmp_path / "b.jsonl", changed), "--out", out, "--quiet") == 2
    error = one_error(capsys)
    assert "job 'g0'" in error and "other flags" in error
    assert ditto_command("summarize", out) == 0
    assert "- `g0` (generate): stale" in (out / "summary.md").read_text()


# 4. job names cannot be the experiment folder's own entries


@pytest.mark.parametrize("name", ["summary.csv", "summary.md", "summary.png", "jobs.jsonl", "logs", "Logs"])
def test_a_job_name_cannot_be_an_entry_of_the_experiment_folder(tmp_path, capsys, name):
    experiment = write_lines(tmp_path / "e.jsonl", {**PLAIN, "name": name})
    out = tmp_path / "out"
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 2
    error = one_error(capsys)
    assert f"job name {name!r} is one of the experiment folder's own entries" in error and not out.exists()


# 5. a bad --device


@pytest.mark.parametrize("recipe", ["intensity", "generate", "extend"])
def test_a_bad_device_is_one_line_before_any_work(tmp_path, capsys, no_model, recipe):
    out = tmp_path / "out"
    assert ditto_command(recipe, "--device", "banana", "--seconds", "1", "--out", out) == 2
    error = one_error(capsys)
    assert "'banana' is not a torch device; valid here: cpu" in error and not out.exists()
    if not torch.cuda.is_available():
        assert ditto_command(recipe, "--device", "cuda", "--seconds", "1", "--out", out) == 2
        assert "'cuda' is not available on this machine; valid here: cpu" in one_error(capsys)
        assert not out.exists()


def test_a_bad_device_fails_the_whole_run_up_front(tmp_path, capsys, no_model):
    experiment = write_lines(tmp_path / "e.jsonl", {**PLAIN, "name": "a"})
    out = tmp_path / "out"
    assert ditto_command("run", experiment, "--out", out, "--device", "banana") == 2
    assert "'banana' is not a torch device" in one_error(capsys) and not out.exists()


# 6. one line naming the file (and line), never a traceback


@pytest.mark.parametrize("content,words", [
    ('{"name": "a", "recipe": "generate", "flags": {"seconds": 0.25, "st\n', "line 1: not JSON"),
    ('{"something": "else"}\n', "line 1: expected a job"),
    ('\n{"name": "a", "recipe": "generate", "flags": {}}\n[1, 2]\n', "line 3: expected a job"),
])
def test_a_broken_jobs_file_is_one_line_naming_it(tmp_path, capsys, content, words):
    experiment = write_lines(tmp_path / "e.jsonl", {**PLAIN, "name": "a"})
    out = tmp_path / "out"
    out.mkdir()
    (out / "jobs.jsonl").write_text(content)
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 2
    error = one_error(capsys)
    assert "jobs.jsonl" in error and words in error
    assert (out / "jobs.jsonl").read_text() == content  # nothing changed
    assert ditto_command("summarize", out) == 2
    error = one_error(capsys)
    assert "jobs.jsonl" in error and words in error


def test_an_experiment_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    experiment = tmp_path / "e.jsonl"
    experiment.write_bytes(b'{"recipe": "generate"}\n{"recipe": "generate", "prompt": "caf\xe9"}\n')
    assert ditto_command("run", experiment, "--out", tmp_path / "out", "--dry-run") == 2
    error = one_error(capsys)
    assert str(experiment) in error and "line 2: not UTF-8" in error


def test_summarize_into_a_folder_it_cannot_write_is_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "exp"
    assert ditto_command("run", write_lines(tmp_path / "e.jsonl", {**PLAIN, "name": "a"}), "--out", out, "--quiet") == 0
    capsys.readouterr()

    def read_only(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(summary, "atomic_write", read_only)
    assert ditto_command("summarize", out) == 2
    error = one_error(capsys)
    assert "summary.csv" in error and "Permission denied" in error


# the unclear findings


def test_dry_run_checks_that_out_can_be_written(tmp_path, capsys):
    experiment = write_lines(tmp_path / "e.jsonl", {**PLAIN, "name": "a"})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert ditto_command("run", experiment, "--out", blocker / "out", "--dry-run") == 2
    assert "cannot write to --out" in one_error(capsys)


def test_dry_run_prints_command_lines_a_shell_takes_back(tmp_path, capsys):
    experiment = write_lines(tmp_path / "e.jsonl", {"recipe": "intensity", **C, "prompt": "solo piano",
                                                    "curve": [-40, -10], "name": "a"})
    assert ditto_command("run", experiment, "--out", tmp_path / "out", "--dry-run") == 0
    line = capsys.readouterr().out.splitlines()[0]
    words = shlex.split(line.split(": ", 1)[1])
    assert words[:2] == ["ditto", "intensity"] and "--prompt=solo piano" in words
    assert words[2:] == read_experiment(experiment)[0].argv()


def test_a_huge_grid_is_refused_quickly_unless_allowed(tmp_path, capsys):
    experiment = write_lines(tmp_path / "e.jsonl", {**PLAIN, "grid": {"seed": list(range(1000)),
                                                                       "cfg-scale": list(range(1, 101))}})
    start = time.perf_counter()
    assert ditto_command("run", experiment, "--out", tmp_path / "out", "--dry-run") == 2
    assert time.perf_counter() - start < 5
    error = one_error(capsys)
    assert "more than 10000 jobs" in error and "--max-jobs" in error
    small = write_lines(tmp_path / "s.jsonl", {**PLAIN, "grid": {"seed": list(range(3))}})
    assert ditto_command("run", small, "--out", tmp_path / "out", "--dry-run", "--max-jobs", "2") == 2
    assert "more than 2 jobs" in one_error(capsys)
    assert ditto_command("run", small, "--out", tmp_path / "out", "--dry-run", "--max-jobs", "3") == 0


def test_a_corrupt_report_is_its_own_status(tmp_path, capsys):
    out = tmp_path / "exp"
    experiment = write_lines(tmp_path / "e.jsonl", {**PLAIN, "name": "a"})
    assert ditto_command("run", experiment, "--out", out, "--quiet") == 0
    (out / "a" / "report.json").write_text('{"seconds": ')
    assert job_status(out, "a") == "corrupt"
    capsys.readouterr()
    assert ditto_command("run", experiment, "--out", out, "--dry-run") == 0
    assert capsys.readouterr().out.split()[:3] == ["skip", "corrupt", "a:"]
    assert ditto_command("summarize", out) == 0
    assert "- `a` (generate): corrupt: its report.json is not readable JSON" in (out / "summary.md").read_text()


@pytest.mark.parametrize("which", ["intensity", "generate", "run"])
def test_help_shows_each_default_once(capsys, which):
    assert ditto_command(which, "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    assert text.count("(default: cuda if available, else cpu)") <= 1
    assert "else cpu) (default" not in text and "else cpu)) (default" not in text


def test_a_recipe_without_its_own_check_has_its_target_checked_before_anything_runs(tmp_path, capsys):
    """extend's model-free target (--max-windows, --fit-window) is built for every job before any job runs."""
    experiment = write_lines(tmp_path / "e.jsonl", {"recipe": "extend", "seconds": 4, "max-windows": 0})
    assert ditto_command("run", experiment, "--out", tmp_path / "out") == 2
    assert "--max-windows 0 is invalid" in one_error(capsys) and not (tmp_path / "out").exists()
