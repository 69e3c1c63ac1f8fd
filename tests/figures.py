"""Stale-figure check for nbval: every re-executed figure is compared with the stored one.

nbval skips ``image/png`` outputs, so a figure could change (or stop changing) without a test
noticing. :mod:`portable` wraps nbval's per-cell output comparison: after nbval compared the text,
the PNGs of the fresh run are compared, in order, with the stored ones, in the same run (no
notebook is executed twice). That covers ``image/png`` outputs and the static PNG that
:mod:`normres.interactive` figures embed in their HTML (masked for nbval by tests/sanitize.cfg).

On the numerics that executed a notebook its figures re-execute byte-identically, so the check
is nearly exact: a figure passes when its bytes match, or when its pixels match within
``PIXEL_TOLERANCE`` (a channel difference up to 8/255 is ignored, e.g. antialiasing of text from a
different FreeType) on all but ``MAX_DIFFERING`` (0.01%) of its pixels. A failure names the cell
(nbval prints its number and source) and the size of the difference.

Elsewhere, a figure of a cell classified as rounding-dependent is only counted (see
:mod:`portable`). Cells tagged ``nbval-ignore-output`` are not compared at all, as nbval does for
their text.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

import numpy as np

PIXEL_TOLERANCE = 8 / 255
MAX_DIFFERING = 1e-4
_EMBEDDED = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\s]+)")


def pngs(outputs) -> list[bytes]:
    """The PNG images among a cell's outputs, in order (stored nbformat nodes or fresh dicts)."""
    found = []
    for out in outputs:
        data = out.get("data") or {}
        if "image/png" in data:
            value = data["image/png"]
            value = "".join(value) if isinstance(value, list) else value
            found.append(base64.b64decode(re.sub(r"\s", "", value)))
        html = data.get("text/html")
        if html:
            html = "".join(html) if isinstance(html, list) else html
            found += [base64.b64decode(re.sub(r"\s", "", m)) for m in _EMBEDDED.findall(html)]
    return found


def _decode(png: bytes) -> np.ndarray:
    import matplotlib.image
    arr = matplotlib.image.imread(io.BytesIO(png), format="png")
    if arr.dtype != np.float32 and arr.dtype != np.float64:
        arr = arr / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 4:   # compare colors over white, as the page shows them
        arr = arr[:, :, :3] * arr[:, :, 3:] + (1 - arr[:, :, 3:])
    return arr.astype(np.float64)


def difference(stored: bytes, fresh: bytes) -> str | None:
    """None when the two PNGs show the same picture (within tolerance), else what differs."""
    if stored == fresh:
        return None
    try:
        a, b = _decode(stored), _decode(fresh)
    except (ValueError, OSError, SyntaxError, binascii.Error) as err:
        return f"cannot decode a PNG ({err})"
    if a.shape != b.shape:
        return f"size changed: stored {a.shape[1]}x{a.shape[0]} px, fresh {b.shape[1]}x{b.shape[0]} px"
    diff = np.abs(a - b).max(axis=2)
    differing = int((diff > PIXEL_TOLERANCE).sum())
    fraction = differing / diff.size
    if fraction <= MAX_DIFFERING:
        return None
    return (f"{differing} of {diff.size} pixels differ ({100 * fraction:.2f}%, allowed "
            f"{100 * MAX_DIFFERING:.2f}%), largest channel difference {diff.max():.2f}")


def compare(fresh_outputs, stored_outputs) -> list[str]:
    """Problems found comparing a cell's fresh figures with its stored ones (empty: all match)."""
    fresh, stored = pngs(fresh_outputs), pngs(stored_outputs)
    if len(fresh) != len(stored):
        return [f"the cell stores {len(stored)} figure(s) but drew {len(fresh)}"]
    problems = []
    for i, (s, f) in enumerate(zip(stored, fresh), 1):
        d = difference(s, f)
        if d:
            problems.append(f"figure {i} of the cell is stale: {d}")
    return problems
