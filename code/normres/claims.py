r"""Experimental claims, stated once: the sentence, the measured value and the threshold.

Every experimental ``assert`` in the book goes through :func:`claim`, so a failing claim says in
words what stopped holding and by how much, and so the book can keep a ledger of how firmly each
claim stands (``make test-seeds`` collects them over seeds)::

    claim("batch_norm.large_lr", "Batch norm trains at lr 0.1 where the plain net fails",
          value=acc_bn - acc_plain, op=">", threshold=0.2)

A claim holds when ``value <op> threshold``. Its *margin* is how far the value is from the
threshold, relative to the threshold's size:
:math:`m = (v - t)/|t|` for ``>``/``>=`` and :math:`m = (t - v)/|t|` for ``<``/``<=`` (with
:math:`|t|` replaced by 1 when :math:`t = 0`); a claim holds with margin :math:`m \ge 0`.

When the environment variable ``NORMRES_CLAIMS_LOG`` names a file, every claim (held or not)
is appended to it as one JSON line: key, sentence, value, op, threshold, margin, held, seed,
kind and scale.
``make test-seeds`` collects these lines into the book's ledger of claims (``chapters/ledger.json``,
rendered as the page ``chapters/ledger.md`` by ``tools/ledger.py``).

When ``NORMRES_LEDGER_CHECK`` names that ledger (``chapters/conftest.py`` sets it for nbval), a
claim that holds is also compared with the value the ledger recorded for its key at the current
seed, and fails, naming the key, if the two differ by more than :data:`LEDGER_RTOL` times
:math:`|v_\text{ledger}| + |t|` (loose enough for another CPU's rounding, tight enough to catch a
ledger left stale after an experiment changed). Keys or seeds the ledger does not hold are not
compared; ``tests/test_ledger.py`` checks that every key is there.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re

from .bench.seeding import current_seed

__all__ = ["claim", "check", "margin", "OPS", "LEDGER_RTOL", "KINDS", "SCALES"]

LEDGER_RTOL = 0.1
_ledger_cache: dict = {}

OPS = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}
KINDS = ("experiment", "check")
SCALES = ("amount",)
_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def margin(value: float, op: str, threshold: float) -> float:
    """The relative distance of ``value`` from ``threshold`` on the holding side (negative when
    the claim fails); see the module docstring."""
    scale = abs(threshold) if threshold != 0 else 1.0
    return (value - threshold) / scale if op in (">", ">=") else (threshold - value) / scale


def _as_float(x, name: str) -> float:
    if hasattr(x, "item") and callable(x.item):   # a 0-d tensor or NumPy scalar
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number (or a 0-d tensor), got {type(x).__name__}")
    return float(x)


def claim(key: str, sentence: str, value, op: str, threshold, *, kind: str = "experiment",
          scale: str | None = None) -> None:
    """Assert that ``value <op> threshold``.

    It returns nothing, so a claim that ends a notebook cell prints nothing (a trailing ``;`` does
    not reliably silence a cell's value under nbval, which runs cells without input history).

    Args:
        key: a unique dotted name starting with the chapter, e.g. ``"layer_norm.batch_size"``.
        sentence: the claim as the prose states it.
        value: the measured number (float, int, or 0-d tensor / NumPy scalar).
        op: one of ``">"``, ``">="``, ``"<"``, ``"<="``.
        threshold: the number the claim is measured against, chosen before looking.
        kind: ``"experiment"`` (a measured result, whose value moves with the seed and the
            numerics; the ledger gives its margin in spreads over seeds) or ``"check"`` (true by
            construction: an identity, a property of the code; :func:`check` is the shorthand).
            The ledger lists checks apart from the experimental claims.
        scale: how the ledger measures the claim's distance from its threshold over seeds. None
            (the default): as a factor (a log ratio) when the threshold and every value are
            positive (ratios, losses, norms), else as a difference. ``"amount"``: always as a
            difference, for a gap such as ``abs(a - b)`` whose values sit near zero, where a log
            ratio would put a run at 1e-8 against a threshold of 0.03 fifteen log units on the
            safe side and count that as spread.

    Raises:
        AssertionError: naming the key, the sentence, the value and the threshold, when the claim
            does not hold (NaN never holds).
        TypeError, ValueError: on a malformed claim.
    """
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"key must be a dotted lower-case name like 'chapter.claim', got {key!r}")
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError("sentence must be a non-empty string stating the claim")
    if op not in OPS:
        raise ValueError(f"op must be one of {tuple(OPS)}, got {op!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if scale is not None and scale not in SCALES:
        raise ValueError(f"scale must be None or one of {SCALES}, got {scale!r}")
    v = _as_float(value, "value")
    t = _as_float(threshold, "threshold")
    if not math.isfinite(t):
        raise ValueError(f"threshold must be finite, got {t}")
    held = bool(OPS[op](v, t)) and not math.isnan(v)
    m = margin(v, op, t) if math.isfinite(v) else -math.inf
    log = os.environ.get("NORMRES_CLAIMS_LOG", "").strip()
    if log:
        record = {"key": key, "sentence": sentence, "value": v if math.isfinite(v) else None,
                  "op": op, "threshold": t, "margin": m if math.isfinite(m) else None,
                  "held": held, "seed": current_seed(), "kind": kind, "scale": scale}
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    if not held:
        raise AssertionError(f"claim {key} does not hold: {sentence} "
                             f"(measured {v:.4g}, needed {op} {t:.4g})")
    ledger = os.environ.get("NORMRES_LEDGER_CHECK", "").strip()
    if ledger:
        recorded = _ledger_value(ledger, key, current_seed())
        if recorded is not None and abs(v - recorded) > LEDGER_RTOL * (abs(recorded) + abs(t)):
            raise AssertionError(f"claim {key} measured {v:.4g} at seed {current_seed()}, but the ledger "
                                 f"{ledger} records {recorded:.4g}: the ledger is stale, run make test-seeds "
                                 f"(claim: {sentence})")


def check(key: str, sentence: str, value, op: str, threshold) -> None:
    """:func:`claim` for a statement true by construction (an identity, a property of the code,
    not an experimental result): asserted the same way, kept out of the experimental ledger."""
    claim(key, sentence, value, op, threshold, kind="check")


def _ledger_value(path: str, key: str, seed: int) -> float | None:
    """The value the ledger at ``path`` records for ``key`` at ``seed`` (None if it holds none)."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    if _ledger_cache.get("path") != (path, stamp):
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        values = {}
        for entry in data.get("notebooks", {}).values():
            stored = entry.get("stored_seed")
            for c in entry.get("claims", []):
                for label, val in c.get("values", {}).items():
                    if label != "stored" and not label.isdigit():   # e.g. the foreign-numerics run
                        continue
                    s = stored if label == "stored" else int(label)
                    if val is not None and s is not None:
                        values[c["key"], s] = float(val)
        _ledger_cache.update(path=(path, stamp), values=values)
    return _ledger_cache["values"].get((key, seed))
