"""Static checks of every committed notebook (no kernel is started; nbval re-runs them).

Each notebook in chapters/ must be listed in _toc.yml, have been executed top to bottom in one
fresh kernel (execution counts 1..n), and store no errors, no stderr and nothing that belongs to
one machine (absolute paths, memory addresses, timings, progress bars).
"""

import json
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# chapters/assignments holds otter master notebooks (not chapters): tests/test_assignments.py checks them
NOTEBOOKS = sorted(p for p in (ROOT / "chapters").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and "assignments" not in p.relative_to(ROOT).parts)
MACHINE_SPECIFIC = re.compile(
    r"at 0x[0-9a-fA-F]{6,}"          # object reprs with memory addresses
    r"|/tmp/ipykernel_|/home/|/root/|/work/|/Users/|C:\\\\"  # absolute paths
    r"|\d+(\.\d+)?\s?(it/s|s/it)\b"  # progress bars
    r"|Wall time|CPU times"          # %time output
)


sys.path.insert(0, str(ROOT / "tools"))
from toc import toc_files  # noqa: E402


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_in_toc(path):
    assert str(path.relative_to(ROOT).with_suffix("")) in toc_files()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_was_executed_cleanly(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code, "a chapter notebook must have code cells"
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"execution counts {counts}: re-run top to bottom (make execute)"
    for i, cell in enumerate(code, 1):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {i} stores an error"
            assert not (out["output_type"] == "stream" and out.get("name") == "stderr"), \
                f"cell {i} stores stderr output: {''.join(out.get('text', ''))[:200]}"
            text = json.dumps(out)
            match = MACHINE_SPECIFIC.search(text)
            assert match is None, f"cell {i} stores machine-specific text: {match.group(0)!r}"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_exercises_and_citations(path):
    text = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    assert text.count("```{exercise}") >= 3, "at least three exercises"
    # a solution is one directive or a gated pair (solution-start ... solution-end) around code cells
    solutions = text.count("```{solution}") + text.count("```{solution-start}")
    assert solutions >= text.count("```{exercise}"), "every exercise has a solution"
    assert "{cite" in text, "a chapter cites its sources"
