"""The grader against crafted submissions (issue 16), graded as `make grade` grades them.

Each case starts from a master's solutions with one question's work replaced by a trick or an
honest idiom (tests/grader_cases/cases.py). Each batch is graded once per session, in the real
bubblewrap sandbox with two grading processes, and every case must get the fair score: tricks
earn nothing they did not compute, honest idioms keep every point. Afterwards every submitted
file and every autograder test file is byte-identical, nothing appeared in a host folder the
tricks aimed at, and an untouched copy of the master graded *last* in the same batch still gets
full marks (grading one submission cannot change what the next is graded against).
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from grader_cases import cases as C  # noqa: E402

TOOL = ROOT / "tools" / "assignments.py"
MASTERS = ROOT / "chapters" / "assignments"
FULL = {C.A1: C.A1_FULL, C.A3: C.A3_FULL}


def run_tool(*args, timeout=900):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("crafted")
    build = base / "build"
    proc = run_tool("build", C.A1, C.A3, "--out", build, "--no-run-tests")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    host = base / "host"
    host.mkdir()
    (host / "secret.txt").write_text("the grader's machine")
    out = {}
    for name in (C.A1, C.A3):
        master = json.loads((MASTERS / f"{name}.ipynb").read_text())
        tests_dir = build / name / "autograder" / "tests"
        cases = (C.a1_cases(master, str(host), str(tests_dir)) if name == C.A1 else C.a3_cases(master))
        folder = base / f"subs_{name}"
        folder.mkdir()
        for case, (nb, _, _) in cases.items():
            C.write(folder, case, nb)
        C.write(folder, "zz_untouched_after", master)      # graded last in the batch
        before, tests_before = digest(folder), digest(tests_dir)
        grades = base / f"grades_{name}"
        proc = run_tool("grade", name, folder, "--out", grades, "--tests", tests_dir, "-j", 2)
        print(proc.stdout)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        rows = {Path(r["submission"]).stem: r for r in csv.DictReader(open(grades / "grades.csv"))}
        reports = {p.name.split("__", 1)[1][:-3]: p.read_text() for p in (grades / "reports").glob("*.md")}
        out[name] = dict(cases=cases, rows=rows, reports=reports, unchanged=digest(folder) == before,
                         tests_unchanged=digest(tests_dir) == tests_before)
    out["host"] = sorted(p.name for p in host.iterdir())
    return out


def _case_ids():
    master = {"cells": [{"cell_type": "code", "source": f"def {n}(x): pass", "metadata": {},
                         "outputs": []} for n in ("bn_train_forward", "bn_backward", "rel_error",
                                                  "pre_ln_block", "post_ln_block", "encoder_logits",
                                                  "gradient_profile")]}
    return ([(C.A1, c) for c in C.a1_cases(master, "/h", "/t")]
            + [(C.A3, c) for c in C.a3_cases(master)])


@pytest.mark.parametrize("assignment,case", _case_ids())
def test_crafted_case_graded_fairly(graded, assignment, case):
    g = graded[assignment]
    row, report = g["rows"][case], g["reports"][case]
    _, expected, phrase = g["cases"][case]
    want = {**FULL[assignment], **expected}
    got = {q: float(row[q]) for q in want}
    assert got == pytest.approx(want, abs=1e-3), f"{case}: {got} != {want}\n{report[:3000]}"
    assert row["sandbox"] == "bubblewrap" and row["file_unchanged"] == "True"
    if phrase:
        assert phrase.lower() in report.lower(), f"{case}: the report does not say {phrase!r}\n{report[:3000]}"


@pytest.mark.parametrize("assignment", [C.A1, C.A3])
def test_batch_unharmed(graded, assignment):
    g = graded[assignment]
    assert g["unchanged"], "a submitted file changed"
    assert g["tests_unchanged"], "an autograder test file changed"
    after = g["rows"]["zz_untouched_after"]
    assert float(after["autograded"]) == float(after["autograded_possible"]), after
    assert graded["host"] == ["secret.txt"], f"a submission wrote into the host folder: {graded['host']}"


def test_free_response_reports_show_printed_numbers(graded):
    report = graded[C.A1]["reports"]["honest_master"]
    section = report.split("### q6_experiment", 1)[1]
    assert "What the notebook printed for it" in section and "batch size | spread" in section
    assert "Example answer" in section
