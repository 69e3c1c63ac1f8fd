"""A chapter runs anywhere: every chapter notebook starts with the standard setup cell, and the
book's launch buttons (Colab, Binder, JupyterHub) point at the repository set in _config.yml.

The setup cell is written by tools/setup_cell.py from ``repository:`` in _config.yml; run
``python tools/setup_cell.py <notebooks>`` when this test says a notebook's cell is missing or stale.
"""

import importlib.util
import json
import pathlib
import re
import subprocess
import sys
from urllib.parse import quote

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from toc import toc_files  # noqa: E402

spec = importlib.util.spec_from_file_location("setup_cell", ROOT / "tools" / "setup_cell.py")
setup_cell = importlib.util.module_from_spec(spec)
spec.loader.exec_module(setup_cell)


def toc_notebooks():
    """The chapter notebooks: every .ipynb listed in _toc.yml (assignments are not chapters)."""
    return [ROOT / f"{f}.ipynb" for f in toc_files()
            if (ROOT / f"{f}.ipynb").is_file() and "assignments" not in pathlib.Path(f).parts]


CHAPTERS = toc_notebooks()


def test_repository_is_configured():
    url, branch = setup_cell.repository()
    assert url.startswith("https://github.com/") and branch
    assert setup_cell.pip_source() == f"git+{url}@{branch}#subdirectory=code"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    buttons = config["launch_buttons"]
    for key in ("binderhub_url", "colab_url", "jupyterhub_url"):
        assert buttons.get(key), f"launch_buttons.{key} is not set"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_chapter_starts_with_setup_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "no code cell"
    first = code[0]
    hint = f"run: python tools/setup_cell.py {path.relative_to(ROOT)}"
    assert first.get("id") == setup_cell.CELL_ID, f"the first code cell is not the setup cell; {hint}"
    assert "".join(first["source"]) == setup_cell.source(), f"the setup cell is stale; {hint}"
    assert setup_cell.TAG in first["metadata"].get("tags", [])
    texts = [("".join(o["text"]) if isinstance(o["text"], list) else o["text"])
             for o in first.get("outputs", []) if o["output_type"] == "stream"]
    assert texts == [setup_cell.output_text()], "the setup cell's stored output differs"
    others = [c for c in nb["cells"] if c.get("id") == setup_cell.CELL_ID]
    assert len(others) == 1, "one setup cell per notebook"


def test_setup_cell_installs_only_when_missing(monkeypatch, capsys):
    """Run the cell's source twice: with normres present (no pip) and with it 'missing' (pip)."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    exec(setup_cell.source(), {})
    present = capsys.readouterr().out
    assert calls == []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "normres" else real_find_spec(name, *a))
    exec(setup_cell.source(), {})
    missing = capsys.readouterr().out
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", setup_cell.pip_source()]]
    assert present == missing == setup_cell.output_text(), "the cell must print the same either way"


def test_tool_is_idempotent(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("import normres", execution_count=1),
        nbformat.v4.new_code_cell("print(1)", execution_count=2,
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")]),
    ])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    tool = [sys.executable, str(ROOT / "tools" / "setup_cell.py")]
    assert subprocess.run(tool + ["--check", str(path)], capture_output=True).returncode == 1
    subprocess.run(tool + [str(path)], check=True, capture_output=True)
    once = path.read_bytes()
    subprocess.run(tool + [str(path)], check=True, capture_output=True)
    assert path.read_bytes() == once
    assert subprocess.run(tool + ["--check", str(path)], capture_output=True).returncode == 0
    new = nbformat.read(path, as_version=4)
    assert [c.cell_type for c in new.cells] == ["markdown", "code", "code", "code"]
    assert [c.execution_count for c in new.cells[1:]] == [1, 2, 3]
    assert new.cells[1].id == setup_cell.CELL_ID


def test_launch_buttons_point_at_the_repository(book_build):
    assert book_build.returncode == 0, book_build.log[-3000:]
    url, branch = setup_cell.repository()
    owner_repo = url.removeprefix("https://github.com/")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["launch_buttons"]
    assert CHAPTERS
    for path in CHAPTERS:
        rel = path.relative_to(ROOT).as_posix()
        page = (book_build.html / rel).with_suffix(".html").read_text()
        links = set(re.findall(r'href="(https?://[^"]+)"', page))
        expected = {
            "Colab": f"{config['colab_url'].rstrip('/')}/github/{owner_repo}/blob/{branch}/{rel}",
            "Binder": f"{config['binderhub_url'].rstrip('/')}/v2/gh/{owner_repo}/{branch}?urlpath=",
            "JupyterHub": f"{config['jupyterhub_url'].rstrip('/')}/hub/user-redirect/git-pull?repo="
                          f"{quote(url, safe='/')}",
        }
        for name, prefix in expected.items():
            hits = [link for link in links if link.replace("&amp;", "&").startswith(prefix)]
            assert hits, f"{rel}: no {name} button starting {prefix}"
            if name != "Colab":
                assert all(rel in h and branch in h for h in hits), f"{rel}: {name} button {hits}"
