"""The grader against crafted submissions (issue 16), graded as `make grade` grades them.

Each submission starts from a master's solutions with some questions' work replaced by a trick or
an honest idiom (tests/grader_cases/cases.py; tricks on different questions share a notebook, to
keep the batch small). Each assignment's batch is graded once per session, in the real bubblewrap
sandbox with two grading processes, and every question must get the fair score: tricks earn
nothing they did not compute, honest idioms keep every point. Afterwards every submitted file and
every autograder test file is byte-identical, nothing appeared in a host folder the tricks aimed
at, and an untouched copy of the master graded *last* in the same batch still gets full marks
(grading one submission cannot change what the next is graded against).
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
FULL = {C.A1: C.A1_FULL, C.A2: C.A2_FULL, C.A3: C.A3_FULL}
LAST = "zz_untouched_after"
CALL_TIMEOUT = 6     # seconds per call (the default is 20): the endless loop costs two of them
PRINTED = "batch size | spread\n         2 |      0.501 |      0.523\n"


def run_tool(*args, timeout=900):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*"))
            if p.is_file()}


def make_cases(name, master, host, tests_dir):
    if name == C.A1:
        return C.a1_cases(master, host, tests_dir)
    return C.a2_cases(master) if name == C.A2 else C.a3_cases(master)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("crafted")
    build = base / "build"
    proc = run_tool("build", *FULL, "--out", build, "--no-run-tests")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    host = base / "host"
    host.mkdir()
    (host / "secret.txt").write_text("the grader's machine")
    out = {"build": build, "base": base}
    for name in FULL:
        master = json.loads((MASTERS / f"{name}.ipynb").read_text())
        tests_dir = build / name / "autograder" / "tests"
        cases = make_cases(name, master, str(host), str(tests_dir))
        folder = base / f"subs_{name}"
        folder.mkdir()
        for case, (nb, _, _) in cases.items():
            C.write(folder, case, nb)
        last = C.with_output(master, "batch size | spread", PRINTED) if name == C.A1 else master
        C.write(folder, LAST, last)             # sorted last: graded after every trick
        before, tests_before = digest(folder), digest(tests_dir)
        grades = base / f"grades_{name}"
        proc = run_tool("grade", name, folder, "--out", grades, "--tests", tests_dir, "-j", 2,
                        "--call-timeout", CALL_TIMEOUT)
        print(proc.stdout)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        rows = {Path(r["submission"]).stem: r for r in csv.DictReader(open(grades / "grades.csv"))}
        reports = {p.name.split("__", 1)[1][:-3]: p.read_text() for p in (grades / "reports").glob("*.md")}
        out[name] = dict(cases=cases, rows=rows, reports=reports, unchanged=digest(folder) == before,
                         tests_unchanged=digest(tests_dir) == tests_before)
    out["host"] = sorted(p.name for p in host.iterdir())
    return out


def _case_ids():
    ids = []
    for a in FULL:
        master = json.loads((MASTERS / f"{a}.ipynb").read_text())
        ids += [(a, c) for c in make_cases(a, master, "/h", "/t")]
    return ids


@pytest.mark.parametrize("assignment,case", _case_ids())
def test_crafted_submission_graded_fairly(graded, assignment, case):
    g = graded[assignment]
    row, report = g["rows"][case], g["reports"][case]
    _, expected, phrases = g["cases"][case]
    want = {**FULL[assignment], **expected}
    got = {q: float(row[q]) for q in want}
    assert got == pytest.approx(want, abs=1e-3), f"{case}: {got} != {want}\n{report[:4000]}"
    assert row["sandbox"] == "bubblewrap" and row["file_unchanged"] == "True"
    for phrase in phrases:
        assert phrase.lower() in report.lower(), f"{case}: the report does not say {phrase!r}\n{report[:4000]}"


@pytest.mark.parametrize("assignment", list(FULL))
def test_batch_unharmed(graded, assignment):
    g = graded[assignment]
    assert g["unchanged"], "a submitted file changed"
    assert g["tests_unchanged"], "an autograder test file changed"
    after = g["rows"][LAST]
    assert float(after["autograded"]) == float(after["autograded_possible"]) == sum(FULL[assignment].values())
    assert graded["host"] == ["secret.txt"], f"a submission wrote into the host folder: {graded['host']}"


def test_free_response_reports_show_printed_numbers(graded):
    report = graded[C.A1]["reports"][LAST]
    section = report.split("### q6_experiment", 1)[1]
    assert "What the notebook printed for it" in section and PRINTED.strip() in section
    assert "Example answer" in section


def test_unsandboxed_grading_says_so(graded, tmp_path):
    student = graded["build"] / C.A1 / "student" / f"{C.A1}.ipynb"
    out = tmp_path / "grades"
    proc = run_tool("grade", C.A1, student, "--out", out, "--unsandboxed",
                    "--tests", graded["build"] / C.A1 / "autograder" / "tests")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "WITHOUT the sandbox" in proc.stdout
    row = next(csv.DictReader(open(out / "grades.csv")))
    assert row["sandbox"].startswith("UNSANDBOXED") and float(row["autograded"]) == 0
    report = next((out / "reports").glob("*.md")).read_text()
    assert report.splitlines()[2].startswith("**GRADED WITHOUT THE SANDBOX**")
