"""The graded assignments: the masters build, and the local grader gives every submission the
grade it earned, including broken and hostile ones.

The crafted submissions are generated here from the built student and solution notebooks (no
stored fixtures to go stale) and graded in one batch per assignment, as `make grade` would, in a
subprocess with a clean environment. Each case states the score it must get and a phrase its
report must contain; every submitted file must be unchanged afterwards.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "assignments.py"
MASTERS = ROOT / "chapters" / "assignments"
A1, A2 = "batch_norm_by_hand", "layer_norm_padded"
QUESTION_TIMEOUT = 4  # seconds per question for the batch in this test (default is 10)


def run_tool(*args, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "NORMRES_SEED"))}
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


# --------------------------------------------------------------------------- notebook surgery


def load(path):
    return json.loads(Path(path).read_text())


def src(cell):
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def code_cell(text):
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": text}


def replace_def(nb, name, new_source):
    """Replace the code cell defining ``name`` (its whole source) by ``new_source``."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and f"def {name}(" in src(cell):
            cell["source"] = new_source
            return nb
    raise AssertionError(f"no cell defines {name}")


def solution_of(nb, name):
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and f"def {name}(" in src(cell):
            return src(cell)
    raise AssertionError(name)


def insert_top(nb, text):
    nb = copy.deepcopy(nb)
    nb["cells"].insert(1, code_cell(text))
    return nb


def write(folder, name, nb):
    path = folder / f"{name}.ipynb"
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb, indent=1))
    return path


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both assignments built by otter assign (without re-running the solutions: grading the
    solution notebooks below checks the same thing faster)."""
    out = tmp_path_factory.mktemp("assignments")
    names = [n for n in (A1, A2) if (MASTERS / f"{n}.ipynb").exists()]
    proc = run_tool("build", *names, "--out", out, "--no-run-tests")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def grade_batch(built, assignment, folder):
    out = folder.parent / f"grades_{assignment}"
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.ipynb")}
    proc = run_tool("grade", assignment, folder, "--out", out,
                    "--question-timeout", QUESTION_TIMEOUT, "--budget", 30,
                    "--tests", built / assignment / "autograder" / "tests")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for p in folder.glob("*.ipynb"):
        assert hashlib.sha256(p.read_bytes()).hexdigest() == hashes[p.name], f"{p.name} was modified"
    rows = {Path(r["submission"]).stem: r for r in csv.DictReader(open(out / "grades.csv"))}
    reports = {p.name.split("__", 1)[1][:-3]: p.read_text() for p in (out / "reports").glob("*.md")}
    print(proc.stdout)
    return rows, reports


# --------------------------------------------------------------------------- assignment 1

BN_FORWARD_KERNEL = '''
import torch.nn.functional as F

def bn_train_forward(x, gamma, beta, eps=1e-5):
    if x.dim() != 2:
        raise ValueError("x must be (N, D)")
    out = F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
    return out, x.mean(0), x.var(0, unbiased=False)
'''

BN_FORWARD_HIDDEN_KERNEL = '''
import torch.nn.functional as F

def bn_train_forward(x, gamma, beta, eps=1e-5):
    if x.dim() != 2:
        raise ValueError("x must be (N, D)")
    fn = getattr(F, "batch" + "_" + "norm")          # a name the static scan cannot see
    return fn(x, None, None, gamma, beta, training=True, eps=eps), x.mean(0), x.var(0, unbiased=False)
'''

BN_BACKWARD_AUTOGRAD = '''
def bn_backward(dout, x, gamma, eps=1e-5):
    x = x.detach().clone().requires_grad_()
    gamma = gamma.detach().clone().requires_grad_()
    beta = torch.zeros_like(gamma, requires_grad=True)
    with torch.enable_grad():
        out = bn_train_forward(x, gamma, beta, eps)[0]
        out.backward(dout)
    return x.grad, gamma.grad, beta.grad
'''

TAMPER_TOP = '''
import builtins
import numpy as np
import torch
import torch.testing
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
np.testing.assert_allclose = lambda *a, **k: None
builtins.isinstance = lambda *a: True
grader.check = lambda *a, **k: None
'''

WRONG_STUB = '''
import torch

def bn_train_forward(x, gamma, beta, eps=1e-5):
    return torch.zeros_like(x), torch.zeros(x.shape[1]), torch.ones(x.shape[1])
'''

TAMPER_RUNTIME = '''
import torch

def bn_train_forward(x, gamma, beta, eps=1e-5):
    mods = [torch, torch.testing]                     # evades the static scan
    mods[0].allclose = lambda *a, **k: True
    mods[1].assert_close = lambda *a, **k: None
    return torch.zeros_like(x), torch.zeros(x.shape[1]), torch.ones(x.shape[1])
'''

RIGGED_TENSOR = '''
import torch

class Always(torch.Tensor):
    def __eq__(self, other):
        return True
    def allclose(self, *a, **k):
        return True
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True

def bn_train_forward(x, gamma, beta, eps=1e-5):
    z = torch.zeros_like(x).as_subclass(Always)
    return z, torch.zeros(x.shape[1]).as_subclass(Always), torch.zeros(x.shape[1]).as_subclass(Always)
'''

OUTSIDE_FILES = f'''
import torch

def bn_train_forward(x, gamma, beta, eps=1e-5):
    secret = open({str(MASTERS / (A1 + ".ipynb"))!r}).read()    # the master, with the solutions
    with open("../../leaked.txt", "w") as f:                  # outside the submission's folder
        f.write(secret[:100])
    mean = x.mean(0)
    var = ((x - mean) ** 2).mean(0)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta, mean, var
'''

TAMPER_GRADER_OBJECTS = '''
import sys, torch

def bn_train_forward(x, gamma, beta, eps=1e-5):
    modules = getattr(sys, "mod" + "ules")             # evades the static scan
    modules["otter.test_files.exception_test"].test_case.call_func = lambda self, env: None
    return torch.zeros_like(x), torch.zeros(x.shape[1]), torch.ones(x.shape[1])
'''

KILL_GRADER = '''
import os, torch

def bn_train_forward(x, gamma, beta, eps=1e-5):
    os.kill(os.getppid(), 9)
    mean = x.mean(0)
    var = ((x - mean) ** 2).mean(0)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta, mean, var
'''


def a1_cases(student, solution):
    """name -> (notebook or text, expected {question: score} or total, phrase in the report)."""
    full = {"q1_train_forward": 5, "q2_running_stats": 6, "q3_backward": 6, "q4_gradient_check": 4}
    fwd = solution_of(solution, "bn_train_forward")
    bwd = solution_of(solution, "bn_backward")
    reordered = copy.deepcopy(solution)
    reordered["cells"] = reordered["cells"][::-1]
    deleted = copy.deepcopy(solution)
    deleted["cells"] = [c for c in deleted["cells"] if "def bn_backward(" not in src(c)]
    return {
        "master_solutions": (solution, full, None),
        "untouched_student": (student, 0, "must return a tuple"),
        "raises_at_top": (insert_top(solution, "raise RuntimeError('boom')"), full, None),
        "infinite_loop_top": (insert_top(solution, "while True:\n    pass"), full, None),
        "infinite_loop_in_function": (
            replace_def(solution, "bn_backward", bwd.replace('"""\n', '"""\n    while True:\n        pass\n', 1)),
            {**full, "q3_backward": 0}, "timed out"),
        "exit_in_cells": (insert_top(insert_top(solution, "import os\nos._exit(1)"), "import sys\nsys.exit(0)"),
                          full, None),
        "exit_in_function": (
            replace_def(solution, "bn_train_forward", fwd.replace('"""\n', '"""\n    import os\n    os._exit(0)\n', 1)),
            {**full, "q1_train_forward": 0, "q2_running_stats": 0}, "exited"),
        "deleted_question_cell": (deleted, {**full, "q3_backward": 0}, "not defined in the submission"),
        "reordered_cells": (reordered, full, None),
        "wrong_shapes_dtypes": (
            replace_def(solution, "bn_train_forward", fwd.replace(
                "return out, mean, var", "return out.float(), mean[None, :], var")),
            {"q1_train_forward": 2, "q2_running_stats": 4}, "must have shape (D,)"),
        "nans": (
            replace_def(solution, "bn_train_forward", fwd.replace("torch.sqrt(var + eps)", "torch.sqrt(var - 1.0)")),
            {"q1_train_forward": 0, "q2_running_stats": 3}, "nan"),
        "invalid_json": ('{"cells": [ this is not json', 0, "invalid JSON"),
        "tamper_top_level": (insert_top(replace_def(student, "bn_train_forward", WRONG_STUB), TAMPER_TOP),
                             0, "assigns to `np.testing.assert_allclose`"),
        "tamper_at_runtime": (replace_def(solution, "bn_train_forward", TAMPER_RUNTIME),
                              {"q1_train_forward": 0, "q2_running_stats": 0}, "tampering detected"),
        "rigged_tensor_subclass": (replace_def(solution, "bn_train_forward", RIGGED_TENSOR),
                                   {"q1_train_forward": 0, "q2_running_stats": 2.6667}, None),
        "calls_torch_batch_norm": (replace_def(solution, "bn_train_forward", BN_FORWARD_KERNEL),
                                   {"q1_train_forward": 0, "q2_running_stats": 0, "q4_gradient_check": 4},
                                   "`F.batch_norm`"),
        "calls_kernel_by_computed_name": (replace_def(solution, "bn_train_forward", BN_FORWARD_HIDDEN_KERNEL),
                                          {"q1_train_forward": 0, "q2_running_stats": 0},
                                          "ran aten.native_batch_norm"),
        "backward_by_autograd": (replace_def(solution, "bn_backward", BN_BACKWARD_AUTOGRAD),
                                 {**full, "q3_backward": 0}, "(autograd)"),
        "files_outside_folder": (replace_def(solution, "bn_train_forward", OUTSIDE_FILES),
                                 {"q1_train_forward": 0, "q2_running_stats": 0, "q3_backward": 6},
                                 "does not let a submission"),
        "tamper_grader_objects": (replace_def(solution, "bn_train_forward", TAMPER_GRADER_OBJECTS),
                                  {"q1_train_forward": 0, "q3_backward": 6}, "test_case.call_func"),
        "kills_the_grader": (replace_def(solution, "bn_train_forward", KILL_GRADER),
                             {"q1_train_forward": 0, "q3_backward": 6}, "os.kill"),
    }


def check_cases(cases, rows, reports):
    failures = []
    for name, (_, expected, phrase) in cases.items():
        row = rows.get(name)
        if row is None:
            failures.append(f"{name}: not in grades.csv")
            continue
        if isinstance(expected, dict):
            for q, want in expected.items():
                if float(row[q]) != want:
                    failures.append(f"{name}: {q} scored {row[q]}, expected {want}")
        elif float(row["autograded"]) != expected:
            failures.append(f"{name}: total {row['autograded']}, expected {expected}")
        if row["file_unchanged"] != "True":
            failures.append(f"{name}: submitted file changed")
        if phrase and phrase.lower() not in reports[name].lower():
            failures.append(f"{name}: report lacks {phrase!r}:\n{reports[name][:1500]}")
    assert not failures, "\n".join(failures)


def test_assignment_1_crafted_submissions(built, tmp_path):
    student = load(built / A1 / "student" / f"{A1}.ipynb")
    solution = load(built / A1 / "autograder" / f"{A1}.ipynb")
    folder = tmp_path / "subs"
    folder.mkdir()
    cases = a1_cases(student, solution)
    for name, (nb, _, _) in cases.items():
        write(folder, name, nb)
    rows, reports = grade_batch(built, A1, folder)
    check_cases(cases, rows, reports)
    assert not (tmp_path / "leaked.txt").exists() and not (folder.parent.parent / "leaked.txt").exists()
    for row in rows.values():
        assert float(row["seconds"]) <= 30 + 10, f"{row['submission']} took {row['seconds']} s"
    # the manual questions are left for a human, with the student's answer in the report
    assert "q6_experiment (manual" in reports["master_solutions"]
    assert "Example answer" in reports["master_solutions"]


def test_masters_are_otter_masters():
    """Every master is found, names its questions q<k>_..., and gives a rubric for manual ones."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import assignments
    finally:
        sys.path.pop(0)
    found = assignments.masters()
    assert {A1, A2} <= set(found), found
    for name, path in found.items():
        assert path.stem == name
        qs = assignments.master_questions(path)
        assert qs and all(q["name"].startswith("q") and q["points"] for q in qs)
        text = path.read_text()
        for q in qs:
            if q["manual"]:
                assert "Rubric" in text


# --------------------------------------------------------------------------- assignment 2

TEST_ALWAYS_PASSES = '''
def test_ln_batch_independence(layer_norm):
    """Checks nothing."""
    layer_norm(torch.zeros(2, 3, 4))
'''

TEST_LOOSE = '''
def test_ln_batch_independence(layer_norm):
    x = torch.randn(4, 5, 8, generator=torch.Generator().manual_seed(0))
    out = layer_norm(x)
    for b in range(4):
        torch.testing.assert_close(layer_norm(x[b:b + 1]), out[b:b + 1], rtol=0, atol=1e-2)
'''

TEST_PEEKS = '''
import inspect

def test_ln_batch_independence(layer_norm):
    assert "leak" not in inspect.getsource(layer_norm)       # reads the grader's code
'''

LN_KERNEL = '''
import torch.nn.functional as F

def ln_forward(x, gamma, beta, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)
'''

RMS_KERNEL = '''
def rms_forward(x, gamma, eps=1e-6):
    return torch.nn.functional.rms_norm(x, x.shape[-1:], gamma, eps)


def rms_backward(dout, x, gamma, eps=1e-6):
    r = 1.0 / torch.sqrt((x ** 2).mean(dim=-1, keepdim=True) + eps)
    dxhat = dout * gamma
    dx = r * dxhat - x * r ** 3 * (dxhat * x).mean(dim=-1, keepdim=True)
    return dx, (dout * x * r).sum(dim=tuple(range(x.dim() - 1)))
'''

BN_WITH_PADDING = '''
def masked_bn_forward(x, mask, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 1))                          # padding included
    var = ((x - mean) ** 2).mean(dim=(0, 1))
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta, mean, var
'''


def a2_cases(student, solution):
    full = {"q1_ln_forward": 4, "q2_ln_backward": 5, "q3_rms_norm": 5, "q4_masked_batch_norm": 5,
            "q5_your_test": 3}
    return {
        "master_solutions": (solution, full, None),
        "untouched_student": (student, 0, "must return"),
        "test_always_passes": (replace_def(solution, "test_ln_batch_independence", TEST_ALWAYS_PASSES),
                               {**full, "q5_your_test": 0}, "passes a normalization that uses the batch"),
        "test_too_loose": (replace_def(solution, "test_ln_batch_independence", TEST_LOOSE),
                           {**full, "q5_your_test": 0}, "misses a small dependence"),
        "test_always_fails": (replace_def(solution, "test_ln_batch_independence",
                                          "def test_ln_batch_independence(layer_norm):\n    assert False, 'no'\n"),
                              {**full, "q5_your_test": 0}, "fails on a correct layer norm"),
        "test_peeks_at_grader": (replace_def(solution, "test_ln_batch_independence", TEST_PEEKS),
                                 0, "imports `inspect`"),
        "ln_calls_torch": (replace_def(solution, "ln_forward", LN_KERNEL),
                           {**full, "q1_ln_forward": 0}, "`F.layer_norm`"),
        "rms_calls_torch": (replace_def(solution, "rms_forward", RMS_KERNEL),
                            {**full, "q3_rms_norm": 0}, "rms_norm"),
        "bn_counts_padding": (replace_def(solution, "masked_bn_forward", BN_WITH_PADDING),
                              {**full, "q4_masked_batch_norm": 0}, "padding included?"),
    }


def test_assignment_2_crafted_submissions(built, tmp_path):
    student = load(built / A2 / "student" / f"{A2}.ipynb")
    solution = load(built / A2 / "autograder" / f"{A2}.ipynb")
    folder = tmp_path / "subs"
    folder.mkdir()
    cases = a2_cases(student, solution)
    for name, (nb, _, _) in cases.items():
        write(folder, name, nb)
    rows, reports = grade_batch(built, A2, folder)
    check_cases(cases, rows, reports)
