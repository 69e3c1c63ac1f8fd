"""The two editions of the book (issue 17): glue roles in translated paragraphs, the theme's
interface strings in mainland Chinese, and a link on every page to the same page in the other
language. Active in both builds (``_config.yml``); the Chinese one is ``tools/i18n.py build``.

- **Glue in translations.** Sphinx parses a translated paragraph as a document of its own, so a
  bare ``{glue:text}`key:.3f``` finds no notebook there and renders empty (with a warning).
  Before a translation is parsed, every bare ``{glue:text}`` / ``{glue:}`` / ``{glue:any}`` role in
  it gets the page's own notebook as its source, ``{glue:text}`/chapters/x.ipynb::key:.3f```
  (myst-nb's cross-document form, resolved after reading from the same stored outputs), so the
  number is the one the English page shows. The English build parses no translations and is
  unchanged; translators write the roles exactly as the English has them.
- **Interface strings.** The ``sphinx`` domain (pydata-sphinx-theme's color-mode switcher, skip
  link, Sphinx's own strings) is read by Sphinx from ``locales/<lang>/LC_MESSAGES/sphinx.po``
  before its built-in catalogs. What the templates and scripts hard-code, and sphinx-book-theme's
  strings (its own zh_CN catalog, which Sphinx gives precedence over ours, has Taiwan wording such
  as 列印成 PDF and misses the launch menu), are replaced in the built pages' ``title``,
  ``aria-label``, ``data-bs-title`` and ``placeholder`` attributes from
  ``locales/<lang>/LC_MESSAGES/ui.po`` (after the build). myst-nb's code-cell toggles and
  sphinx-togglebutton's hints are settings, given by the Chinese build (``tools/i18n.py``).
- **Part captions** of the table of contents come from the root page's catalog (they are added
  after Sphinx translates a page).
- **Search.** Sphinx's Chinese indexer looks each word up in a list of all Latin words seen so far
  (quadratic); it gets a set with the same answers.
- **Downloads.** The download button serves ``_sources/<page>.ipynb``, which Sphinx copies from the
  English source; in a translated build it is replaced by the page's translated notebook
  (``locales/<lang>/notebooks/<page>.ipynb``, the one the launch buttons open) where there is one.
- **Language switch.** Each page starts with a link to the same page in the other edition
  (English at the site root, Chinese under ``zh_CN/``), and has ``<link rel="alternate">`` to both.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from sphinx.transforms import i18n as sphinx_i18n

EDITIONS = {"en": ("English", "en", ""), "zh_CN": ("中文", "zh-CN", "zh_CN/")}
_GLUE = re.compile(r"\{(glue(?::any|:text|:)?)\}`([^`]*)`")
_original_publish = sphinx_i18n.publish_msgstr


def localize_glue(text: str, notebook: str) -> str:
    """Bare glue roles of ``text`` -> the same roles reading ``notebook`` (a path from the
    source root, with a leading slash)."""
    def repl(m: re.Match) -> str:
        role, body = m.group(1), m.group(2)
        if "::" in body:
            return m.group(0)
        if role == "glue:text":
            key, _, fmt = body.partition(":")
            # myst-nb splits the format at the last colon: always give one, or '::' is cut
            return f"{{glue:text}}`{notebook}::{key}:{fmt or 's'}`"
        return f"{{{role}}}`{notebook}::{body}`"
    return _GLUE.sub(repl, text)


def _publish_msgstr(app, source, source_path, source_line, config, settings):
    env = getattr(app, "env", None)
    docname = getattr(env, "docname", None) if env is not None else None
    if docname and str(env.doc2path(docname)).endswith(".ipynb") and "{glue" in source:
        source = localize_glue(source, "/" + str(Path(env.doc2path(docname, False))))
    return _original_publish(app, source, source_path, source_line, config, settings)


def _language_links(app, pagename, templatename, context, doctree):
    language = app.config.language or "en"
    if language not in EDITIONS or not app.config.normres_language_links:
        return
    depth = pagename.count("/") + (1 if EDITIONS[language][2] else 0)
    root = "../" * depth
    links, alternates = [], []
    for code, (name, hreflang, prefix) in EDITIONS.items():
        href = f"{root}{prefix}{pagename}.html"
        alternates.append(f'<link rel="alternate" hreflang="{hreflang}" href="{html.escape(href)}" />')
        if code != language:
            links.append(f'<a class="edition-link" href="{html.escape(href)}" hreflang="{hreflang}" '
                         f'lang="{hreflang}">{name}</a>')
    context["metatags"] = context.get("metatags", "") + "\n".join(alternates)
    if context.get("body") is not None and links:
        label = "Language" if language == "en" else "语言"
        context["body"] = (f'<nav class="edition-switch" aria-label="{label}" style="text-align: right">{" ".join(links)}</nav>\n'
                           + context["body"])


UI_DOMAIN = "ui"
_ATTRIBUTE = re.compile(r'\b(title|aria-label|data-bs-title|placeholder)="([^"]*)"')


def ui_strings(app) -> dict[str, str]:
    """``locales/<lang>/LC_MESSAGES/ui.po``: English -> translation."""
    from babel.messages.pofile import read_po
    table = {}
    for d in app.config.locale_dirs:
        po = Path(app.srcdir, d, app.config.language, "LC_MESSAGES", f"{UI_DOMAIN}.po")
        if po.is_file():
            with open(po, "rb") as f:
                table.update({m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy})
    return table


def _translated_html(app, exception) -> bool:
    """Whether a build that just finished was a successful HTML build of a translation."""
    language = app.config.language
    return exception is None and bool(language) and language != "en" and app.builder.format == "html"


def _translate_ui(app, exception):
    """The interface strings the templates and scripts hard-code, in the built pages."""
    if not _translated_html(app, exception):
        return
    table = ui_strings(app)
    if not table:
        return
    out = Path(app.outdir)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _ATTRIBUTE.sub(lambda m: f'{m.group(1)}="{html.escape(table.get(html.unescape(m.group(2)), html.unescape(m.group(2))))}"'
                             if html.unescape(m.group(2)) in table else m.group(0), text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    for script in out.glob("_static/*.js"):
        text = script.read_text(encoding="utf-8")
        new = text
        for english, chinese in table.items():
            new = new.replace(f'aria-label="{english}"', f'aria-label="{chinese}"')
        if new != text:
            script.write_text(new, encoding="utf-8")


def _translated_downloads(app, exception):
    """In a translated build, ``_sources/<page>.ipynb`` (the download button's file) becomes the
    page's translated notebook."""
    if not _translated_html(app, exception):
        return
    notebooks = Path(app.srcdir, "locales", app.config.language, "notebooks")
    sources = Path(app.outdir, "_sources")
    for copied in sources.rglob("*.ipynb"):
        translated = notebooks / copied.relative_to(sources)
        if translated.is_file():
            copied.write_bytes(translated.read_bytes())


class _TermSet(list):
    """Sphinx's Chinese search keeps every Latin word of the book in a list and asks it, for every
    word it stems, whether the word is in it: quadratic (15 s of a 45 s build). The same answers
    from a set."""

    def __init__(self):
        super().__init__()
        self._terms = set()

    def extend(self, terms):
        self._terms.update(terms)

    def __contains__(self, term):
        return term in self._terms


def _fast_chinese_search(app):
    if (app.config.language or "").startswith("zh"):
        from sphinx.search.zh import SearchChinese
        if not isinstance(SearchChinese.latin_terms, _TermSet):
            SearchChinese.latin_terms = _TermSet()


def _translate_toc_captions(app, doctree):
    """The part captions of the table of contents (sphinx-external-toc adds its toctrees after
    Sphinx has translated the page, so the sidebar kept "Part I: Normalization"): from the page's
    own catalog, where gettext extracts them."""
    language = app.config.language
    if not language or language == "en":
        return
    from sphinx import addnodes
    from sphinx.locale import init as init_locale
    from sphinx.util.i18n import docname_to_domain
    toctrees = [n for n in doctree.findall(addnodes.toctree) if n.get("caption")]
    if not toctrees:
        return
    domain = docname_to_domain(app.env.docname, app.config.gettext_compact)
    dirs = [str(Path(app.srcdir, d)) for d in app.config.locale_dirs]
    catalog, has = init_locale(dirs, language, domain)
    if not has:
        return
    for node in toctrees:
        translated = catalog.gettext(node["caption"])
        if translated and translated != node["caption"]:
            node["caption"] = translated
            node["rawcaption"] = translated


def setup(app):
    sphinx_i18n.publish_msgstr = _publish_msgstr
    # the student edition (tools/book_editions.py) has no Chinese twin to link to
    app.add_config_value("normres_language_links", True, "html")
    app.connect("html-page-context", _language_links)
    app.connect("build-finished", _translate_ui)
    app.connect("build-finished", _translated_downloads)
    app.connect("builder-inited", _fast_chinese_search)
    app.connect("doctree-read", _translate_toc_captions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
