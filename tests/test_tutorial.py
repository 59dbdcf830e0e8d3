"""docs/tutorial.ipynb runs top to bottom on the tiny model, is committed without outputs, and holds the same cells
as docs/tutorial.py (its source; `python docs/make_tutorial.py` rewrites the notebook)."""

import importlib.util
import json
import sys
from pathlib import Path

import nbclient
import nbformat

DOCS = Path(__file__).resolve().parents[1] / "docs"
KERNEL_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}


def make_tutorial():
    """docs/make_tutorial.py as a module."""
    spec = importlib.util.spec_from_file_location("make_tutorial", DOCS / "make_tutorial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed_notebook() -> nbformat.NotebookNode:
    return nbformat.read(DOCS / "tutorial.ipynb", as_version=4)


def test_notebook_has_the_script_cells():
    maker = make_tutorial()
    script = maker.script_cells((DOCS / "tutorial.py").read_text())
    assert maker.notebook_cells(committed_notebook()) == script, \
        "docs/tutorial.ipynb differs from docs/tutorial.py: run python docs/make_tutorial.py"
    assert {kind for kind, _ in script} == {"code", "markdown"}


def test_notebook_is_committed_without_outputs():
    notebook = committed_notebook()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    """Every cell runs without error in a kernel of this interpreter, in a scratch folder (nothing lands in the
    repository)."""
    kernels = tmp_path / "jupyter" / "kernels" / "ditto-tutorial"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ditto tutorial (test)", "language": "python", "env": KERNEL_ENV,
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    work = tmp_path / "work"
    work.mkdir()
    client = nbclient.NotebookClient(committed_notebook(), kernel_name="ditto-tutorial", timeout=600,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    assert (work / "tutorial_out" / "intensity_result.wav").is_file()
