"""Recipe smoke tests: each runs 2 iterations on the tiny model and writes every output file, never overwriting.

The recipes run in this process (`run_in_process`): a fresh interpreter would spend most of each test importing
torch. tests/test_faults.py runs recipes as real processes where signals and exit codes need one.
"""

import json

import pytest
import soundfile
import torch

from recipe_runs import FAST, ROOT, run_in_process

RECIPES = {
    "intensity": ["--shape", "swell"],
    "melody": ["--notes", "C5:0.25 G5:0.25"],
    "structure": ["--form", "AB"],
    "rhythm": ["--bpm", "240"],
    "brightness": ["--shape", "dip"],
    "pitch": ["--notes", "C4:0.25 C5:0.25", "--hop", "0.04"],
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_writes_every_output_and_never_overwrites(tmp_path, name, capsys):
    out = tmp_path / name
    code, _, last = run_in_process(name, [*RECIPES[name], *FAST, "--out", out], capsys)
    assert code == 0, last
    assert sorted(p.name for p in out.iterdir()) == ["baseline.wav", "plot.png", "report.json", "result.wav",
                                                      "state.pt", "x_T.pt"]
    report = json.loads((out / "report.json").read_text())
    assert len(report["losses"]) == 2 and set(report["metrics"]) == {"before", "after"}
    assert report["settings"]["iterations"] == 2 and report["settings"]["model"] == "tiny"
    result, rate = soundfile.read(str(out / "result.wav"))
    assert rate == 44100 and result.shape == (22050, 2)
    assert torch.load(out / "x_T.pt")["x_T"].shape == (1, 64, 11)
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    before = (out / "report.json").read_bytes()
    code, _, last = run_in_process(name, [*RECIPES[name], *FAST, "--out", out], capsys)
    assert code != 0 and last.startswith("error:") and "--overwrite" in last
    assert (out / "report.json").read_bytes() == before


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_help_explains_every_flag(name, capsys):
    code, out, _ = run_in_process(name, ["--help"], capsys)
    assert code == 0
    for flag in ("--model", "--prompt", "--iterations", "--lr", "--out", "--overwrite", "stable-audio-open-1.0"):
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


EDIT_RECIPES = {
    "outpaint": ["--overlap", "0.25"],
    "inpaint": ["--start", "0.2", "--end", "0.35"],
    "loop": ["--overlap", "0.2"],
    "variation": ["--intensity-shape", "fade-out"],
}


@pytest.mark.parametrize("name", sorted(EDIT_RECIPES))
def test_editing_recipes_write_the_edit_and_its_seams(tmp_path, name, capsys):
    out = tmp_path / name
    code, _, last = run_in_process(name, [*EDIT_RECIPES[name], *FAST, "--out", out], capsys)
    assert code == 0, last
    names = {p.name for p in out.iterdir()}
    assert {"result.wav", "baseline.wav", "report.json", "plot.png", "x_T.pt"} <= names
    report = json.loads((out / "report.json").read_text())
    if name == "variation":
        assert report["settings"]["has_init_audio"] and "intensity_mse_db2" in report["metrics"]["after"]
        return
    assert {"edited.wav", "baseline_edited.wav"} <= names
    assert set(report["seams"]) == {"before", "after"} and report["edit"] == name
    edited, rate = soundfile.read(str(out / "edited.wav"))
    assert rate == 44100 and edited.shape[1] == 2
    if name == "inpaint":  # the whole window (11 latents) with the gap regenerated
        assert edited.shape[0] == 11 * 2048
