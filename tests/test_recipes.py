"""Recipe smoke tests: every recipe of the registry runs 2 iterations on the tiny model and writes every output
file, never overwriting.

The recipes run in this process (`run_in_process`): a fresh interpreter would spend most of each test importing
torch. tests/test_faults.py runs recipes as real processes where signals and exit codes need one.
"""

import json

import ditto
import pytest
import soundfile
import torch

from ditto.app.recipes import RECIPES
from ditto.app.runs import KNOWN_FILES
from ditto.app.ui_jobs import CONTROLS, EDITS
from recipe_runs import FAST, ROOT, run_in_process, short_run

TARGETS = {  # a distinctive target for each control; every other recipe runs on its own defaults
    "intensity": ["--shape", "swell"],
    "melody": ["--notes", "C5:0.25 G5:0.25"],
    "structure": ["--form", "AB"],
    "rhythm": ["--bpm", "240"],
    "brightness": ["--shape", "dip"],
    "pitch": ["--notes", "C4:0.25 C5:0.25", "--hop", "0.04"],
    "outpaint": ["--overlap", "0.25"],
    "inpaint": ["--start", "0.2", "--end", "0.35"],
    "loop": ["--overlap", "0.2"],
    "variation": ["--intensity-shape", "fade-out"],
    "extend": ["--seconds", "1.2", "--overlap", "0.25", "--sample-size", str(11 * 2048)],  # the opening: one window
}
CONTROL_FILES = ["baseline.wav", "plot.png", "report.json", "result.wav", "state.pt", "x_T.pt"]


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_publishes_a_report_and_never_overwrites(tmp_path, name, capsys):
    """Every recipe of the registry (a new one too) runs short, publishes its folder with report.json and only
    files a run folder may hold, and refuses to overwrite it; controls and edits write their own files."""
    out = tmp_path / name
    flags = [*TARGETS.get(name, []), *short_run(name, TARGETS.get(name, [])), "--out", out]
    code, _, last = run_in_process(name, flags, capsys)
    assert code == 0, last
    names = {p.name for p in out.iterdir()}
    assert "report.json" in names and names <= set(KNOWN_FILES), names
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] != "interrupted" and "error" not in report and "metrics" in report
    assert report["settings"]["model"] == "tiny"
    assert report["method"] == ("none" if name == "generate" else "ditto")
    if name in CONTROLS:
        check_control_run(out, report)
    elif name in EDITS or name == "variation":
        check_edit_run(out, report, name)

    before = (out / "report.json").read_bytes()
    code, _, last = run_in_process(name, flags, capsys)
    assert code != 0 and last.startswith("error:") and "--overwrite" in last
    assert (out / "report.json").read_bytes() == before


def check_control_run(out, report):
    """A control's short run: every run file, two iterations, both metrics, the window's shapes."""
    assert sorted(p.name for p in out.iterdir()) == CONTROL_FILES
    assert len(report["losses"]) == 2 and set(report["metrics"]) == {"before", "after"}
    assert report["settings"]["iterations"] == 2
    result, rate = soundfile.read(str(out / "result.wav"))
    assert rate == 44100 and result.shape == (22050, 2)
    assert torch.load(out / "x_T.pt")["x_T"].shape == (1, 64, 11)
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def check_edit_run(out, report, name):
    """An edit's run: the stitched edit and its seams before and after (variation: the init audio's metrics)."""
    names = {p.name for p in out.iterdir()}
    assert {"report.json", "plot.png", "x_T.pt"} <= names
    if name == "variation":
        assert report["settings"]["has_init_audio"] and "intensity_mse_db2" in report["metrics"]["after"]
        return
    assert {"edited.wav", "baseline_edited.wav"} <= names
    assert set(report["seams"]) == {"before", "after"} and report["edit"] == name
    edited, rate = soundfile.read(str(out / "edited.wav"))
    assert rate == 44100 and edited.shape[1] == 2
    if name == "inpaint":  # the whole window (11 latents) with the gap regenerated
        assert edited.shape[0] == 11 * 2048
    if name == "extend":  # exactly --seconds long
        assert edited.shape[0] == round(1.2 * 44100)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_help_explains_every_flag(name, capsys):
    code, out, _ = run_in_process(name, ["--help"], capsys)
    assert code == 0
    shared = ("--model", "--prompt", "--out", "--overwrite", "stable-audio-open-1.0")
    optimizing = ("--iterations", "--lr", "--method", "--resume") if name != "generate" else ()
    for flag in shared + optimizing:
        assert flag in out


@pytest.mark.parametrize("name,args,named", [
    ("intensity", ["--curve=-10,nan"], "nan"),
    ("melody", ["--notes", "C4:0.5 X9:1"], "X9"),
    ("structure", ["--form", "A1B"], "A1B"),
    ("melody", ["--midi", "/no/such.mid"], "/no/such.mid"),
    ("intensity", ["--reference", "/no/such.wav"], "/no/such.wav"),
    ("rhythm", ["--onsets=0.1,-1"], "-1.0"),
    ("brightness", ["--curve=800,-5"], "-5.0"),
    ("pitch", ["--notes", "C0:0.5"], "pitch 12"),
])
def test_bad_targets_fail_with_one_line_naming_the_value(tmp_path, name, args, named, capsys):
    code, _, last = run_in_process(name, [*args, *FAST, "--out", str(tmp_path / "x")], capsys)
    assert code == 2
    assert named in last and last.startswith("error:")
    assert not (tmp_path / "x").exists() and not (tmp_path / ".x.partial").exists()


def test_readme_custom_objective_example_runs():
    """The README's custom-objective example, executed as written."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\nimport torch, ditto, objectives")
    code = readme[start + len("```python\n"):readme.index("```", start + 10)]
    code = code.replace("iterations=20", "iterations=3")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    metrics = namespace["result"].metrics
    assert "centroid_khz" in metrics["before"] and "centroid_khz" in metrics["after"]


def test_run_returns_how_it_ended_and_loads_through_the_given_models(tmp_path, capsys):
    """A recipe's run() never exits: a bad flag, --help, a bad target and a done run are each an Outcome (the error
    line also printed), and the model comes from the `models` loader the caller passes (a runner's cache)."""
    from ditto.app import Outcome
    from ditto.app.recipes import intensity

    bad = intensity.run(["--steps", "x", "--out", tmp_path / "x"])
    assert bad == Outcome("refused", 2, "argument --steps: invalid int value: 'x' (see --help)")
    assert capsys.readouterr().err == f"error: {bad.error}\n"
    assert intensity.run(["--help"]) == Outcome("done", 0) and "--shape" in capsys.readouterr().out
    target = intensity.run(["--curve=-10,nan", "--out", tmp_path / "x"])
    assert target.status == "refused" and "nan" in target.error and not (tmp_path / "x").exists()

    loads = []

    def models(source, device=None):
        loads.append((source, device))
        return ditto.load_model(source, device=device)

    out = tmp_path / "run"
    done = intensity.run([*FAST, "--out", out], models=models)
    assert done.status == "done" and done.code == 0 and done.error is None and loads == [("tiny", None)]
    assert {path.name for path in done.paths} >= {"report.json", "result.wav"} and all(p.parent == out for p in done.paths)
