"""Build and grade the course's assignments (``make assignments``, ``make grade``).

``python tools/assignments.py build [NAME...]`` runs ``otter assign`` on the masters
(:mod:`grader.build`). ``python tools/assignments.py grade NAME SUBMISSION... [-j N]`` grades
notebooks (or folders of them) and writes ``grades.csv`` plus one report per submission
(:mod:`grader.batch`). The grader is the package ``tools/grader/``, one module per
responsibility:

* :mod:`grader.notebook`: reading a submission (no code runs): the program its worker runs,
  answers and printed numbers of the free-response questions, review notes;
* :mod:`grader.sandbox`: the bubblewrap command and the worker process behind it;
* :mod:`grader.forbid`: torch's normalization kernels made to raise inside the worker;
* :mod:`grader.protocol` and :mod:`grader.modules`: calls and results as data on the wire;
* :mod:`grader.worker`: the sandboxed side, which runs the student's definitions and calls;
* :mod:`grader.runner`: otter's tests run in the grader, student functions as proxies;
* :mod:`grader.report`: ``grades.csv`` and the Markdown reports;
* :mod:`grader.batch`: loading the tests once, the parallel batch.

Grading refuses to run without bubblewrap unless ``--unsandboxed`` is given, and then every report
says so. See ``chapters/assignments/README.md`` for what is protected and what is not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.build import BUILD, build, master_questions  # noqa: E402,F401  (used by the tests)
from masters import MASTERS, masters  # noqa: E402,F401


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="otter assign every master (or the named ones)")
    b.add_argument("names", nargs="*")
    b.add_argument("--out", default=str(BUILD))
    b.add_argument("--no-run-tests", action="store_true")
    g = sub.add_parser("grade", help="grade submissions locally, student code in bubblewrap")
    g.add_argument("assignment")
    g.add_argument("submissions", nargs="+")
    g.add_argument("--out", default=None)
    g.add_argument("-j", "--jobs", type=int, default=None,
                   help="submissions graded at once (default: every core)")
    g.add_argument("--call-timeout", type=float, default=20.0,
                   help="seconds one call of a student function may take")
    g.add_argument("--budget", type=float, default=180.0, help="seconds per submission")
    g.add_argument("--tests", default=None, help="otter test files to use (default: the build's "
                   "autograder/tests, built first if missing or older than the master)")
    g.add_argument("--unsandboxed", action="store_true",
                   help="run student code WITHOUT bubblewrap (no isolation; every report says so)")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        try:
            build(args.names, Path(args.out), run_tests=not args.no_run_tests)
        except RuntimeError as e:
            raise SystemExit(f"error: {e}")
        return 0
    from grader import batch, report
    from grader.sandbox import SandboxUnavailable

    out = Path(args.out) if args.out else batch.default_out(args.assignment)
    try:
        rows = batch.grade(args.assignment, args.submissions, out, jobs=args.jobs,
                           sandboxed=not args.unsandboxed, call_timeout=args.call_timeout,
                           budget=args.budget, tests_dir=Path(args.tests) if args.tests else None)
    except SandboxUnavailable as e:
        print(f"refusing to grade: {e}. To grade anyway with no isolation at all, pass "
              "--unsandboxed (make grade ... UNSANDBOXED=1); every report will say so.",
              file=sys.stderr)
        return 2
    if args.unsandboxed:
        print("WARNING: graded WITHOUT the sandbox (--unsandboxed): student code ran unconfined.")
    width = max([len(Path(r["file"]).name) for r in rows] + [10])
    for r in rows:
        total = sum(q["score"] for q in r["questions"].values())
        possible = sum(q["possible"] for q in r["questions"].values())
        print(f"{Path(r['file']).name:<{width}}  {total:6g} / {possible:g}  {report.status(r):<12}"
              f" {r['wall_seconds']:5.1f} s  unchanged={r['unchanged']}")
    if rows:
        print(f"{len(rows)} submission(s) in {rows[0]['batch_seconds']:.1f} s "
              f"({rows[0]['batch_seconds'] / len(rows):.2f} s per submission)")
    print(f"wrote {out / 'grades.csv'} and {len(rows)} report(s) in {out / 'reports'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
