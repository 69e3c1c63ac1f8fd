"""The book's assignment pages and its student edition.

    python tools/book_editions.py pages     # student notebooks for the book, in assignments/
    python tools/book_editions.py student   # pages, then the student edition in _build/student/html

**Assignment pages.** The book shows each assignment as its *student* notebook, never the master:
for every master in ``chapters/assignments/`` (a notebook whose first cell is otter's raw
``# ASSIGNMENT CONFIG``), ``otter assign`` makes the student version (solutions replaced by
``...``, hidden tests dropped) and this script writes it to ``assignments/<name>.ipynb``, the file
``_toc.yml`` lists. The page's download button therefore hands out the student notebook. The pages
are generated but committed, so that the launch buttons (Binder, JupyterHub, Colab), which open a
page's file from the repository, find it: after changing a master, run ``make book`` (it refreshes
stale pages first) and commit ``assignments/``; ``tests/test_coursework.py`` fails while a page is
stale. For the book the
master's ``tests.files`` is switched off, so the public tests travel inside the notebook's metadata
and ``grader.check`` works in a downloaded copy without a ``tests/`` folder (``make assignments``
builds the instructor's versions, with test files and autograder zips, into
``_build/assignments/``). A page is rebuilt only when its master (or this script) changed.

**Student edition.** The same book with every exercise solution removed: sphinx-exercise's
``hide_solutions`` set through Jupyter Book's own build function (the same call its CLI makes, with
the override merged last), plus ``tools/hide_gated_solutions.py`` for the gated
``solution-start``/``solution-end`` form, built with warnings as errors into ``_build/student/html``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "assignments"
STUDENT_HTML = ROOT / "_build" / "student" / "html"

NOTE = """> **This is the student version of the assignment.** Download it with the download button at
> the top of the page (`.ipynb`) and work on it in the course's environment (`make lab`, or
> `pip install -r requirements.txt` from the repository root). `grader.check("...")` runs the
> public tests of a question, which are stored inside the notebook. Your instructor grades the
> submitted notebook with further, hidden tests and marks the written answers by hand."""


from masters import CONFIG_HEADER, masters, source as _source  # noqa: E402  (tools/ is the script's folder)


def _fingerprint(master: Path) -> str:
    h = hashlib.sha256(master.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def _with_embedded_tests(master_nb: dict) -> dict:
    """The master with tests stored in the student notebook and no autograder zip (faster)."""
    nb = json.loads(json.dumps(master_nb))
    first = nb["cells"][0]
    config = yaml.safe_load(_source(first).split("\n", 1)[1]) or {}
    config.setdefault("tests", {})
    config["tests"]["files"] = False
    config["generate"] = False
    config["solutions_pdf"] = False
    config["run_tests"] = False
    first["source"] = CONFIG_HEADER + "\n" + yaml.safe_dump(config, sort_keys=False)
    return nb


def student_notebook(name: str, master: Path) -> dict:
    """Run ``otter assign`` on a copy of ``master``; return the student notebook as a dict."""
    with tempfile.TemporaryDirectory(prefix="pages_") as tmp:
        work = Path(tmp) / "master"
        shutil.copytree(master.parent, work, ignore=shutil.ignore_patterns(
            "_build", ".ipynb_checkpoints", "__pycache__", "*.zip"))
        copy = work / master.name
        copy.write_text(json.dumps(_with_embedded_tests(json.loads(master.read_text())), indent=1))
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
        proc = subprocess.run([sys.executable, "-m", "otter", "assign", "--no-run-tests", copy.name,
                               str(Path(tmp) / "dist")], cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
            raise SystemExit(f"otter assign failed on {master.relative_to(ROOT)} (exit {proc.returncode})")
        return json.loads((Path(tmp) / "dist" / "student" / master.name).read_text())


def _page(student: dict, master: Path, fingerprint: str) -> dict:
    """The book page: the student notebook plus a note after its title, outputs cleared."""
    cells = student["cells"]
    title = next((i for i, c in enumerate(cells)
                  if c.get("cell_type") == "markdown" and _source(c).lstrip().startswith("# ")), None)
    note = {"cell_type": "markdown", "id": "student-version-note", "metadata": {}, "source": NOTE}
    if title is not None:
        # the title first (otter puts its initialization cell above it), then the note
        title_cell = cells.pop(title)
        cells[:0] = [title_cell, note]
    else:
        cells.insert(0, note)
    if student.get("nbformat_minor", 0) < 5:   # cell ids exist from nbformat 4.5 on
        note.pop("id")
    for i, c in enumerate(cells):
        if c.get("cell_type") == "code":
            c["outputs"], c["execution_count"] = [], None
        if "id" in c:                              # otter draws random ids: keep diffs small
            c["id"] = f"cell-{i:03d}"
    student.setdefault("metadata", {})["normres_book"] = {
        "generated_from": master.relative_to(ROOT).as_posix(),
        "by": "tools/book_editions.py (edit the master, not this file)",
        "fingerprint": fingerprint}
    student["metadata"].setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                                  "language": "python"})
    return student


def pages(verbose: bool = True) -> dict[str, Path]:
    """Write ``assignments/<name>.ipynb`` for every master whose page is missing or stale."""
    PAGES.mkdir(exist_ok=True)
    found = masters()
    written = {}
    for name, master in found.items():
        out = PAGES / f"{name}.ipynb"
        fp = _fingerprint(master)
        if out.is_file():
            try:
                if json.loads(out.read_text())["metadata"]["normres_book"]["fingerprint"] == fp:
                    written[name] = out
                    continue
            except (ValueError, KeyError, TypeError):
                pass
        if verbose:
            print(f"assignment page: {master.relative_to(ROOT)} -> {out.relative_to(ROOT)} (student version)",
                  flush=True)
        page = _page(student_notebook(name, master), master, fp)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")   # concurrent builds never share a temp file
        tmp.write_text(json.dumps(page, indent=1, ensure_ascii=False) + "\n")
        tmp.replace(out)
        written[name] = out
    for stale in PAGES.glob("*.ipynb"):
        if stale.stem not in found:
            stale.unlink()
    return written


def build_student_edition(out: Path = STUDENT_HTML) -> int:
    """Build the book with exercise solutions removed; return Sphinx's exit status."""
    from jupyter_book.config import get_final_config
    from jupyter_book.sphinx import build_sphinx

    # hide_solutions misses gated solutions in sphinx-exercise 1.2.1: our extension hides those
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    base, _ = get_final_config(user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
                               sourcedir=ROOT, use_external_toc=True)
    overrides = {
        "extensions": list(base["extensions"]) + ["hide_gated_solutions"],
        "external_toc_path": (ROOT / "_toc.yml").as_posix(),
        "latex_individualpages": False,   # jupyter-book's CLI always passes this one
        "nitpicky": True,
        "hide_solutions": True,           # sphinx-exercise: drop every {solution}
        "normres_language_links": False,  # there is no Chinese student edition to switch to
        "html_title": "Normalization and Residual Connections (student edition)",
    }
    result = build_sphinx(ROOT, out, use_external_toc=True, noconfig=True,
                          path_config=str(ROOT / "_config.yml"), confoverrides=overrides,
                          builder="html", warningiserror=True, keep_going=True)
    if result == 0:
        print(f"student edition: {out / 'index.html'}")
    return result if isinstance(result, int) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["pages", "student"])
    parser.add_argument("--out", type=Path, default=STUDENT_HTML, help="student edition's HTML folder")
    args = parser.parse_args(argv)
    pages()
    if args.what == "student":
        return build_student_edition(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
