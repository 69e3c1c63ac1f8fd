"""The built book in a real browser: every page opened in headless chromium, offline.

The book is built once (the ``book_build`` fixture of tests/conftest.py, shared with test_book.py),
served on 127.0.0.1, and every page is opened in Debian's chromium through Playwright's Python
client (no browser download: ``executable_path=/usr/bin/chromium``). Every request to another host
is blocked and recorded. One crawl collects everything; the tests below then fail on:

- a request to another host (the book must work offline: no CDN, no fonts, no analytics);
- a local 404 or failed local request, a broken image, a console error or uncaught exception;
- math left as raw TeX (MathJax did not typeset it);
- an exercise solution that does not open when its title is clicked;
- an interactive figure (normres.interactive) that does not respond to its slider;
- site search finding nothing for words that are in the book;
- accessibility: axe-core (bundled by axe-playwright-python), failing on serious and critical
  violations, and on any missing text alternative or heading out of order (plus our own check:
  one h1, no skipped level). Every page gets every rule but color contrast (with its solutions
  opened). Contrast, the one check that differs between light and dark mode and the one that
  costs most of axe's time, runs in BOTH modes on the pages that show every kind of element the
  theme styles (intro, setup with its highlighted code, the shortest chapter notebook: prose,
  links, outputs, math, exercises, solutions) and on every interactive figure of every page;
  all pages share one stylesheet. ``NORMRES_A11Y_ALL=1`` checks contrast on every page in both
  modes (slow: a full audit).

Skipped, with the reason printed, when /usr/bin/chromium or Playwright is missing (.ci/run installs
chromium first, so CI always runs it). ``NORMRES_SCREENSHOTS=DIR`` saves a screenshot of every page
in light and dark mode to DIR, to look at.
"""

from __future__ import annotations

import functools
import html as html_module
import http.server
import os
import pathlib
import re
import threading
import time
from urllib.parse import urljoin, urlparse

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = pathlib.Path("/usr/bin/chromium")
SEARCH_WORDS = ("covariate", "residual", "padding")   # words the book uses; search must find them
ZH = "zh_CN"   # the Chinese edition's folder in the site (tools/i18n.py)
# Chinese terms and a page each must find (jieba indexes them as words: locales/zh_CN/jieba_dict.txt)
ZH_SEARCH = {"批归一化": "chapters/normalization/batch_norm.html",
             "层归一化": "chapters/normalization/layer_norm.html",
             "残差连接": "chapters/residuals/residual_connections.html"}
A11Y_FAIL = {"serious", "critical"}
# Console messages that are not failures. pydata-sphinx-theme logs this as an error on a reader's
# very first visit (nothing stored yet), then stores the mode; it changes nothing on the page.
KNOWN_CONSOLE = ("Got invalid theme mode: . Resetting to auto.",)
# preload: False keeps axe from re-fetching stylesheets itself; it resolves the theme's
# `@import "../basic.css"` against the page instead of the sheet and asks for a file that is not there.
AXE_OPTIONS = {"resultTypes": ["violations"], "preload": False}
ALWAYS_FAIL_RULES = {"heading-order", "page-has-heading-one", "image-alt", "svg-img-alt",
                     "role-img-alt", "empty-heading"}

if not CHROMIUM.exists():
    pytest.skip(f"browser test skipped: {CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test skipped: playwright not installed")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright",
                                 reason="browser test skipped: axe-playwright-python not installed")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book_build):
    assert book_build.returncode == 0, book_build.log[-3000:]
    handler = functools.partial(_Quiet, directory=str(book_build.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", book_build.html
    finally:
        server.shutdown()
        server.server_close()


# What a page reports after load: scripts run in the page (kept here, one string each).
WAIT_FOR_MATH = """async () => {
  if (!document.querySelector('.math')) return 'none';
  if (!window.MathJax || !MathJax.startup) return 'no-mathjax';
  await MathJax.startup.promise; return 'ok'; }"""

RAW_TEX = r"""() => {
  const bad = [];
  document.querySelectorAll('.math').forEach(m => {
    if (!m.querySelector('mjx-container')) bad.push(m.textContent.slice(0, 60)); });
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .nrfig';
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  const tex = /\\\(|\\\[|\$\$|\\begin\{|\\frac\{|\\mathrm\{/;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement && n.parentElement.closest(skip)) continue;
    if (tex.test(n.textContent)) bad.push(n.textContent.trim().slice(0, 60)); }
  return bad; }"""

BROKEN_IMAGES = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 80)); }"""

HEADINGS = """() => Array.from(document.querySelectorAll('main h1, main h2, main h3, main h4, main h5, main h6'))
  .filter(h => h.offsetParent !== null || h.closest('details, .toggle-hidden, .dropdown'))
  .map(h => [+h.tagName[1], h.textContent.trim().slice(0, 50)])"""


# Before axe: code blocks' syntax-highlighting spans become plain text and typeset formulas a
# placeholder. A long chapter has ~13,000 elements, 85% of them those; axe's cost grows with the
# element count (15 s -> 2 s per chapter). The math was checked before (RAW_TEX); the code colours
# are checked by the contrast pages that are left whole.
FLATTEN = """() => {
  document.querySelectorAll('div.highlight pre').forEach(pre => { pre.textContent = pre.textContent; });
  document.querySelectorAll('mjx-container').forEach(m => {
    const s = document.createElement('span'); s.textContent = 'formula'; m.replaceWith(s); }); }"""


def set_theme(page, mode):
    page.evaluate(f"() => {{ document.documentElement.dataset.theme = '{mode}'; }}")
    page.wait_for_timeout(30)


def _heading_problems(levels):
    problems = []
    if sum(1 for level, _ in levels if level == 1) != 1:
        problems.append(f"{sum(1 for level, _ in levels if level == 1)} h1 headings (want one)")
    for (prev, _), (level, text) in zip(levels, levels[1:]):
        if level > prev + 1:
            problems.append(f"h{prev} -> h{level} ({text!r})")
    return problems


def _check_figures(page):
    """Drive every interactive figure; return a list of those that did not respond."""
    dead = []
    figures = page.locator(".nrfig")
    for i in range(figures.count()):
        fig = figures.nth(i)
        fid = fig.get_attribute("id")
        fig.scroll_into_view_if_needed()
        if fig.get_attribute("data-ready") != "1":
            dead.append(f"{fid}: script did not run")
            continue
        kind = fig.get_attribute("data-kind")
        if kind == "curves":
            line = fig.locator("path.nrfig-line").first
            slider = fig.locator("input[type=range]").first
            before = line.get_attribute("d")
            target = "0" if slider.input_value() != "0" else slider.get_attribute("max")
            slider.fill(target)
            changed = line.get_attribute("d") != before
        else:
            canvas = fig.locator("canvas").first
            before = canvas.evaluate("c => c.toDataURL()")
            fig.locator("input[aria-label^=azimuth]").fill("45")
            changed = canvas.evaluate("c => c.toDataURL()") != before
            fig.locator("button", has_text="reset view").click()
        if not changed:
            dead.append(f"{fid} ({kind}): no change after moving its slider")
    return dead


SOLUTIONS = """async () => {
  // a real click on each solution's title (the theme's toggle handler), then: is its body shown?
  const shown = el => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const out = {total: 0, closed: []};
  for (const sol of document.querySelectorAll('div.solution.dropdown')) {
    out.total += 1;
    const title = sol.querySelector('.admonition-title'), body = sol.querySelector('section');
    const label = (title ? title.textContent : '?').trim().slice(0, 40);
    if (shown(body)) { out.closed.push(label + ': visible before the click (should be folded)'); continue; }
    title.click();
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    if (!shown(body)) out.closed.push(label + ': does not open on click');
  }
  return out; }"""


def _open_page(p, base, external, current, found):
    """A headless chromium page on which every request to another host is blocked and recorded
    in ``external`` (with the page ``current[0]``), and console errors, uncaught exceptions and
    failed local requests are collected in ``found``."""
    browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    host = urlparse(base).netloc

    def route(r):
        if urlparse(r.request.url).netloc != host:
            external.append((current[0], r.request.url))
            r.abort()
        else:
            r.continue_()
    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: found.setdefault("console", []).append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: found.setdefault("console", []).append(f"uncaught: {e}"))
    page.on("response", lambda r: found.setdefault("http", []).append(f"{r.status} {r.url}")
            if r.status >= 400 and urlparse(r.url).netloc == host else None)
    page.on("requestfailed", lambda r: found.setdefault("http", []).append(f"failed {r.url}")
            if urlparse(r.url).netloc == host else None)
    return browser, page


def _record(page, info, found, results, rel):
    """End a page's visit: its console messages and failed requests go into ``info``, kept as
    ``results["pages"][rel]``."""
    page.wait_for_timeout(50)
    info["console"] = [m for m in found.get("console", []) if m not in KNOWN_CONSOLE]
    info["http"] = list(found.get("http", []))
    results["pages"][rel] = info


def _search(page, url):
    """Open a search URL; the links of its results (waits up to 10 s for the first)."""
    page.goto(url, wait_until="load")
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=10_000)
    except sync_api.Error:
        pass
    return page.evaluate("() => Array.from(document.querySelectorAll('#search-results ul.search li'))"
                         ".map(li => (li.querySelector('a') || {getAttribute: () => ''}).getAttribute('href'))")


@pytest.fixture(scope="module")
def crawl(site):
    """Open every page once; return {page: findings} plus the blocked requests and search results."""
    base, html = site
    pages = sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                   if not p.relative_to(html).parts[0].startswith("_")
                   and p.relative_to(html).parts[0] != ZH   # the Chinese edition: zh_crawl below
                   and 'http-equiv="Refresh"' not in p.read_text()[:500])   # index.html redirects
    notebooks = [p for p in pages if (ROOT / p).with_suffix(".ipynb").is_file()]
    shortest = min(notebooks, key=lambda p: (html / p).stat().st_size, default=None)
    contrast_pages = {"intro.html", "chapters/setup.html", shortest}
    every_page_contrast = os.environ.get("NORMRES_A11Y_ALL") == "1"
    shots = os.environ.get("NORMRES_SCREENSHOTS")
    axe = axe_module.Axe()
    results = {"pages": {}, "external": [], "search": {}, "seconds": {}}
    with sync_api.sync_playwright() as p:
        current, found = [""], {}
        browser, page = _open_page(p, base, results["external"], current, found)
        clock = [time.perf_counter()]

        def tick(step):
            now = time.perf_counter()
            timings[step] = timings.get(step, 0.0) + now - clock[0]
            clock[0] = now
        timings = results["seconds"]
        for rel in pages:
            current[0] = rel
            found.clear()
            page.goto(base + rel, wait_until="load")
            # no colour transitions: contrast is then measured on the final colours of a mode
            page.add_style_tag(content="*, *::before, *::after { transition: none !important; }")
            math = page.evaluate(WAIT_FOR_MATH)
            tick("load+math")
            info = {
                "math": math,
                "raw_tex": page.evaluate(RAW_TEX) if math != "none" else [],
                "broken_images": page.evaluate(BROKEN_IMAGES),
                "headings": _heading_problems(page.evaluate(HEADINGS)) if rel not in ("genindex.html", "search.html") else [],
                "figures": page.locator(".nrfig").count(),
                "dead_figures": _check_figures(page),
            }
            tick("checks+figures")
            # solutions first: axe then also sees their (opened) content
            solutions = page.evaluate(SOLUTIONS)
            info["solutions_total"], info["closed_solutions"] = solutions["total"], solutions["closed"]
            tick("solutions")
            if shots:
                for mode in ("light", "dark"):
                    set_theme(page, mode)
                    out = pathlib.Path(shots) / f"{rel.replace('/', '_')}.{mode}.png"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(out), full_page=True)
                set_theme(page, "light")
            a11y = {"light": [], "dark": []}
            if rel not in contrast_pages or (html / rel).stat().st_size > 100_000:
                page.evaluate(FLATTEN)
            for mode in ("light", "dark"):
                set_theme(page, mode)
                runs = []
                if mode == "light":
                    runs.append((None, {"rules": {"color-contrast": {"enabled": False}}}))
                if rel in contrast_pages or every_page_contrast:
                    runs.append((None, {"runOnly": {"type": "rule", "values": ["color-contrast"]}}))
                elif info["figures"]:
                    runs.append(({"include": [[".nrfig"]]}, {"runOnly": {"type": "rule", "values": ["color-contrast"]}}))
                for context, options in runs:
                    violations = axe.run(page, context=context,
                                         options={**AXE_OPTIONS, **options}).response["violations"]
                    a11y[mode] += [f"{v['id']} ({v['impact']}): {v['help']} -- "
                                   + "; ".join(str(n["target"][0]) for n in v["nodes"][:3])
                                   + f" [{len(v['nodes'])} nodes]"
                                   for v in violations if v["impact"] in A11Y_FAIL or v["id"] in ALWAYS_FAIL_RULES]
            set_theme(page, "light")
            tick("axe")
            info["a11y"] = a11y
            _record(page, info, found, results, rel)
        for word in SEARCH_WORDS:
            current[0] = f"search.html?q={word}"
            results["search"][word] = len(_search(page, f"{base}search.html?q={word}"))
            tick("search")
        browser.close()
    summary = (f"browser test: {len(pages)} pages, {len(results['external'])} external requests blocked, "
               f"{sum(i['figures'] for i in results['pages'].values())} interactive figures, "
               f"{sum(i['solutions_total'] for i in results['pages'].values())} solutions, "
               f"{sum(len(v) for i in results['pages'].values() for v in i['a11y'].values())} "
               f"serious/critical accessibility findings, search hits {results['search']}; seconds "
               + ", ".join(f"{k} {v:.1f}" for k, v in results["seconds"].items()))
    print("\n" + summary)
    return results


def _fail_on(crawl, key):
    bad = {page: info[key] for page, info in crawl["pages"].items() if info[key]}
    assert not bad, "\n".join(f"{page}: {items}" for page, items in bad.items())


def test_every_page_was_opened(crawl, site):
    assert len(crawl["pages"]) >= 5
    assert "intro.html" in crawl["pages"]


def test_no_request_leaves_the_machine(crawl):
    assert not crawl["external"], "requests to other hosts (blocked):\n" + "\n".join(
        f"{page}: {url}" for page, url in crawl["external"])


def test_no_local_404(crawl):
    _fail_on(crawl, "http")


def test_no_broken_images(crawl):
    _fail_on(crawl, "broken_images")


def test_no_console_errors(crawl):
    _fail_on(crawl, "console")


def test_math_is_typeset(crawl):
    assert not [p for p, i in crawl["pages"].items() if i["math"] == "no-mathjax"], "MathJax did not load"
    assert any(i["math"] == "ok" for i in crawl["pages"].values()), "no page has math?"
    _fail_on(crawl, "raw_tex")


def test_solutions_open_on_click(crawl):
    assert sum(i["solutions_total"] for i in crawl["pages"].values()) >= 3
    _fail_on(crawl, "closed_solutions")


def test_interactive_figures_respond(crawl):
    _fail_on(crawl, "dead_figures")


def test_search_finds_words_of_the_book(crawl):
    missing = [w for w, hits in crawl["search"].items() if hits == 0]
    assert not missing, f"search found nothing for {missing}"


def test_headings_in_order(crawl):
    _fail_on(crawl, "headings")


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_accessibility(crawl, mode):
    bad = {page: info["a11y"][mode] for page, info in crawl["pages"].items() if info["a11y"][mode]}
    assert not bad, f"axe-core, {mode} mode:\n" + "\n".join(
        f"{page}:\n  " + "\n  ".join(items) for page, items in bad.items())


# --- the Chinese edition ----------------------------------------------------------------------
# Built here, once, into its own folder (tools/i18n.py build, warnings as errors) and served with
# the English build at the site root and the Chinese one under zh_CN/, as published. Every zh page
# is opened: no request leaves the machine, no local 404 or console error, math typeset,
# solutions open, interactive figures respond, its language link and the English page's link
# back resolve; Chinese terms are searched. (axe runs on the English pages: the zh pages are the
# same templates and stylesheet with other text.)

ZH_LINK = "nav.edition-switch a.edition-link"


@pytest.fixture(scope="module")
def zh_site(book_build, tmp_path_factory):
    import subprocess
    import sys
    assert book_build.returncode == 0, book_build.log[-3000:]
    base = tmp_path_factory.mktemp("zh")
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "i18n.py"), "build", str(base / ZH),
                          str(base / "doctrees")], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, "the Chinese edition does not build without warnings:\n" + (run.stdout + run.stderr)[-4000:]
    root = base / "site"   # the English book with the Chinese edition under it (links, not copies)
    root.mkdir()
    for entry in book_build.html.iterdir():
        (root / entry.name).symlink_to(entry)
    (root / ZH).symlink_to(base / ZH)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def zh_crawl(zh_site):
    base, root = zh_site
    zh = root / ZH
    pages = sorted(p.relative_to(zh).as_posix() for p in zh.rglob("*.html")
                   if not p.relative_to(zh).parts[0].startswith("_")
                   and 'http-equiv="Refresh"' not in p.read_text()[:500])
    results = {"pages": {}, "external": [], "search": {}}
    with sync_api.sync_playwright() as p:
        current, found = [""], {}
        browser, page = _open_page(p, base, results["external"], current, found)
        for rel in pages:
            current[0] = f"{ZH}/{rel}"
            found.clear()
            page.goto(f"{base}{ZH}/{rel}", wait_until="load")
            math = page.evaluate(WAIT_FOR_MATH)
            info = {"math": math, "raw_tex": page.evaluate(RAW_TEX) if math != "none" else [],
                    "lang": page.evaluate("() => document.documentElement.lang"),
                    "dead_figures": _check_figures(page), "switch": []}
            solutions = page.evaluate(SOLUTIONS)
            info["solutions_total"], info["closed_solutions"] = solutions["total"], solutions["closed"]
            # the language switch, both ways: zh -> the same English page -> back to this page
            # (search and the index are Sphinx's generated pages without a body: no switch there)
            links = page.locator(ZH_LINK)
            if rel in ("search.html", "genindex.html"):
                pass
            elif links.count() != 1:
                info["switch"].append(f"{links.count()} language links (want 1)")
            else:
                english = page.evaluate(f"() => document.querySelector('{ZH_LINK}').href")
                reply = page.request.get(english) if english == base + rel else None
                if reply is None:
                    info["switch"].append(f"English link {english} is not {base + rel}")
                elif reply.status != 200:
                    info["switch"].append(f"English page {english} does not load")
                else:   # its link back, resolved as the browser resolves it, without rendering it
                    found_back = re.search(r'<a class="edition-link" href="([^"]+)"', reply.text())
                    back = urljoin(english, html_module.unescape(found_back.group(1))) if found_back else None
                    if back != f"{base}{ZH}/{rel}":
                        info["switch"].append(f"the English page links to {back}, not back here")
            _record(page, info, found, results, rel)
        for word in ZH_SEARCH:
            current[0] = f"{ZH}/search.html?q={word}"
            results["search"][word] = _search(page, f"{base}{ZH}/search.html?q={word}")
        browser.close()
    print(f"\nbrowser test, Chinese edition: {len(pages)} pages, search {dict((w, len(h)) for w, h in results['search'].items())}")
    return results


def _zh_fail_on(zh_crawl, key):
    bad = {page: info[key] for page, info in zh_crawl["pages"].items() if info[key]}
    assert not bad, "\n".join(f"{ZH}/{page}: {items}" for page, items in bad.items())


def test_zh_every_page_opened_in_chinese(zh_crawl, crawl):
    # the same pages as the English edition, each declared Chinese
    assert set(zh_crawl["pages"]) == set(crawl["pages"])
    wrong = {p: i["lang"] for p, i in zh_crawl["pages"].items() if i["lang"] not in ("zh-CN", "zh_CN", "zh")}
    assert not wrong, f"pages not declared Chinese: {wrong}"


def test_zh_no_request_leaves_the_machine(zh_crawl):
    assert not zh_crawl["external"], "\n".join(f"{page}: {url}" for page, url in zh_crawl["external"])


def test_zh_no_local_404_or_console_error(zh_crawl):
    _zh_fail_on(zh_crawl, "http")
    _zh_fail_on(zh_crawl, "console")


def test_zh_math_is_typeset(zh_crawl):
    assert any(i["math"] == "ok" for i in zh_crawl["pages"].values())
    assert not [p for p, i in zh_crawl["pages"].items() if i["math"] == "no-mathjax"]
    _zh_fail_on(zh_crawl, "raw_tex")


def test_zh_solutions_open_and_figures_respond(zh_crawl, crawl):
    assert (sum(i["solutions_total"] for i in zh_crawl["pages"].values())
            == sum(i["solutions_total"] for i in crawl["pages"].values()))
    _zh_fail_on(zh_crawl, "closed_solutions")
    _zh_fail_on(zh_crawl, "dead_figures")


def test_zh_downloads_are_the_chinese_notebooks(zh_site):
    """The download button's notebook (``_sources/<page>.ipynb``) in the Chinese edition is the
    translated notebook the launch buttons open, not the English source."""
    _, root = zh_site
    notebooks = ROOT / "locales" / ZH / "notebooks"
    found = sorted(notebooks.rglob("*.ipynb"))
    assert len(found) >= 12, found
    for nb in found:
        rel = nb.relative_to(notebooks)
        served = root / ZH / "_sources" / rel
        assert served.is_file() and served.read_bytes() == nb.read_bytes(), \
            f"{rel}: the Chinese edition's download is not locales/{ZH}/notebooks/{rel}"


def test_zh_language_switch_resolves_both_ways(zh_crawl):
    _zh_fail_on(zh_crawl, "switch")


@pytest.mark.parametrize("word", list(ZH_SEARCH))
def test_zh_search_finds_chinese_terms(zh_crawl, word):
    hits = zh_crawl["search"][word]
    assert any(h and h.split("#")[0].split("?")[0].endswith(ZH_SEARCH[word]) for h in hits), (
        f"searching {word} in the Chinese edition does not find {ZH_SEARCH[word]} (hits: {hits[:8]})")
