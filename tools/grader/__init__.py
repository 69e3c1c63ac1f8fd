"""The course's grader (``make grade``; the command line is ``tools/assignments.py``).

One module per responsibility, in the order a submission meets them:

- :mod:`grader.build`: ``otter assign`` on the masters, and the questions of a master;
- :mod:`grader.batch`: loads the tests once, then grades submissions in forked processes (``-j``);
- :mod:`grader.notebook`: reads a submission without running it (the program its worker runs:
  what the graded names finally bind; the free-response answers and what the notebook printed);
- :mod:`grader.sandbox`: the bubblewrap command and the worker process behind it;
- :mod:`grader.worker`: the sandboxed side, arming :mod:`grader.forbid` before student code loads;
- :mod:`grader.protocol` and :mod:`grader.modules`: calls, results and course modules as data;
- :mod:`grader.runner`: otter's tests in the grader, each student function a proxy to the worker;
- :mod:`grader.report`: ``grades.csv`` and one Markdown report per submission.
"""

import sys as _sys

# otter imports nbformat, which imports jsonschema, which compiles about 40 grammars of the optional
# rfc3987_syntax package at import time (3-4 s of CPU, in every grading and build process) for an
# "iri" format check no notebook schema uses; jsonschema skips that check when the package is absent
_sys.modules.setdefault("rfc3987_syntax", None)
