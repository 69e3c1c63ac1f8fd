"""The Chinese edition: catalogs, checks, the zh build and the zh notebooks (issue 17).

    python tools/i18n.py update            # English changed: re-extract, merge into the .po files
    python tools/i18n.py check [PAGE ...]  # untranslated / fuzzy / obsolete entries, markup, terms
    python tools/i18n.py build [OUT]       # the Chinese edition into _build/html/zh_CN (or OUT)
    python tools/i18n.py notebooks [DIR]   # zh notebooks for the launch buttons

English is the source; ``locales/README.md`` is the translator's guide. ``update`` runs Sphinx's
gettext builder through Jupyter Book's own build function (``gettext_compact: false``: one
``.pot`` per page, in ``_build/gettext``) and merges each template into its page's ``.po`` file in
``locales/zh_CN/LC_MESSAGES/`` with sphinx-intl: a changed English paragraph turns its entry fuzzy
(a small edit) or new and empty (a rewrite); an entry whose English is gone stays as obsolete
(``#~``) until a translator deletes it. Entries that need no translator are filled by ``update``
itself (flagged ``#. auto``): those with no words in them (numbers, formulas, links, Chinese
glossary cells) are copied, and the generated rows of the ledger page are translated by rule
(the claim sentences written in code stay English).

``check`` is what ``tests/test_translation.py`` runs: for each page it lists the entries that are
untranslated, fuzzy or obsolete, the translations whose markup differs from the English (math,
roles such as ``{cite:t}``/``{glue:text}``/``{ref}``, code spans, links and HTML tags, counted
against the English), and the translations that miss a glossary term's Chinese
(``chapters/glossary.md``).
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANG = "zh_CN"
LOCALES = ROOT / "locales"
CATALOGS = LOCALES / LANG / "LC_MESSAGES"
COMPLETE = LOCALES / LANG / "complete.txt"
JIEBA_DICT = LOCALES / LANG / "jieba_dict.txt"
GLOSSARY = ROOT / "chapters" / "glossary.md"
POT = ROOT / "_build" / "gettext"
HTML = ROOT / "_build" / "html"
ZH_HTML = HTML / LANG
NOTEBOOKS = LOCALES / LANG / "notebooks"
AUTO = "auto"   # the extracted comment of entries that update fills by rule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toc import toc_files  # noqa: E402

HEADER = {
    "Project-Id-Version": "normres-book",
    "Report-Msgid-Bugs-To": "",
    "PO-Revision-Date": "2026-12-03 00:00+0000",
    "Last-Translator": "normres team",
    "Language": LANG,
    "Language-Team": "zh_CN",
    "MIME-Version": "1.0",
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Transfer-Encoding": "8bit",
    "Plural-Forms": "nplurals=1; plural=0;",
}


# ---------------------------------------------------------------------------------------------
# building

def sphinx_build(builder: str, out: Path, doctrees: Path, overrides: dict | None = None,
                 quiet: bool = False, strict: bool = True) -> int:
    """Jupyter Book's build (the call its CLI makes) with Sphinx overrides merged last."""
    from jupyter_book.config import get_final_config
    from jupyter_book.sphinx import build_sphinx

    conf = {"external_toc_path": (ROOT / "_toc.yml").as_posix(), "latex_individualpages": False,
            "nitpicky": True}
    conf.update(overrides or {})
    result = build_sphinx(ROOT, out, use_external_toc=True, noconfig=True,
                          path_config=str(ROOT / "_config.yml"), confoverrides=conf, doctreedir=doctrees,
                          builder=builder, warningiserror=strict, keep_going=True, quiet=quiet)
    return result if isinstance(result, int) else 1


def zh_overrides() -> dict:
    """The Sphinx settings that make the Chinese edition (the rest is _config.yml's): the language,
    search segmented by jieba with the glossary's terms, myst-nb's code-cell toggles in Chinese,
    and launch buttons that open the Chinese notebooks (``locales/zh_CN/notebooks/<page>.ipynb``)."""
    from jupyter_book.config import get_final_config
    base, _ = get_final_config(user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
                               sourcedir=ROOT, use_external_toc=True)
    theme = dict(base.get("html_theme_options", {}))
    theme["path_to_docs"] = NOTEBOOKS.relative_to(ROOT).as_posix()
    theme["search_bar_text"] = "搜索本书……"
    # the book's title as the root page's catalog translates it (the page's own h1)
    title = base.get("html_title", "")
    if catalog_path(pages()[0]).is_file():
        title = next((m.string for m in read(pages()[0]) if m.id == title and m.string and not m.fuzzy), title)
    return {"language": LANG, "html_search_language": "zh", "html_title": title,
            "html_search_options": {"dict": str(JIEBA_DICT)},
            "html_theme_options": theme,
            "nb_code_prompt_show": "显示代码单元",
            "nb_code_prompt_hide": "隐藏代码单元",
            "togglebutton_hint": "点击显示", "togglebutton_hint_hide": "点击隐藏"}


def build(out: Path = ZH_HTML, doctrees: Path | None = None, quiet: bool = False) -> int:
    """The Chinese edition, warnings as errors, into ``out`` (default ``_build/html/zh_CN``)."""
    write_jieba_dict()
    doctrees = doctrees or out.parent.parent / f".doctrees-{LANG}"
    return sphinx_build("html", out, doctrees, zh_overrides(), quiet=quiet)


def extract() -> int:
    """English pages -> ``_build/gettext/<page>.pot`` (one template per page)."""
    # not strict: a chapter being edited (a glue key not yet executed) must not stop the catalogs
    return sphinx_build("gettext", POT, ROOT / "_build" / ".doctrees-gettext", quiet=True, strict=False)


# ---------------------------------------------------------------------------------------------
# catalogs

def pages() -> list[str]:
    """Every page of the book (toc order), as its catalog's name without suffix."""
    return toc_files()


def source_digest(page: str) -> str:
    """A digest of the English a page's catalog is extracted from: a notebook's markdown cells, a
    page's text (the root page's with _toc.yml's captions). For the ledger page, only its prose:
    its table rows and summary line change with every ``make test-seeds`` and are translated by
    rule, so they do not make the catalog stale."""
    import hashlib
    import json
    h = hashlib.sha256()
    notebook, markdown = ROOT / f"{page}.ipynb", ROOT / f"{page}.md"
    if notebook.is_file():
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                src = cell["source"]
                h.update(("".join(src) if isinstance(src, list) else src).encode() + b"\0")
    elif markdown.is_file():
        text = markdown.read_text()
        if page == "chapters/ledger":
            text = re.sub(r"```\{list-table\}.*?```", "", text, flags=re.S)
            text = "\n".join(line for line in text.splitlines() if not re.match(r"\*\*\d", line))
        h.update(text.encode())
    if page == pages()[0]:
        h.update((ROOT / "_toc.yml").read_bytes())
    return h.hexdigest()[:16]


def catalog_digest(page: str) -> str | None:
    """The digest recorded in a catalog's header by ``update`` (None if there is none)."""
    m = re.search(r'^"X-Source-Digest: (\w+)\\n"$', catalog_path(page).read_text(), re.M)
    return m.group(1) if m else None


def catalog_path(page: str) -> Path:
    return CATALOGS / f"{page}.po"


def read(page: str):
    from babel.messages.pofile import read_po
    with open(catalog_path(page), "rb") as f:
        return read_po(f, locale=LANG, abort_invalid=True)


def write(page: str, catalog, digest: str | None = None) -> None:
    from babel.messages.pofile import write_po
    for message in catalog:   # babel guesses "python-format" from a '%'; no entry is a format string
        message.flags.discard("python-format")
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, omit_header=False, include_previous=True)
    text = buf.getvalue().decode()
    # a stable header: no dates, no template boilerplate, so that catalogs diff only by entries
    head, _, body = text.partition('\nmsgid ""\nmsgstr ""\n')
    fields = dict(HEADER)
    digest = digest or (catalog_digest(page) if catalog_path(page).is_file() else None)
    if digest:
        fields["X-Source-Digest"] = digest
    fields = "".join(f'"{k}: {v}\\n"\n' for k, v in fields.items())
    header = (f"# Chinese (mainland) translation of the page {page}.\n"
              "# See locales/README.md. This file is distributed under the book's license (CC BY 4.0).\n"
              f'msgid ""\nmsgstr ""\n{fields}')
    entries = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    catalog_path(page).write_text(header + "\n" + entries)


_WORDS = re.compile(r"[A-Za-z]{2,}")
_CODE = re.compile(r"`[^`]*`")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]+\$", re.S)
_ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")
_TITLED_REF = re.compile(r"^(\{(?:ref|doc|numref|term)\}`)[^`<]*<([^>`]+)>`$")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_HTML = re.compile(r"<[^>]+>|&#?\w+;")
KEEP_WORDS = {"CPU"}   # words that stand in Chinese text as they are


def _wordless(msgid: str) -> bool:
    text = msgid
    if "\\" in text and "$" not in text:   # a display formula: LaTeX commands and \text{} are no prose
        text = re.sub(r"\\(?:text|mathrm|operatorname|mathbf|mathcal|tfrac|frac)\{[^{}]*\}|\\[A-Za-z]+", " ", text)
        return not re.search(r"[A-Za-z]{4,}", text)   # (indices such as ij are not words)
    for pattern in (_ROLE, _CODE, _MATH, _LINK_TARGET, _HTML):
        text = pattern.sub(" ", text)
    return not any(w not in KEEP_WORDS for w in _WORDS.findall(text))


_LEDGER_WORDS = [
    (re.compile(r": holds if value "), "：成立条件为 值 "),
    (re.compile(r"\bexact \(no spread\)"), "精确（无离散）"),
    (re.compile(r"\bfragile\b"), "脆弱"),
    (re.compile(r"\bfails\b"), "不成立"),
    (re.compile(r"\bmissing\b"), "缺失"),
]
_LEDGER_SUMMARY = [
    (re.compile(r"\*\*(\d+) experimental claims?\*\* and (\d+) checks? in (\d+) chapters?"),
     r"**\1 条实验论断**，\2 项检查，分布在 \3 章"),
    (re.compile(r"\*\*(\d+) fragile\*\*"), r"**\1 条脆弱**"),
    (re.compile(r"(\d+) failing"), r"\1 条不成立"),
    (re.compile(r"(\d+) with a missing value \(a run stopped early\)"), r"\1 条缺少数值（有运行提前中止）"),
]


def auto_translation(page: str, msgid: str) -> str | None:
    """The translation ``update`` gives an entry by rule, or None if it needs a translator."""
    if _wordless(msgid):
        return msgid
    if page == "chapters/ledger":
        if msgid.startswith("**") and "experimental claim" in msgid:
            parts = msgid.rstrip(".").split("; ")
            out = []
            for part in parts:
                for pattern, repl in _LEDGER_SUMMARY:
                    if pattern.fullmatch(part):
                        out.append(pattern.sub(repl, part))
                        break
                else:
                    return None
            return "；".join(out) + "。"
        if " <br>`" in msgid and ": holds if value " in msgid:   # a claim: its sentence stays English
            return _LEDGER_WORDS[0][0].sub(_LEDGER_WORDS[0][1], msgid)
        text = msgid
        for pattern, repl in _LEDGER_WORDS[1:]:
            text = pattern.sub(repl, text)
        if text != msgid and _wordless(_HTML.sub(" ", re.sub(r"[^\x00-\x7f]", " ", text))):
            return text
    return None


def fill_auto(page: str, catalog) -> int:
    """Give every rule-translatable entry its translation; return how many changed."""
    changed = 0
    for message in catalog:
        if not message.id or isinstance(message.id, tuple):
            continue
        auto = auto_translation(page, message.id)
        if auto is None:
            if AUTO in message.auto_comments:   # was auto, now needs a translator
                message.auto_comments = [c for c in message.auto_comments if c != AUTO]
                message.string = ""
                changed += 1
            continue
        if message.string != auto or message.fuzzy or AUTO not in message.auto_comments:
            message.string = auto
            message.flags.discard("fuzzy")
            message.previous_id = []
            message.auto_comments = [AUTO]
            changed += 1
    return changed


def update(selected: list[str] | None = None) -> int:
    """Re-extract the English and merge each page's template into its ``.po`` file (all pages, or
    only ``selected``; a missing catalog is created). Merging is sphinx-intl's (babel's): a changed
    English paragraph keeps its old translation, marked fuzzy, with the old English beside it."""
    code = extract()
    if code:
        return code
    from sphinx_intl.basic import UpdateItem, _update_single_file
    for page in selected or pages():
        pot = POT / f"{page}.pot"
        if not pot.is_file():
            print(f"{page}: no template {pot.relative_to(ROOT)} (is the page in _toc.yml?)")
            return 1
        catalog_path(page).parent.mkdir(parents=True, exist_ok=True)
        _update_single_file(UpdateItem(str(catalog_path(page)), str(pot), LANG, 100, False))
        catalog = read(page)
        fill_auto(page, catalog)
        # an obsolete entry is kept only if a translator's work is in it, to reuse
        for key in [k for k, m in catalog.obsolete.items() if not m.string or AUTO in m.auto_comments
                    or m.string == auto_translation(page, m.id)]:
            del catalog.obsolete[key]
        write(page, catalog, digest=source_digest(page))
        s = statistics(page)
        print(f"{page}: {s['translated']} translated, {s['untranslated']} untranslated, {s['fuzzy']} fuzzy, "
              f"{s['obsolete']} obsolete, {s['auto']} filled by rule")
    write_jieba_dict()
    return 0


# ---------------------------------------------------------------------------------------------
# glossary and search

def glossary() -> list[tuple[list[str], str]]:
    """(English forms, Chinese term) pairs from the glossary page's table."""
    pairs = []
    for line in GLOSSARY.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not line.startswith("|") or set(cells[1]) <= set("-: ") or cells[0] == "English":
            continue
        pairs.append(([f.strip() for f in cells[0].split(",") if f.strip()], cells[1]))
    return pairs


def term_pattern(forms: list[str]) -> re.Pattern:
    alts = []
    for form in forms:
        words = [re.escape(w) for w in re.split(r"[- ]", form)]
        alts.append(r"[- ]".join(words) + r"(?:s|es)?")
    return re.compile(r"(?<![\w-])(?:" + "|".join(alts) + r")(?![\w-])", re.I)


def write_jieba_dict() -> None:
    """The glossary's Chinese terms as jieba's user dictionary, so search indexes them as words."""
    terms = sorted({zh for _, zh in glossary()}, key=lambda t: (-len(t), t))
    JIEBA_DICT.write_text("".join(f"{t} 100000 n\n" for t in terms))


# ---------------------------------------------------------------------------------------------
# checks

def markup(text: str) -> collections.Counter:
    """What a translation must keep: math, roles, code spans, link targets, HTML tags."""
    found = collections.Counter()
    rest = text
    for kind, pattern in (("math", _MATH), ("role", _ROLE), ("code", _CODE)):
        for m in pattern.findall(rest):
            if kind == "role":   # a cross-reference's title is prose: only its target must stay
                m = _TITLED_REF.sub(r"\1<\2>`", m)
            found[(kind, re.sub(r"\s+", " ", m))] += 1
        rest = pattern.sub(" ", rest)
    for m in re.findall(r"\]\(([^)]*)\)", rest):
        found[("link", m)] += 1
    for m in re.findall(r"<(https?://[^>]+)>", rest):
        found[("link", m)] += 1
    for m in re.findall(r"<(/?\w+)[^>]*>", rest):
        if not m.startswith("http"):
            found[("html", m)] += 1
    for m in re.findall(r"\[\^[^\]]+\]", rest):
        found[("footnote", m)] += 1
    return found


def complete_pages() -> set[str]:
    """Pages whose translation must be complete (locales/zh_CN/complete.txt; NORMRES_I18N_ALL=1: all)."""
    if os.environ.get("NORMRES_I18N_ALL") == "1":
        return set(pages())
    if not COMPLETE.is_file():
        return set()
    return {line.split("#")[0].strip() for line in COMPLETE.read_text().splitlines()} - {""}


def _short(text: str, n: int = 90) -> str:
    text = re.sub(r"\s+", " ", text)
    return repr(text if len(text) <= n else text[:n] + "...")


def problems(page: str, completeness: bool = True, terms: bool = True) -> list[str]:
    """Every problem of one page's catalog, one line each, naming the page and the English."""
    out = []
    if not catalog_path(page).is_file():
        return [f"{page}: no catalog {catalog_path(page).relative_to(ROOT)} (run python tools/i18n.py update)"]
    catalog = read(page)
    pairs = [(term_pattern(forms), zh, forms) for forms, zh in glossary()] if terms else []
    for message in catalog:
        if not message.id:
            continue
        english = message.id
        if AUTO in message.auto_comments:
            if message.string != auto_translation(page, english):
                out.append(f"{page}: stale automatic entry {_short(english)} (run python tools/i18n.py update)")
            continue
        if completeness:
            if not message.string:
                out.append(f"{page}: untranslated: {_short(english)}")
                continue
            if message.fuzzy:
                out.append(f"{page}: fuzzy (the English changed; check and remove the fuzzy flag): {_short(english)}")
                continue
        if not message.string or message.fuzzy:
            continue
        want, got = markup(english), markup(message.string)
        if want != got:
            lost = sorted(f"{k} {v!r}" for (k, v), n in (want - got).items())
            extra = sorted(f"{k} {v!r}" for (k, v), n in (got - want).items())
            out.append(f"{page}: markup differs in the translation of {_short(english)}: "
                       + "; ".join(filter(None, ["missing " + ", ".join(lost) if lost else "",
                                                  "added " + ", ".join(extra) if extra else ""])))
        if pairs and page != "chapters/glossary":
            plain = english
            for pattern in (_ROLE, _CODE, _MATH, _LINK_TARGET):
                plain = pattern.sub(" ", plain)
            for pattern, zh, forms in pairs:
                if pattern.search(plain) and zh not in message.string:
                    out.append(f"{page}: glossary: {forms[0]!r} should be {zh!r} in the translation of "
                               f"{_short(english)}")
    if completeness and catalog_digest(page) != source_digest(page):
        out.append(f"{page}: the English changed since its catalog was updated: run "
                   f"python tools/i18n.py update {page}, then translate what is new or fuzzy")
    if completeness:
        for message in catalog.obsolete.values():
            out.append(f"{page}: obsolete entry (its English is gone; delete it): {_short(message.id)}")
    return out


def statistics(page: str) -> dict:
    catalog = read(page)
    counts = collections.Counter()
    for message in catalog:
        if not message.id:
            continue
        kind = ("auto" if AUTO in message.auto_comments else "fuzzy" if message.fuzzy
                else "translated" if message.string else "untranslated")
        counts[kind] += 1
    counts["obsolete"] = len(catalog.obsolete)
    return counts


def check(selected: list[str] | None = None) -> int:
    everything = pages()
    chosen = selected or everything
    unknown = [p for p in chosen if p not in everything]
    if unknown:
        print(f"not a page of the book: {', '.join(unknown)} (pages: {', '.join(everything)})")
        return 2
    lines = []
    for page in chosen:
        s = statistics(page) if catalog_path(page).is_file() else {}
        print(f"{page:45s} translated {s.get('translated', 0):4d}  auto {s.get('auto', 0):4d}  "
              f"untranslated {s.get('untranslated', 0):4d}  fuzzy {s.get('fuzzy', 0):3d}  "
              f"obsolete {s.get('obsolete', 0):3d}")
        lines += problems(page)
    print("\n".join(lines) if lines else "no problems")
    return 1 if lines else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["extract", "update", "check", "build", "notebooks"])
    parser.add_argument("args", nargs="*", help="check: pages (e.g. chapters/setup); notebooks: folder")
    args = parser.parse_args(argv)
    if args.what == "check":
        return check([a.removesuffix(".po").removeprefix(str(CATALOGS) + "/") for a in args.args])
    if args.what == "update":
        return update([a.removesuffix(".po") for a in args.args] or None)
    if args.what == "notebooks":
        from i18n_notebooks import write_all
        return write_all(Path(args.args[0]) if args.args else None)
    if args.what == "build" and args.args:   # build OUT [DOCTREES]: the Chinese edition elsewhere
        return build(Path(args.args[0]), Path(args.args[1]) if len(args.args) > 1 else None)
    return {"extract": extract, "update": update, "build": build}[args.what]()


if __name__ == "__main__":
    raise SystemExit(main())
