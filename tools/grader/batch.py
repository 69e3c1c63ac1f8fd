"""Grading a batch (``make grade``): load the tests once, then grade submissions in parallel.

The batch process imports torch and the course package, loads every autograded question's otter
test file into memory (:func:`grader.runner.load_tests`) and writes the worker's import folder,
all before any student code runs. Each submission is then graded in a process forked from it
(``-j`` at a time, default all cores), which never runs student code itself: it reads the notebook
(:mod:`grader.notebook`), starts the submission's sandboxed worker and runs the tests against it
(:mod:`grader.runner`). A grading process serves one submission and exits, so nothing one
submission does reaches the next; the test files are never re-read, and the sandbox cannot see
them, the masters, the repository or other submissions.
"""

from __future__ import annotations

import hashlib
import json
import select
import signal
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

# a process forked after an OpenMP pool exists can deadlock in torch kernels: one thread, no pool
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

from . import modules, report, runner, sandbox  # noqa: E402
from .build import BUILD, master_questions, tests_for  # noqa: E402
from .notebook import Submission  # noqa: E402

_STATE: dict = {}


def collect(subs) -> list[Path]:
    paths = []
    for s in subs:
        p = Path(s)
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            paths.append(p)
        else:
            raise SystemExit(f"no such submission: {s}")
    return paths


def site_dirs() -> list[str]:
    """The installed libraries the worker needs (torch, numpy, ...), bound read-only inside."""
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]


def grade_one(path: str) -> dict:
    """Grade one notebook (in a forked grading process; never runs student code here)."""
    st = _STATE
    try:
        start = time.monotonic()
        sub = Submission(Path(path), set(st["names"]))
        res = {"questions": {}, "manual": {}, "notes": list(sub.notes), "errors": list(sub.errors),
               "review": list(sub.review), "observed": [], "def_errors": []}
        session = runner.Session(sub.program, st["names"], st["package"], st["site"],
                                 st["sandboxed"], st["call_timeout"], st["budget"])
        try:
            for q in st["questions"]:
                name = q["name"]
                if q["manual"]:
                    res["manual"][name] = {"points": q["points"], "answer": sub.answer(q["prompt"]),
                                           "printed": sub.printed(q["prompt"])}
                    continue
                tf = st["tests"][name]
                entry = {"score": 0.0, "possible": float(tf.possible), "messages": []}
                res["questions"][name] = entry
                if sub.errors:
                    entry["messages"].append(sub.errors[0])
                    continue
                t0 = time.monotonic()
                scored, messages = runner.run_question(tf, session, st["no_autograd"])
                entry["score"] = round(float(scored.score), 4)
                entry["messages"] = messages
                entry["seconds"] = round(time.monotonic() - t0, 2)
        finally:
            session.stop()
        res["observed"] = session.observed
        res["def_errors"] = session.def_errors or []
        res["seconds"] = round(time.monotonic() - start, 2)
        return res
    except BaseException:  # noqa: BLE001 - a grader bug must not take the batch down
        return {"crash": traceback.format_exc()[-3000:]}


def run_forked(paths: list[Path], jobs: int, limit: float = 600.0) -> dict[str, dict]:
    """Grade each path in its own forked grading process, ``jobs`` at a time; a grading process
    still running after ``limit`` seconds is killed (its submission gets a grader error)."""
    todo, running, results = [str(p) for p in paths], {}, {}
    while todo or running:
        while todo and len(running) < jobs:
            p = todo.pop(0)
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:   # the grading process: pristine copy of the batch, serves one submission
                os.close(rfd)
                sandbox.become_subreaper()      # reaps bwrap's init: the sandbox's CPU time counts
                try:
                    data = json.dumps(grade_one(p)).encode()
                except BaseException:  # noqa: BLE001
                    data = json.dumps({"crash": traceback.format_exc()[-3000:]}).encode()
                view = memoryview(data)
                while view:
                    view = view[os.write(wfd, view):]
                os._exit(0)
            os.close(wfd)
            running[rfd] = (p, pid, bytearray(), time.monotonic())
        ready, _, _ = select.select(list(running), [], [], 1.0)
        for fd, (p, pid, buf, started) in list(running.items()):
            if time.monotonic() - started > limit:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(fd)
                del running[fd]
                results[p] = {"crash": f"the grading process did not finish within {limit:g} s"}
                if fd in ready:
                    ready.remove(fd)
        for fd in ready:
            p, pid, buf, _ = running[fd]
            chunk = os.read(fd, 1 << 20)
            if chunk:
                buf += chunk
                continue
            os.close(fd)
            del running[fd]
            os.waitpid(pid, 0)
            try:
                results[p] = json.loads(bytes(buf))
            except ValueError:
                results[p] = {"crash": "the grading process died without a result"}
    return results


def grade(assignment: str, subs, out: Path, jobs: int | None = None, sandboxed: bool = True,
          call_timeout: float = 20.0, budget: float = 180.0, tests_dir: Path | None = None) -> list[dict]:
    """Grade submissions; write ``grades.csv`` and ``reports/<file>.md`` under ``out``."""
    if sandboxed:
        sandbox.bwrap_path()            # SandboxUnavailable (refuse) before anything else
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib
    matplotlib.use("Agg")
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import normres  # noqa: F401  (the tests import it; loaded here, pristine, before any fork)
    import normres.transformer  # noqa: F401

    from masters import masters
    master = masters()[assignment] if assignment in masters() else None
    if master is None:
        raise SystemExit(f"unknown assignment {assignment!r}; choose from {sorted(masters())}")
    questions = master_questions(master)
    tests_dir = Path(tests_dir) if tests_dir else tests_for(assignment)
    tests = runner.load_tests(tests_dir, questions)
    names = sorted({p for tf in tests.values() for p in runner.test_params(tf)})
    tmp = tempfile.TemporaryDirectory(prefix="grader_worker_")
    _STATE.update(questions=questions, tests=tests, names=names,
                  no_autograd=[n for n in names if "backward" in n],
                  package=modules.worker_package(Path(tmp.name) / "wlib"), site=site_dirs(),
                  sandboxed=sandboxed, call_timeout=call_timeout, budget=budget)
    auto = [q for q in questions if not q["manual"]]
    manual = [q for q in questions if q["manual"]]
    out = Path(out)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    paths = collect(subs)
    hashes = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths) or 1))
    t0 = time.monotonic()
    results = {}
    results = run_forked(paths, jobs, limit=budget + 120)
    tmp.cleanup()
    rows = []
    for p in paths:
        res = results[str(p)]
        after = hashlib.sha256(p.read_bytes()).hexdigest()
        res.update(file=str(p), sha256=hashes[str(p)], unchanged=after == hashes[str(p)],
                   wall_seconds=res.get("seconds", 0.0),
                   sandbox="bubblewrap" if sandboxed else "UNSANDBOXED (--unsandboxed)")
        if "crash" in res:
            res.update(questions={q["name"]: {"score": 0.0, "possible": float(q["points"] or 0),
                                              "messages": ["grader failure: " + res["crash"].strip().splitlines()[-1]]}
                                  for q in auto},
                       notes=[], errors=["the grader could not finish this submission"], observed=[],
                       def_errors=[], review=[],
                       manual={q["name"]: {"points": q["points"], "answer": None} for q in manual})
        if any(report.report_name(r) == report.report_name(res) for r in rows):
            res["report"] = report.report_name(res)[:-3] + f"__{hashes[str(p)][:8]}.md"
        rows.append(res)
        report.write_report(out, assignment, res, auto, manual)
    report.write_csv(out, rows, auto, manual)
    elapsed = time.monotonic() - t0
    for r in rows:
        r["batch_seconds"] = round(elapsed, 2)
    return rows


def default_out(assignment: str) -> Path:
    return BUILD / assignment / "grades"
