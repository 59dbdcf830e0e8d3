"""The tutorial (docs/tutorial.py) with a Stable Audio 3 model: its Setup, section 1 (load) and section 6 (DITTO,
minus the melody) run as written with MODEL set to a Stable Audio 3 folder (a tiny twin, tests/sa3_twins.py), at a
short length and a few iterations. Sections 2 to 5 take a v-model's chain apart: the text says they need the tiny
model or SAO 1.0, and tests/test_tutorial.py runs them."""

import importlib.util
from pathlib import Path

import matplotlib
import pytest

from ditto import sat as sat_adapter

import sa3_twins

DOCS = Path(__file__).resolve().parents[1] / "docs"

pytestmark = pytest.mark.skipif(not sat_adapter.SAT_0_0_20, reason="Stable Audio 3 needs stable-audio-tools 0.0.20")


def code_cells() -> list[tuple[str, str]]:
    """The tutorial's cells as (section, source) for code cells, section being the last "## " heading seen."""
    spec = importlib.util.spec_from_file_location("make_tutorial", DOCS / "make_tutorial.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    section, cells = "", []
    for kind, source in maker.script_cells((DOCS / "tutorial.py").read_text()):
        headings = [line for line in source.splitlines() if line.startswith("## ")] if kind == "markdown" else []
        section = headings[-1] if headings else section
        if kind == "code":
            cells.append((section, source))
    return cells


def test_the_setup_and_ditto_sections_run_on_stable_audio_3(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    folder = sa3_twins.sa3_twin(tmp_path / "stable-audio-3-small-music", "small", seed=3)
    monkeypatch.chdir(tmp_path)
    cells = code_cells()
    setup = [source for section, source in cells if section == "## Setup"]
    assert 'MODEL = "tiny"' in setup[0]
    namespace = {}
    exec(setup[0].replace('MODEL = "tiny"', f"MODEL = {str(folder)!r}", 1), namespace)
    assert namespace["DITTO_STEPS"] is None  # the model's own: pingpong, 8 steps, CFG 1
    namespace.update(SECONDS=0.5, ITERATIONS=2, MODE_ITERATIONS=2)  # short and few: the same code paths
    for source in setup[1:]:
        exec(source, namespace)
    ran = []
    for section, source in cells:
        if section.startswith(("## 1.", "## 6.")) and "objectives.Melody" not in source:
            exec(source, namespace)
            ran.append(section)
    assert ran.count("## 1. Load a model") == 1 and ran.count("## 6. DITTO: steer the music by optimizing x_T") >= 4
    result = namespace["result"]
    assert result.settings["sampler"] == "pingpong" and result.settings["steps"] == 8
    assert result.noises is not None  # pingpong's noises were optimized and re-rendered beside x_T
    assert namespace["rendered"].shape == result.audio.shape  # not the same bits: the decoder's own noise
    assert (tmp_path / "tutorial_out" / "intensity_result.wav").is_file()
