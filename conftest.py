"""Loaded by pytest for every run from this repository, including ``pytest chapters/x.ipynb``:
makes nbval compare each notebook strictly on the numerics that executed it and for what can hold
elsewhere, figures included (tests/portable.py), and says in one line which mode it ran in."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))
import portable  # noqa: E402

portable.install()


def _notebooks(config):
    import json
    paths = [p for p in sorted((ROOT / "chapters").rglob("*.ipynb"))
             if "assignments" not in p.parts and ".ipynb_checkpoints" not in p.parts]
    return {p.relative_to(ROOT).as_posix(): json.loads(p.read_text(encoding="utf-8")) for p in paths}


def pytest_report_header(config):
    if config.getoption("nbval", default=False):
        return portable.summary_line(_notebooks(config))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.getoption("nbval", default=False) and not hasattr(config, "workerinput"):
        terminalreporter.write_line(portable.summary_line(_notebooks(config)))
