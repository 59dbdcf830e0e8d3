"""Write docs/tutorial.ipynb from docs/tutorial.py, its source: `python docs/make_tutorial.py`.

docs/tutorial.py is a script in jupytext's "percent" format: `# %%` starts a code cell, `# %% [markdown]` a
markdown cell whose lines are comments (`# ` stripped). The notebook gets the same cells in the same order, with
no outputs and fixed cell ids, so rewriting it from an unchanged script changes nothing.
tests/test_tutorial.py checks that the committed notebook is what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

DOCS = Path(__file__).resolve().parent
SCRIPT = DOCS / "tutorial.py"
NOTEBOOK = DOCS / "tutorial.ipynb"
CELL_MARKER = "# %%"


def script_cells(text: str) -> list[tuple[str, str]]:
    """A percent-format script -> [(cell_type, source)], "code" or "markdown", blank edge lines dropped."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(CELL_MARKER):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif not cells:
            if line.strip():
                raise ValueError(f"{SCRIPT.name} must start with a '{CELL_MARKER}' cell marker, got {line!r}")
        elif cells[-1][0] == "markdown":
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"markdown cell line is not a comment: {line!r}")
            cells[-1][1].append(line[2:] if line.startswith("# ") else line[1:])
        else:
            cells[-1][1].append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def notebook_cells(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """A notebook's [(cell_type, source)]."""
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def build_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """Cells -> a notebook without outputs, cell ids numbered in order, the python3 kernel."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    notebook.cells = [make[kind](source, id=f"cell-{i:02d}") for i, (kind, source) in enumerate(cells)]
    nbformat.validate(notebook)
    return notebook


def main() -> int:
    notebook = build_notebook(script_cells(SCRIPT.read_text()))
    NOTEBOOK.write_text(nbformat.writes(notebook) + "\n")
    print(f"wrote {NOTEBOOK} ({len(notebook.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
