"""normres.interactive: the figures' HTML is self-contained, deterministic and small, rejects bad
input with clear errors, and responds in headless chromium (when chromium is installed)."""

import base64
import json
import pathlib
import re
import shutil

import numpy as np
import pytest

from normres.interactive import Figure, slider_curves, surface

CHROMIUM = "/usr/bin/chromium"


def _curves(**kw):
    steps = np.arange(0, 50, 10)
    x = np.array([5.0, 50.0, 95.0])
    y = np.stack([np.array([-1.0, 0.0, 1.0]) * (1 + s / 10) for s in steps])
    args = dict(steps=steps, step_label="training step", xlabel="percentile", ylabel="input",
                alt="Percentiles spread out as training goes on.")
    args.update(kw)
    return slider_curves(x, {"plain": y, "with BN": y / (1 + steps[:, None] / 10)}, **args)


def _surface(**kw):
    a = np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(a, a)
    args = dict(xlabel="alpha", ylabel="beta", zlabel="loss", alt="A bowl and a rough surface.")
    args.update(kw)
    return surface(a, a, {"skip": X**2 + Y**2, "no skip": np.sin(4 * X) + Y**2}, **args)


def _spec(fig: Figure) -> dict:
    m = re.search(r'<script type="application/json" class="nrfig-data">(.*?)</script>', fig.html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_output_is_deterministic_and_self_contained():
    a, b = _curves(), _curves()
    assert a.html == b.html and a.id == b.id, "same input must give the same output (nbval compares it)"
    assert _surface().html == _surface().html
    for fig in (a, _surface()):
        assert "http://" not in fig.html.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in fig.html, "no CDN or other network resource"
        bundle = fig._repr_mimebundle_()
        assert set(bundle) == {"text/html", "text/plain"}
        assert fig.nbytes < 200_000, f"figure weighs {fig.nbytes} bytes"


def test_data_is_rounded_and_nan_becomes_gap():
    steps = [1, 2]
    y = np.array([[1.23456789, np.nan], [2.0, 3.0]])
    fig = slider_curves([0.0, 1.0], {"a": y}, steps=steps, alt="x", fallback=False)
    spec = _spec(fig)
    assert spec["series"][0]["y"] == [[1.235, None], [2.0, 3.0]]
    assert "<img" not in fig.html and fig.png is None


def test_fallback_png_is_embedded_with_alt_text():
    fig = _curves()
    m = re.search(r'<img class="nrfig-fallback" alt="([^"]+)" src="data:image/png;base64,([^"]+)"', fig.html)
    assert m and m.group(1) == "Percentiles spread out as training goes on."
    assert base64.b64decode(m.group(2))[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.png is not None and len(fig.png) < 60_000


def test_panels_bands_and_labels():
    steps = [0, 1]
    y = np.zeros((2, 3))
    fig = slider_curves([1, 2, 3], {"a": y, "b": y + 1}, steps=steps, panels={"a": "left", "b": "right"},
                        bands={"a": (y - 1, y + 1)}, alt="two panels", fallback=False)
    spec = _spec(fig)
    assert spec["panels"] == ["left", "right"]
    assert [s["panel"] for s in spec["series"]] == [0, 1]
    assert "band" in spec["series"][0] and "band" not in spec["series"][1]


@pytest.mark.parametrize("kw, match", [
    (dict(alt=""), "alt"),
    (dict(steps=[0, 1, 2]), "shape"),
    (dict(initial=99), "initial"),
    (dict(panels={"nope": "p"}), "panels"),
])
def test_slider_curves_rejects_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        _curves(**kw)


def test_surface_rejects_bad_input():
    a = np.linspace(-1, 1, 5)
    with pytest.raises(ValueError, match="shape"):
        surface(a, a, np.zeros((4, 5)), alt="x")
    with pytest.raises(ValueError, match="finite"):
        surface(a, a, np.full((5, 5), np.inf), alt="x")
    with pytest.raises(ValueError, match="alt"):
        surface(a, a, np.zeros((5, 5)), alt=" ")


@pytest.mark.skipif(not pathlib.Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")
def test_figures_respond_in_chromium(tmp_path):
    """Scrub the slider and turn the surface: the SVG path and the canvas pixels change."""
    sync_api = pytest.importorskip("playwright.sync_api")
    page_html = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>t</title></head><body>"
                 + _curves().html + _surface().html + _curves().html + "</body></html>")
    (tmp_path / "index.html").write_text(page_html)
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((tmp_path / "index.html").as_uri())
        # the same figure twice on a page: the second copy is left alone, no error
        assert page.locator("img.nrfig-fallback").first.is_hidden()
        line = page.locator(".nrfig[data-kind=curves] path.nrfig-line").first
        before = line.get_attribute("d")
        page.locator(".nrfig[data-kind=curves] input[type=range]").first.fill("4")
        assert line.get_attribute("d") != before
        assert "training step = 40" in page.locator(".nrfig[data-kind=curves] output").first.inner_text()
        canvas = page.locator(".nrfig[data-kind=surface] canvas").first
        shot = canvas.evaluate("c => c.toDataURL()")
        page.locator(".nrfig[data-kind=surface] input[aria-label^=azimuth]").fill("30")
        assert canvas.evaluate("c => c.toDataURL()") != shot
        box = canvas.bounding_box()
        shot = canvas.evaluate("c => c.toDataURL()")
        page.mouse.move(box["x"] + 50, box["y"] + 50)
        page.mouse.down()
        page.mouse.move(box["x"] + 120, box["y"] + 70)
        page.mouse.up()
        assert canvas.evaluate("c => c.toDataURL()") != shot, "dragging turns the surface"
        browser.close()
    assert errors == []
