"""The Chinese edition's catalogs (issue 17; the translator's guide is locales/README.md).

- every page of the book has its catalog, valid for gettext's ``msgfmt`` (syntax, header; entries are not printf formats);
- every translated entry of every page keeps the English's markup (math, roles, code spans, link
  targets, HTML tags, counted against the English);
- every page listed in ``locales/zh_CN/complete.txt`` (every page with ``NORMRES_I18N_ALL=1``)
  has no untranslated, fuzzy or obsolete entry, and every glossary term in its Chinese;
- the rule-filled entries and the search dictionary are what the tool makes now;
- the pieces the checks and the build rely on do what they say (small, constructed cases).

A failure names the page and the English paragraph; ``python tools/i18n.py check PAGE`` lists
the same.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "_ext"))
import i18n  # noqa: E402
import i18n_edition  # noqa: E402

PAGES = i18n.pages()
COMPLETE = i18n.complete_pages()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_a_catalog(page):
    # a page new in _toc.yml is simply untranslated (English in the zh edition) until it is listed
    if not i18n.catalog_path(page).is_file() and page not in COMPLETE:
        pytest.skip(f"{page} has no catalog yet: python tools/i18n.py update {page}")
    assert i18n.catalog_path(page).is_file(), (
        f"{page} has no catalog: run python tools/i18n.py update {page} and commit "
        f"{i18n.catalog_path(page).relative_to(ROOT)}")


def test_no_catalog_without_a_page():
    names = {p.relative_to(i18n.CATALOGS).with_suffix("").as_posix() for p in i18n.CATALOGS.rglob("*.po")}
    stray = names - set(PAGES) - {"sphinx", "ui"}
    assert not stray, f"catalogs of pages no longer in _toc.yml (delete them): {sorted(stray)}"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="msgfmt not installed (apt-get install gettext)")
def test_catalogs_are_valid_gettext():
    bad = []
    for po in sorted(i18n.CATALOGS.rglob("*.po")):
        run = subprocess.run(["msgfmt", "--check-header", "--check-domain", "-o", "/dev/null", str(po)], capture_output=True, text=True)
        if run.returncode:   # (warnings about optional header fields are not failures)
            bad.append(f"{po.relative_to(ROOT)}: {run.stderr.strip()}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("page", [p for p in PAGES if i18n.catalog_path(p).is_file()])
def test_translations_keep_markup(page):
    problems = [p for p in i18n.problems(page, completeness=False, terms=False)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", sorted(COMPLETE) or ["(none listed)"])
def test_complete_pages_are_complete(page):
    if page == "(none listed)":
        pytest.skip("no page is listed in locales/zh_CN/complete.txt yet (NORMRES_I18N_ALL=1 checks all)")
    assert page in PAGES, f"{page} (locales/zh_CN/complete.txt) is not a page of the book"
    problems = i18n.problems(page)
    assert not problems, "\n".join(problems)


def test_search_dictionary_is_current():
    want = "".join(f"{t} 100000 n\n" for t in sorted({zh for _, zh in i18n.glossary()}, key=lambda t: (-len(t), t)))
    assert i18n.JIEBA_DICT.read_text() == want, "run python tools/i18n.py update (the glossary changed)"


# --- the pieces, on constructed cases ----------------------------------------------------------

def test_glossary_table_is_read():
    pairs = dict((forms[0], zh) for forms, zh in i18n.glossary())
    for english, chinese in [("batch normalization", "批归一化"), ("layer normalization", "层归一化"),
                             ("residual connection", "残差连接"), ("padding", "填充"), ("time step", "时间步")]:
        assert pairs.get(english) == chinese


def test_term_pattern_matches_forms_not_parts():
    pattern = i18n.term_pattern(["batch normalization", "batch norm"])
    assert pattern.search("Batch norm layers") and pattern.search("two batch-normalizations")
    assert not pattern.search("batchnorm") and not pattern.search("a batch normalizer")


def test_glossary_check_catches_a_missing_term(tmp_path, monkeypatch):
    po = tmp_path / "p.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Layer norm needs no batch."\nmsgstr "层规范化不需要批次。"\n\n'
                  'msgid "Padding changes the batch statistics."\nmsgstr "填充会改变批次的统计量。"\n')
    monkeypatch.setattr(i18n, "catalog_path", lambda page: po)
    monkeypatch.setattr(i18n, "source_digest", lambda page: None)
    found = i18n.problems("chapters/x")
    assert len(found) == 1 and "'layer normalization' should be '层归一化'" in found[0] and "Layer norm" in found[0]


def test_completeness_check_names_page_and_english(tmp_path, monkeypatch):
    po = tmp_path / "p.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "An untranslated sentence."\nmsgstr ""\n\n'
                  '#, fuzzy\nmsgid "A changed sentence."\nmsgstr "旧的译文。"\n\n'
                  '#~ msgid "A deleted sentence."\n#~ msgstr "删掉的句子。"\n')
    monkeypatch.setattr(i18n, "catalog_path", lambda page: po)
    monkeypatch.setattr(i18n, "source_digest", lambda page: None)
    found = i18n.problems("chapters/x")
    assert [f.split(":")[1].strip() for f in found] == ["untranslated", "fuzzy (the English changed; check and remove the fuzzy flag)", "obsolete entry (its English is gone; delete it)"]
    assert all(f.startswith("chapters/x: ") for f in found)
    assert "An untranslated sentence." in found[0] and "A deleted sentence." in found[2]
    assert i18n.problems("chapters/x", completeness=False) == []


def test_a_changed_english_makes_a_complete_catalog_stale(tmp_path, monkeypatch):
    po = tmp_path / "p.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
                  '"X-Source-Digest: 0123456789abcdef\\n"\n\nmsgid "Text."\nmsgstr "文字。"\n')
    monkeypatch.setattr(i18n, "catalog_path", lambda page: po)
    monkeypatch.setattr(i18n, "source_digest", lambda page: "0123456789abcdef")
    assert i18n.problems("chapters/x") == []
    monkeypatch.setattr(i18n, "source_digest", lambda page: "fedcba9876543210")
    found = i18n.problems("chapters/x")
    assert len(found) == 1 and "the English changed" in found[0] and "update chapters/x" in found[0]


def test_ledger_digest_ignores_its_generated_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(i18n, "ROOT", tmp_path)
    (tmp_path / "chapters").mkdir()
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    page = tmp_path / "chapters" / "ledger.md"
    table = "```{list-table}\n* - a claim\n  - 1.0\n```\n"
    page.write_text("# Ledger\n\nProse.\n\n**3 experimental claims** and 0 checks\n\n" + table)
    before = i18n.source_digest("chapters/ledger")
    page.write_text("# Ledger\n\nProse.\n\n**4 experimental claims** and 0 checks\n\n" + table.replace("1.0", "2.0"))
    assert i18n.source_digest("chapters/ledger") == before
    page.write_text("# Ledger\n\nOther prose.\n\n" + table)
    assert i18n.source_digest("chapters/ledger") != before


def test_markup_check_counts_against_the_english():
    english = ("With $\\gamma$ and {cite:t}`ba2016layer`, see [the chapter](layer_norm.ipynb) and "
               "`NORMRES_SEED`; {glue:text}`acc:.3f` and $x$.")
    same = "有 $\\gamma$ 和 {cite:t}`ba2016layer`，见[该章](layer_norm.ipynb)与 `NORMRES_SEED`；{glue:text}`acc:.3f`，$x$。"
    assert i18n.markup(english) == i18n.markup(same)
    for broken in (same.replace("$x$", "x"),                                  # math dropped
                   same.replace("{cite:t}`ba2016layer`", "Ba 等人"),           # role dropped
                   same.replace("acc:.3f", "acc:.2f"),                        # role changed
                   same.replace("(layer_norm.ipynb)", "(batch_norm.ipynb)"),  # link changed
                   same + " $y$"):                                            # math added
        assert i18n.markup(english) != i18n.markup(broken), broken
    # a titled cross-reference: its title is prose and is translated, its target is kept
    ref = "defined {ref}`above <bn-instruments>`"
    assert i18n.markup(ref) == i18n.markup("定义见{ref}`前文 <bn-instruments>`")
    assert i18n.markup(ref) != i18n.markup("定义见{ref}`前文 <bn-other>`")


def test_wordless_entries_are_copied_and_ledger_rows_translated_by_rule():
    assert i18n.auto_translation("chapters/setup", "$y = x + F(x)$") == "$y = x + F(x)$"
    assert i18n.auto_translation("chapters/setup", "{doc}`../assignments/a`") == "{doc}`../assignments/a`"
    assert i18n.auto_translation("chapters/setup", "Batch norm") is None
    formula = "\\mu_j = \\frac{1}{N}\\sum_i x_{ij},\\qquad \\hat\\mu \\leftarrow m\\,\\mu_{\\text{batch}}"
    assert i18n.auto_translation("chapters/setup", formula) == formula    # a display formula
    assert i18n.auto_translation("chapters/setup", "Write \\(x\\) here") is None
    summary = "**153 experimental claims** and 0 checks in 9 chapters; **4 fragile**; 1 failing."
    assert i18n.auto_translation("chapters/ledger", summary) == "**153 条实验论断**，0 项检查，分布在 9 章；**4 条脆弱**；1 条不成立。"
    assert i18n.auto_translation("chapters/ledger", "**1.3: fragile**") == "**1.3: 脆弱**"
    claim = "Sentence <br>`why_normalize.kappa_raw`: holds if value &gt;&nbsp;50"
    assert i18n.auto_translation("chapters/ledger", claim) == "Sentence <br>`why_normalize.kappa_raw`：成立条件为 值 &gt;&nbsp;50"
    # a summary with a phrase the rules do not know goes to a translator
    assert i18n.auto_translation("chapters/ledger", "**3 experimental claims** and 0 checks in 1 chapter; 2 new") is None


def test_glue_roles_of_a_translation_read_the_pages_notebook():
    nb = "/chapters/normalization/batch_norm.ipynb"
    text = "准确率 {glue:text}`acc_eval:.3f`，约 {glue:text}`pct_changed`%，{glue:}`fig`，{glue:text}`other.ipynb::k`"
    assert i18n_edition.localize_glue(text, nb) == (
        f"准确率 {{glue:text}}`{nb}::acc_eval:.3f`，约 {{glue:text}}`{nb}::pct_changed:s`%，"
        f"{{glue:}}`{nb}::fig`，{{glue:text}}`other.ipynb::k`")


# --- the zh notebooks of the launch buttons -----------------------------------------------------

import json  # noqa: E402

import i18n_notebooks  # noqa: E402

NOTEBOOK_PAGES = i18n_notebooks.notebook_pages()


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_every_notebook_page_has_a_zh_notebook(page):
    path = i18n_notebooks.target(page)
    if not path.is_file() and page not in COMPLETE:
        pytest.skip(f"no zh notebook for {page} yet: python tools/i18n.py notebooks")
    assert path.is_file(), f"no {path.relative_to(ROOT)}: run python tools/i18n.py notebooks"


# a zh notebook follows its English one (a re-executed chapter, a new translation) when its page
# is complete: until then chapters change under the translators, and `make book` regenerates it
@pytest.mark.parametrize("page", [p for p in NOTEBOOK_PAGES if p in COMPLETE] or ["(none listed)"])
def test_zh_notebook_has_the_english_code_and_outputs(page):
    if page == "(none listed)":
        pytest.skip("no notebook page is listed in locales/zh_CN/complete.txt yet")
    path = i18n_notebooks.target(page)
    en = json.loads((ROOT / f"{page}.ipynb").read_text())
    zh = json.loads(path.read_text())
    assert zh["metadata"]["normres_i18n"]["source"] == f"{page}.ipynb"
    assert len(zh["cells"]) == len(en["cells"]), f"{path.relative_to(ROOT)} is stale: run python tools/i18n.py notebooks"
    for a, b in zip(en["cells"], zh["cells"]):
        assert a["cell_type"] == b["cell_type"]
        if a["cell_type"] != "markdown":
            assert a == b, f"{path.relative_to(ROOT)}: cell {a.get('id')} differs from the English notebook's"


@pytest.mark.parametrize("page", [p for p in NOTEBOOK_PAGES if p in COMPLETE] or ["(none listed)"])
def test_zh_notebook_of_a_complete_page_is_current(page):
    if page == "(none listed)":
        pytest.skip("no notebook page is listed in locales/zh_CN/complete.txt yet")
    zh = json.loads(i18n_notebooks.target(page).read_text())
    assert zh["metadata"]["normres_i18n"]["digest"] == i18n_notebooks.digest(page), (
        f"{i18n_notebooks.target(page).relative_to(ROOT)} is older than {page}.ipynb or its translation: "
        "run python tools/i18n.py notebooks and commit locales/zh_CN/notebooks/")


def test_zh_notebook_blocks_are_translated():
    text = "## Title\n\nOne para\nover lines $x$.\n\n````{exercise}\n:label: e1\nDo it.\n````\n\n| a | b |\n|---|---|\n| c | d |\n"
    table = {"Title": "标题", "One para over lines $x$.": "一段 $x$。", "Do it.": "做。", "c": "丙"}
    assert i18n_notebooks.translate_markdown(text, table) == (
        "## 标题\n\n一段 $x$。\n\n````{exercise}\n:label: e1\n做。\n````\n\n| a | b |\n|---|---|\n| 丙 | d |\n")


def test_chinese_search_term_set_answers_as_the_list_did():
    terms = i18n_edition._TermSet()
    terms.extend(["LayerNorm", "eps"])
    terms.extend([])
    assert "LayerNorm" in terms and "eps" in terms and "BatchNorm" not in terms
