"""Small fixes to the HTML the theme stack writes, found by tests/test_browser.py.

- sphinx-thebe registers its inline configuration script twice under Sphinx 7.4, so every page
  threw "Identifier 'THEBE_JS_URL' has already been declared" in the console: drop repeated
  scripts from each page's script list.
- The bibliography's citation list has role="list" but its entries role="doc-biblioentry" (a role
  DPUB-ARIA 1.1 deprecated), so screen readers get a list without items (axe:
  aria-required-children, critical): give the entries role="listitem".
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in sorted(scripts, key=lambda js: getattr(js, "priority", 500)):
        attributes = getattr(js, "attributes", {}) or {}
        # not priority; the same inline script comes once with filename None and once with ""
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(attributes.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def _citation_roles(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=999)   # after the theme adds its own
    app.connect("html-page-context", _citation_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
