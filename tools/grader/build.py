"""Building the assignments (``make assignments``): ``otter assign`` on every master notebook.

Every master in ``chapters/assignments/`` (a notebook whose first cell is a raw
``# ASSIGNMENT CONFIG`` cell, otter-grader's assign format v1) goes into
``_build/assignments/<name>/``: ``student/`` (the notebook to hand out, public tests only) and
``autograder/`` (the solutions, every test and the autograder zip). ``otter assign`` runs all tests
against the master's solutions and fails if any fails; so does this build.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from masters import masters, source  # tools/ is on the path (the scripts' folder)

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD = ROOT / "_build" / "assignments"


def master_questions(master: Path) -> list[dict]:
    """The questions of a master notebook in order: name, points, manual, and the prompt text."""
    import yaml

    nb = json.loads(Path(master).read_text())
    questions, current = [], None
    for cell in nb["cells"]:
        src = source(cell)
        if cell.get("cell_type") == "raw" and src.startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(src.split("\n", 1)[1]) or {}
            current = {"name": config["name"], "points": config.get("points"),
                       "manual": bool(config.get("manual", False)), "prompt": None}
            questions.append(current)
        elif cell.get("cell_type") == "raw" and src.startswith("# END QUESTION"):
            current = None
        elif current is not None and current["prompt"] is None and cell.get("cell_type") == "markdown":
            current["prompt"] = src
    return questions


def build(names=None, out: Path = BUILD, run_tests: bool = True) -> dict[str, Path]:
    """Run ``otter assign`` on the masters (all, or ``names``); return ``{name: output folder}``.

    Raises ``RuntimeError`` naming the assignment if otter fails, e.g. because a solution fails
    one of its own tests.
    """
    found = masters()
    names = list(found) if not names else list(names)
    done = {}
    for name in names:
        if name not in found:
            raise SystemExit(f"no master notebook for assignment {name!r}; masters: {sorted(found)}")
        dest = Path(out) / name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        print(f"otter assign {found[name].relative_to(ROOT)} -> {dest}"
              + ("" if run_tests else " (tests not run)"), flush=True)
        os.environ.setdefault("MPLBACKEND", "Agg")
        from otter.assign import main as otter_assign
        try:
            otter_assign(str(found[name]), str(dest), no_run_tests=not run_tests, no_pdfs=True)
        except Exception as e:  # otter raises RuntimeError listing the failed tests
            raise RuntimeError(
                f"otter assign failed for {name}: the master's solutions must pass all of its "
                f"tests.\n{e}") from e
        zips = sorted((dest / "autograder").glob("*.zip"))
        print(f"  student notebook: {dest / 'student' / found[name].name}"
              f"\n  autograder zip:   {zips[-1].name if zips else 'none'}", flush=True)
        done[name] = dest
    return done


def tests_for(assignment: str) -> Path:
    """The assignment's otter test files, building them first if missing or older than the master."""
    found = masters()
    if assignment not in found:
        raise SystemExit(f"unknown assignment {assignment!r}; choose from {sorted(found)}")
    questions = master_questions(found[assignment])
    tests_dir = BUILD / assignment / "autograder" / "tests"
    stale = not tests_dir.exists() or any(
        not (tests_dir / f"{q['name']}.py").exists()
        or (tests_dir / f"{q['name']}.py").stat().st_mtime < found[assignment].stat().st_mtime
        for q in questions if not q["manual"])
    if stale:
        build([assignment])
    return tests_dir
