"""Chinese notebooks for the launch buttons of the Chinese edition (issue 17).

    python tools/i18n.py notebooks       # every notebook page -> locales/zh_CN/notebooks/<page>.ipynb

A zh notebook is the English notebook with each markdown block (heading, paragraph, list item,
table cell, directive title and body: the units Sphinx extracts) replaced by its translation from
the page's ``.po`` file; code cells, their outputs and all metadata are the English notebook's,
byte for byte. A block without a translation stays English. Generated, never edited by hand; each
records in its metadata (``normres_i18n.digest``) a digest of the English notebook, its catalog
and this script, and ``tests/test_translation.py`` fails when one is stale: run the command above
and commit ``locales/zh_CN/notebooks/``.

They are committed because the launch buttons (Colab, Binder, JupyterHub) open a file of the
repository; git stores each as a small delta against its English notebook in its packs (the
outputs are the same bytes), so the repository grows by about the translated text.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import i18n

SKIP_DIRECTIVES = {"code-cell", "code", "code-block", "math", "raw", "glue:figure", "glue:math"}
_parser = None


def _md():
    global _parser
    if _parser is None:
        from markdown_it.renderer import RendererHTML
        from myst_parser.config.main import MdParserConfig
        from myst_parser.parsers.mdit import create_md_parser
        cfg = MdParserConfig(enable_extensions={"amsmath", "colon_fence", "deflist", "dollarmath", "substitution"})
        _parser = create_md_parser(cfg, RendererHTML)
    return _parser


def translate_markdown(text: str, table: dict[str, str]) -> str:
    """``text`` (MyST markdown) with every block whose English is a key of ``table`` translated."""
    lines = text.split("\n")
    edits = []   # (start, end, new lines), applied bottom-up
    tokens = _md().parse(text)
    for i, tok in enumerate(tokens):
        if tok.type == "inline" and tok.map:
            key = tok.content.replace("\n", " ").strip()
            if key not in table:
                continue
            start, end = tok.map
            first = lines[start]
            if first.lstrip().startswith("|") and end - start == 1:      # a table cell
                cells = first.split("|")
                for j, cell in enumerate(cells):
                    if cell.strip() == key:
                        cells[j] = cell.replace(key, table[key])
                        break
                edits.append((start, end, ["|".join(cells)]))
                continue
            head = tok.content.split("\n")[0]
            at = first.find(head)
            if at < 0:
                continue
            edits.append((start, end, [first[:at] + table[key]]))
        elif tok.type in ("fence", "colon_fence") and tok.map and tok.info.startswith("{"):
            name, _, title = tok.info[1:].partition("}")
            if name in SKIP_DIRECTIVES:
                continue
            start, end = tok.map
            opening = lines[start]
            title = title.strip()
            if title and title in table:
                opening = opening[: opening.rfind(title)] + table[title]
            # the body is the lines between the fences (the closing fence is the last line)
            closing = end - 1 if end - 1 > start and lines[end - 1].strip().startswith(("```", ":::", "~~~")) else end
            inner = lines[start + 1:closing]
            n_options = 0   # the directive's options (":label: x") stay; the body below them is markdown
            while n_options < len(inner) and re.match(r"^:[\w-]+:", inner[n_options]):
                n_options += 1
            body = translate_markdown("\n".join(inner[n_options:]), table)
            edits.append((start, closing, [opening] + inner[:n_options] + body.split("\n")))
    # (a directive's body is parsed apart, so no two edits overlap; apply them from the bottom)
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[start:end] = new
    return "\n".join(lines)


def _table(page: str) -> dict[str, str]:
    if not i18n.catalog_path(page).is_file():   # a page not yet extracted: its notebook stays English
        return {}
    catalog = i18n.read(page)
    return {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}


def digest(page: str) -> str:
    h = hashlib.sha256()
    for path in (i18n.ROOT / f"{page}.ipynb", i18n.catalog_path(page), Path(__file__)):
        h.update(path.read_bytes() if path.is_file() else b"")
    return h.hexdigest()[:16]


def notebook_pages() -> list[str]:
    return [p for p in i18n.pages() if (i18n.ROOT / f"{p}.ipynb").is_file()]


def zh_notebook(page: str) -> str:
    """The zh notebook of ``page`` as the text to write (the English file's JSON layout)."""
    source = (i18n.ROOT / f"{page}.ipynb").read_text()
    nb = json.loads(source)
    table = _table(page)
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        src = cell["source"]
        text = "".join(src) if isinstance(src, list) else src
        new = translate_markdown(text, table)
        if new != text:
            cell["source"] = new.splitlines(keepends=True) if isinstance(src, list) else new
    nb.setdefault("metadata", {})["normres_i18n"] = {
        "language": i18n.LANG, "source": f"{page}.ipynb", "digest": digest(page),
        "note": "generated by tools/i18n.py notebooks from the English notebook and its catalog; do not edit"}
    indent = 1 if re.match(r'\{\n "', source) else 2
    return json.dumps(nb, indent=indent, ensure_ascii=False) + "\n"


def target(page: str) -> Path:
    return i18n.NOTEBOOKS / f"{page}.ipynb"


def write_all(out: Path | None = None) -> int:
    for page in notebook_pages():
        path = (out / f"{page}.ipynb") if out else target(page)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = zh_notebook(page)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(i18n.ROOT) if path.is_relative_to(i18n.ROOT) else path}")
    return 0
