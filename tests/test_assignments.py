"""The grader's parts, fast (no grading batch): the masters' metadata, what a worker runs of a
notebook, the wire format's refusals, the free-response report, and the refusal to grade without
bubblewrap. Grading itself, crafted submissions included, is tests/test_grader_crafted.py."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from grader import protocol  # noqa: E402
from grader.notebook import Submission  # noqa: E402

A1, A2, A3 = "batch_norm_by_hand", "layer_norm_padded", "residual_transformer_block"


def notebook(tmp_path, *cells, name="sub.ipynb"):
    nb = {"cells": [c if isinstance(c, dict) else {"cell_type": "code", "metadata": {}, "outputs": [],
                                                   "source": c} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


def test_masters_are_otter_masters():
    """Every master is found, names its questions q<k>_..., and gives a rubric for manual ones."""
    import assignments

    found = assignments.masters()
    assert {A1, A2, A3} <= set(found), found
    for name, path in found.items():
        assert path.stem == name
        qs = assignments.master_questions(path)
        assert qs and all(q["name"].startswith("q") and q["points"] for q in qs)
        if any(q["manual"] for q in qs):
            assert "Rubric" in path.read_text()


def test_program_is_what_the_graded_names_finally_bind(tmp_path):
    path = notebook(tmp_path,
                    "import torch\nimport otter\ngrader = otter.Notebook()",
                    "EPS = 1e-5\nunused = slow_experiment()\n",
                    "def _helper(x):\n    return x * EPS\n",
                    "f = _helper\n",
                    "@decorate\ndef g(x):\n    return x\n",
                    "for i in range(10**9):\n    pass\nprint(f(1))\ngrader.check('q1')\n",
                    "x = torch.zeros(3)\ntorch.backends.cudnn.deterministic = True\n",
                    "def h(x):\n    y = x + 1\n    return y\n")
    sub = Submission(path, {"f", "g", "h"})
    run = "\n".join(src for _, src in sub.program)
    for kept in ("import torch", "EPS = 1e-5", "def _helper", "f = _helper", "@decorate", "def h"):
        assert kept in run, f"{kept!r} is not run:\n{run}"
    for skipped in ("otter", "slow_experiment", "range(10**9)", "print(", "grader.check",
                    "x = torch.zeros", "cudnn"):
        assert skipped not in run, f"{skipped!r} is run:\n{run}"
    assert not sub.errors and not sub.review


def test_review_notes_do_not_come_from_honest_idioms(tmp_path):
    honest = Submission(notebook(tmp_path, "import importlib, inspect, gc\nprint(vars(object))\n"
                                           "def f(x):\n    with torch.no_grad():\n        return x\n"), {"f"})
    assert honest.review == []
    suspect = Submission(notebook(tmp_path, "import torch._refs\ndef f(x):\n"
                                            "    return torch._refs.native_layer_norm(x)\n", name="s.ipynb"), {"f"})
    assert any("torch._refs" in r for r in suspect.review)


def test_unreadable_notebook(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    assert Submission(bad, {"f"}).errors


def test_printed_numbers_of_a_free_response_question(tmp_path):
    experiment = {"cell_type": "code", "metadata": {}, "source": "print(stats)",
                  "outputs": [{"output_type": "stream", "name": "stdout", "text": "spread 0.50 0.07\n"}]}
    path = notebook(tmp_path, {"cell_type": "markdown", "metadata": {}, "source": "## Question 5: earlier"},
                    experiment,
                    {"cell_type": "markdown", "metadata": {}, "source": "<!-- BEGIN QUESTION -->\n\n## Question 6: report"},
                    {"cell_type": "markdown", "metadata": {}, "source": "It falls with the batch size."},
                    {"cell_type": "markdown", "metadata": {}, "source": "<!-- END QUESTION -->"})
    sub = Submission(path, set())
    assert sub.printed("## Question 6: report") == [(2, "spread 0.50 0.07")]
    assert "falls with the batch size" in sub.answer("## Question 6: report")


def test_wire_round_trip_and_refusals():
    import torch

    value = [(torch.arange(6.).reshape(2, 3), torch.tensor([True, False])), {"eps": 1e-5, "n": None},
             float("nan"), torch.float64, "text"]
    buffers = []
    spec = protocol.encode(value, buffers)
    back = protocol.decode(json.loads(json.dumps(spec)), buffers)
    assert torch.equal(back[0][0], value[0][0]) and back[0][1].dtype == torch.bool
    assert back[1] == {"eps": 1e-5, "n": None} and back[2] != back[2] and back[3] is torch.float64
    for bad in ({"T": 0, "dtype": "float32", "shape": [100]}, {"T": 0, "dtype": "object", "shape": [1]},
                {"cb": 0}, {"mod": "TransformerBlock"}, {"v": [1, 2]}, {"eval": "1"}):
        with pytest.raises(protocol.WireError):
            protocol.decode(bad, [b"\x00" * 8])
    reader = protocol.FrameReader()
    with pytest.raises(protocol.WireError):
        reader.feed(b"garbage that is not a frame")
    head = b'{"op": "result"}'
    frame = protocol.MAGIC + struct.pack(">II", len(head), 0) + head
    assert protocol.FrameReader().feed(frame[:5]) == [] and protocol.FrameReader().feed(frame) == [({"op": "result"}, [])]


def test_refuses_to_grade_without_bwrap(tmp_path):
    sub = notebook(tmp_path, "def bn_train_forward(x, gamma, beta, eps=1e-5):\n    return x\n")
    env = {**os.environ, "PATH": str(tmp_path)}       # no bwrap on this PATH
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "assignments.py"), "grade", A1, str(sub),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "refusing to grade" in proc.stderr and "--unsandboxed" in proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()
