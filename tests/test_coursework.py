"""The coursework side of the books: what students can see.

- The public book (``book_build``, the same build as ``make book``) shows every assignment as its
  student notebook: no line of a master's solutions and no hidden test appears anywhere in the
  built site (HTML text, copied sources, downloads), and the page's download button hands out the
  student notebook.
- The student edition (``make student-book``) builds with no warnings and has every exercise but no
  exercise solution, while the public book keeps them.
- ``_toc.yml`` lists one assignment page per master, and each committed page is current.
"""

import html
import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book_editions  # noqa: E402
from toc import toc_files  # noqa: E402

MASTERS = book_editions.masters()
TEXT_SUFFIXES = {".html", ".ipynb", ".txt", ".md", ".py", ".json", ".yml"}


def _source(cell) -> str:
    return book_editions._source(cell)


def normalize(text: str) -> str:
    """Lower-case words and numbers only: the same text in a notebook, a code block split into
    highlighted spans, or an HTML page normalizes to the same string."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def html_text(raw: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def secrets(master: pathlib.Path) -> dict[str, str]:
    """``{normalized: original}`` for the master's solution lines and hidden-test lines that are
    distinctive (at least 25 characters once normalized)."""
    cells = json.loads(master.read_text())["cells"]
    lines, in_solution_block = [], False
    for cell in cells:
        src = _source(cell)
        if cell["cell_type"] == "raw":
            if src.startswith("# BEGIN SOLUTION"):
                in_solution_block = True
            elif src.startswith("# END SOLUTION"):
                in_solution_block = False
            continue
        if cell["cell_type"] == "markdown":
            if in_solution_block:            # a manual question's model answer and rubric
                lines += re.split(r"(?<=[.;:])\s+|\n", src)
            continue
        if src.lstrip().startswith('""" # BEGIN TEST CONFIG') and re.search(r"hidden:\s*true", src):
            lines += src.split("\n")         # a hidden test, all of it
            continue
        inside = False
        for line in src.split("\n"):
            if line.strip().startswith("# BEGIN SOLUTION"):
                inside = True
            elif line.strip().startswith("# END SOLUTION"):
                inside = False
            elif inside or line.rstrip().endswith("# SOLUTION"):
                lines.append(line)
    found = {}
    for line in lines:
        key = normalize(line)
        if len(key) >= 25:
            found[key] = line.strip()
    return found


def strings(obj) -> list[str]:
    """Every string inside a JSON document (a notebook's cells, outputs and metadata)."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, list):
        return [s for x in obj for s in strings(x)]
    if isinstance(obj, dict):
        return [s for x in obj.values() for s in strings(x)]
    return []


def file_text(path: pathlib.Path) -> str:
    raw = path.read_text(errors="replace")
    if path.suffix == ".html":
        return html_text(raw)
    if path.suffix in (".ipynb", ".json"):
        try:
            return "\n".join(strings(json.loads(raw)))
        except ValueError:
            pass
    return raw


def contains(text_norm: str, key: str) -> bool:
    return f" {key} " in f" {text_norm} "


def chapter_text() -> str:
    """What the book teaches anyway: a 'secret' line found in a chapter is a commonplace."""
    parts = [file_text(p) for p in sorted((ROOT / "chapters").rglob("*"))
             if p.suffix in (".ipynb", ".md") and "assignments" not in p.parts and p.is_file()]
    return normalize("\n".join(parts))


def visible(secret_map: dict[str, str], pages: list[pathlib.Path]) -> dict[str, str]:
    """Drop the secrets that a student notebook shows anyway (a prompt, a public test or another
    assignment's given code may have the same line) and lines that the chapters contain."""
    shown = " | ".join([normalize("\n".join(strings(json.loads(p.read_text())))) for p in pages]
                       + [chapter_text()])
    return {k: v for k, v in secret_map.items() if not contains(shown, k)}


def leaks(secret_map: dict[str, str], folder: pathlib.Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or path.stat().st_size > 20_000_000:
            continue
        text = normalize(file_text(path))
        for key, original in secret_map.items():
            if contains(text, key):
                found.append(f"{path.relative_to(folder)}: {original[:100]!r}")
    return found




def test_there_are_assignments():
    assert len(MASTERS) >= 1


def test_toc_lists_one_page_per_master():
    listed = {f.split("/", 1)[1] for f in toc_files() if f.startswith("assignments/")}
    assert listed == set(MASTERS), (
        f"_toc.yml lists assignment pages {sorted(listed)} but the masters are {sorted(MASTERS)}: "
        "add `- file: assignments/<name>` under the Assignments caption for each master")


@pytest.mark.parametrize("name", sorted(MASTERS))
def test_assignment_page_is_current(name):
    page = ROOT / "assignments" / f"{name}.ipynb"
    assert page.is_file(), f"no page {page.relative_to(ROOT)}: run `make book` and commit assignments/"
    meta = json.loads(page.read_text())["metadata"].get("normres_book", {})
    assert meta.get("fingerprint") == book_editions._fingerprint(MASTERS[name]), (
        f"{page.relative_to(ROOT)} is older than its master (or than tools/book_editions.py): "
        "run `make book` (or `python tools/book_editions.py pages`) and commit assignments/")


def test_leak_detector_finds_a_leak(tmp_path):
    # the check below must be able to fail: a solution line split into highlighted spans is found
    name, master = next(iter(MASTERS.items()))
    secret_map = secrets(master)
    assert len(secret_map) >= 5, f"{name}: too few solution lines found to check"
    key, line = next(iter(secret_map.items()))
    spans = "".join(f'<span class="n">{html.escape(tok)}</span>' for tok in re.split(r"(\W)", line))
    (tmp_path / "page.html").write_text(f"<html><pre>{spans}</pre></html>")
    assert leaks({key: line}, tmp_path), "the leak detector missed a solution line in highlighted HTML"


@pytest.mark.parametrize("name", sorted(MASTERS))
def test_public_book_shows_no_solutions_or_hidden_tests(book_build, name):
    html_dir = book_build.html      # a warning elsewhere fails test_book, not this check
    assert (html_dir / "assignments" / f"{name}.html").is_file(), book_build.log[-6000:]
    page = ROOT / "assignments" / f"{name}.ipynb"
    assert page.is_file(), f"the assignment page {page} was not generated"
    secret_map = visible(secrets(MASTERS[name]), sorted((ROOT / "assignments").glob("*.ipynb")))
    assert len(secret_map) >= 5
    found = leaks(secret_map, html_dir)
    assert not found, f"{name}: solution or hidden-test text in the public book:\n" + "\n".join(found[:20])
    # the page is the student version: its prompts and grader checks are there, its answers are not
    built = html_text((html_dir / "assignments" / f"{name}.html").read_text())
    assert "grader.check(" in built
    # nothing in the site is a master (config cell, hidden-test config)
    for path in html_dir.rglob("*.ipynb"):
        text = path.read_text(errors="replace")
        assert "# ASSIGNMENT CONFIG" not in text and "BEGIN TEST CONFIG" not in text, \
            f"{path.relative_to(html_dir)} is a master notebook"


@pytest.mark.parametrize("name", sorted(MASTERS))
def test_download_button_gives_the_student_notebook(book_build, name):
    html_dir = book_build.html
    page_html = (html_dir / "assignments" / f"{name}.html").read_text()
    link = f"../_sources/assignments/{name}.ipynb"
    assert f'href="{link}"' in page_html, "the page has no .ipynb download link"
    download = json.loads((html_dir / "_sources" / "assignments" / f"{name}.ipynb").read_text())
    answer_cells = [c for c in download["cells"] if "otter_answer_cell" in c.get("metadata", {}).get("tags", [])]
    assert answer_cells, "the downloaded notebook has no answer cells: it is not otter's student version"
    assert download["metadata"].get("otter", {}).get("tests"), \
        "the downloaded notebook does not carry its public tests (grader.check would fail)"
    assert not json.dumps(download).count("hidden: true")


def _prose_line(text):
    lines = [l.strip() for l in text.split("\n") if re.fullmatch(r"[A-Za-z ,.'()-]{40,}", l.strip())]
    return lines[0] if lines else None


def _solution_sentences():
    """One prose line from a ``{solution}`` block and one from inside a gated
    ``{solution-start}`` ... ``{solution-end}`` solution, per chapter that has them."""
    found = []
    for nb_path in sorted((ROOT / "chapters").rglob("*.ipynb")):
        if "assignments" in nb_path.parts:
            continue
        cells = [(c["cell_type"], _source(c)) for c in json.loads(nb_path.read_text())["cells"]]
        for kind, src in cells:
            for block in re.findall(r"```\{solution\}[^\n]*\n(.*?)```", src, flags=re.S):
                line = _prose_line("\n".join(l for l in block.split("\n") if not l.startswith(":")))
                if line:
                    found.append((nb_path, line))
                    break
            else:
                continue
            break
        gated = False
        for kind, src in cells:
            if "{solution-start}" in src:
                gated = True
                tail = src.split("{solution-start}", 1)[1]
                line = _prose_line("\n".join(l for l in tail.split("\n")[1:] if not l.startswith(":")))
            elif gated and "{solution-end}" in src:
                gated = False
                line = None
            elif gated and kind == "markdown":
                line = _prose_line(src)
            else:
                line = None
            if gated and line:
                found.append((nb_path, line))
                break
    return found


def test_student_edition_has_no_exercise_solutions(book_build, tmp_path):
    out = tmp_path / "student" / "html"
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "book_editions.py"), "student", "--out", str(out)],
                         capture_output=True, text=True, timeout=1200)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    assert "WARNING" not in log, [l for l in log.splitlines() if "WARNING" in l][:10]
    pages = sorted(out.rglob("*.html"))
    public_pages = sorted(book_build.html.rglob("*.html"))
    student_exercises = sum(p.read_text().count('class="exercise') for p in pages)
    public_solutions = sum(p.read_text().count('class="solution') for p in public_pages)
    student_solutions = sum(p.read_text().count('class="solution') for p in pages)
    assert student_exercises >= 10, "the student edition lost its exercises"
    assert public_solutions >= 10, "the public book should keep its exercise solutions"
    assert student_solutions == 0, f"{student_solutions} exercise solutions left in the student edition"
    # and the solutions' text is gone, not just their boxes (gated solutions included)
    sentences = _solution_sentences()
    assert len(sentences) >= 5, sentences
    for nb_path, sentence in sentences:
        rel = nb_path.relative_to(ROOT).with_suffix(".html")
        key = normalize(sentence)
        assert key in normalize(html_text((book_build.html / rel).read_text())), f"{rel}: public book lacks {sentence!r}"
        assert key not in normalize(html_text((out / rel).read_text())), f"{rel}: student edition shows {sentence!r}"
    # the assignment pages are there too, as student notebooks
    for name in MASTERS:
        assert (out / "assignments" / f"{name}.html").is_file()
    # and no page offers a Chinese edition that does not exist beside it
    dead = [p.relative_to(out).as_posix() for p in pages if 'class="edition-link"' in p.read_text()]
    assert not dead, f"student pages link to a Chinese edition: {dead[:5]}"
    assert any('class="edition-link"' in p.read_text() for p in public_pages), "the public book lost its language switch"
