"""The book builds from the stored outputs with warnings as errors, into a temporary folder."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_book_builds_without_warnings(book_build):
    # book_build (tests/conftest.py) builds once per session; the browser tests reuse the build
    assert book_build.returncode == 0, book_build.log[-6000:]
    html = book_build.html
    pages = {p.relative_to(html).as_posix() for p in html.rglob("*.html")}
    for page in ("intro.html", "chapters/bibliography.html", "chapters/normalization/layer_norm.html"):
        assert page in pages, f"{page} missing from the built book"
    # citations resolve to entries of the bibliography page
    layer_norm = (html / "chapters/normalization/layer_norm.html").read_text()
    assert 'href="../bibliography.html#' in layer_norm
    # the plain style sentence-cases titles, so compare without case
    bibliography = (html / "chapters/bibliography.html").read_text().lower()
    assert "layer normalization" in bibliography
    assert "batch normalization: accelerating deep network training" in bibliography
    # math renders without the internet: MathJax is copied into the book and loaded from there
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert 'src="../../_static/mathjax/tex-chtml.js"' in layer_norm
