"""Staleness is caught on every machine, and the portable mode checks what it says it checks.

- every chapter records what it was executed from (a hash of each code cell and of each package
  file its kernel imported) and those hashes match the files now: a chapter whose code, or a
  ``normres`` module it imports, changed without ``make refresh`` fails here, whatever the CPU;
- every chapter records the numerics it ran on (one thread, as ``normres.seed_everything`` pins)
  and a rounding classification measured on the same sources as its outputs;
- the portable comparison (tests/portable.py), run by a real nbval on small notebooks: a
  rounding-dependent cell whose digits changed passes elsewhere and fails on the executing
  numerics; a cell that changed shape, or a cell classified as stable whose digits changed, fails.
"""

import copy
import json
import pathlib
import subprocess
import sys

import nbformat
import pytest

import portable
import provenance

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (ROOT / "chapters").rglob("*.ipynb")
                  if "assignments" not in p.parts and ".ipynb_checkpoints" not in p.parts)


def rel(p):
    return p.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", CHAPTERS, ids=rel)
def test_notebook_is_not_stale(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = provenance.staleness(nb)
    assert not problems, (f"{rel(path)} is stale: " + "; ".join(problems)
                          + f". Re-execute it: make refresh NB={rel(path)}")


@pytest.mark.parametrize("path", CHAPTERS, ids=rel)
def test_notebook_records_its_numerics_with_one_thread(path):
    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("normres", {})
    numerics = meta.get("numerics")
    assert numerics and set(provenance.LABELS) <= set(numerics), f"{rel(path)} records no numerics"
    assert numerics["threads"] == 1, (
        f"{rel(path)} ran on {numerics['threads']} threads: the thread count changes a run's digits, "
        "and the book's notebooks pin it to one (normres.seed_everything)")


def test_a_changed_code_cell_or_package_file_is_named(tmp_path, monkeypatch):
    path = next(p for p in CHAPTERS if "layer_norm" in p.name)
    nb = json.loads(path.read_text(encoding="utf-8"))
    edited = copy.deepcopy(nb)
    code = [c for c in edited["cells"] if c["cell_type"] == "code"]
    code[2]["source"] = "".join(code[2]["source"]) + "\nx = 1"
    problems = provenance.staleness(edited)
    assert len(problems) == 1 and f"code cell #3 (id {code[2]['id']}) changed" in problems[0]

    recorded = nb["metadata"]["normres"]["executed_from"]["package"]
    assert "normres/functional.py" in recorded, "layer_norm imports normres.functional"
    fake = tmp_path / "code"
    for relpath in recorded:
        (fake / relpath).parent.mkdir(parents=True, exist_ok=True)
        (fake / relpath).write_bytes((provenance.PACKAGE / relpath).read_bytes())
    (fake / "normres" / "functional.py").write_text("# changed\n", encoding="utf-8")
    monkeypatch.setattr(provenance, "PACKAGE", fake)
    assert provenance.staleness(nb) == ["package file normres/functional.py changed since it was executed"]


def test_a_classification_of_other_sources_is_stale():
    path = CHAPTERS[0]
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["metadata"]["normres"]["rounding"]["measured_from"] = "0" * 16
    assert any("rounding classification" in p for p in provenance.staleness(nb))


def test_differences_name_what_differs():
    here = provenance.numerics()
    assert provenance.differences(here, dict(here)) == []
    there = dict(here, torch_kernels="AVX2", threads=here["threads"] + 3)
    assert provenance.differences(there, here) == [f"torch's CPU kernels: AVX2 there, {here['torch_kernels']} here"]


def test_shape_masks_digits_not_words():
    a = "step  100: loss 0.0149, acc 97.2% (x1.94), grad 1e-05, -0.006762 nan\n"
    b = "step 100: loss 0.01551, acc 96.8% (x2.1), grad 3.2e-06, -0.006763 inf\n"
    assert portable.shape(a) == portable.shape(b)
    assert portable.shape("Post-LN trains") != portable.shape("Pre-LN trains")
    assert portable.shape("3 rows") != portable.shape("3 rows\n4 rows")
    # numpy's padding of array entries follows their digits; the number of entries is shape
    assert portable.shape("[0.5   0.625 0.7  ]") == portable.shape("[0.512 0.625 0.7  ]") == "[# # #]"
    assert portable.shape("[ 0.1 -0.25]") == portable.shape("[0.12 0.25]")
    assert portable.shape("[94, 71]") != portable.shape("[94]")


def test_shape_masks_what_rounding_changes_in_an_interactive_figure():
    from normres.interactive import slider_curves
    import numpy as np
    html = lambda scale: slider_curves(
        [5, 50, 95], {"net": np.array([[0.1, 0.2, 0.3], [0.2, 0.4, 0.6]]) * scale}, steps=[0, 16],
        step_label="step", xlabel="percentile", ylabel="value", alt="a figure").html
    a, b = html(1.0), html(1.01)
    assert a != b, "the data (and so the digest id and the fallback image) moved"
    assert portable.shape(a) == portable.shape(b)
    assert portable.shape(a) != portable.shape(html(1.0).replace("a figure", "another figure"))


# ------------------------------------------------------------- a real nbval run, both modes

def _notebook(tmp_path, name, numerics, rounding_ids, stored_texts):
    """A two-cell notebook whose stored prints are ``stored_texts``; its code prints 0.125 and 7."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("print(f'loss {0.125:.3f}')", execution_count=1),
                nbformat.v4.new_code_cell("print('steps', 7)", execution_count=2)]
    nb.cells[0].id, nb.cells[1].id = "rounding", "stable"
    for cell, text in zip(nb.cells, stored_texts):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.metadata["normres"] = {"numerics": numerics,
                              "rounding": {"cells": {i: ["foreign"] for i in rounding_ids}}}
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_nbval_strict_here_portable_elsewhere(tmp_path):
    here = provenance.numerics()
    elsewhere = dict(here, torch_kernels="SOME_OTHER_CPU")
    cases = {   # name: (numerics recorded, stored prints, should pass)
        "here_same": (here, ["loss 0.125\n", "steps 7\n"], True),
        "here_digits": (here, ["loss 0.126\n", "steps 7\n"], False),           # strict: digits count
        "away_digits": (elsewhere, ["loss 0.126\n", "steps 7\n"], True),       # rounding cell: shape only
        "away_shape": (elsewhere, ["loss 0.125 (nan)\n", "steps 7\n"], False),  # its shape changed
        "away_stable": (elsewhere, ["loss 0.125\n", "steps 8\n"], False),       # a stable cell: strict
    }
    for name, (numerics, texts, _) in cases.items():
        _notebook(tmp_path, name, numerics, ["rounding"], texts)
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nimport portable\nportable.install()\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--nbval",
                          "--nbval-current-env", "-p", "no:xdist", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    for name, (_, _, ok) in cases.items():
        failed = f"FAILED {name}.ipynb" in run.stdout
        assert failed != ok, f"{name}: expected {'pass' if ok else 'failure'}\n{run.stdout[-3000:]}"
    assert "text changed shape" in run.stdout and "compared strictly on every machine" in run.stdout
