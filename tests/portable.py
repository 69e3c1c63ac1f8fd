"""Strict where it can be, honest where it cannot: how nbval compares a notebook's outputs.

A notebook's stored outputs are reproducible digit for digit only on the numerics that executed
it (``metadata["normres"]["numerics"]``, see :mod:`provenance`). So each notebook is checked in
one of two modes, decided when nbval starts its kernel:

**strict** (the numerics here are the ones recorded): every cell's text as nbval compares it,
every figure within :mod:`figures`' pixel tolerance, and every claim's value against the ledger
of claims (``NORMRES_LEDGER_CHECK``, when the ledger was recorded on these numerics too).

**portable** (anything differs: CPU, torch's kernels, MKL's or oneDNN's instruction set, versions):
the cells the notebook's rounding classification lists (measured by re-executing it under other
numerics, ``make classify``) are checked for what can hold on any machine: the cell runs without
error (so every claim in it holds), its text has the same shape (every number masked, spacing
collapsed) and it draws as many figures. Every other cell is compared strictly, as above; claims
are not compared with the ledger's values, which are this machine's digits only where it made them.

Staleness does not depend on digits: ``tests/test_provenance.py`` compares the hashes each notebook
records of its code and of the package files it imported, in both modes.
"""

from __future__ import annotations

import copy
import functools
import os
import re

import figures
import provenance

# A number as a notebook prints it: sign, digits with separators, decimals, exponent, percent;
# and the spellings of non-finite values.
_NUMBER = re.compile(r"[-+\u2212]?(?:\d[\d,_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|\b(?:nan|NaN|inf|Inf)\b")
_SPACE = re.compile(r"[ \t\u00a0]+")
# numpy pads an array's entries to one width, so the spaces inside its brackets follow the digits
_BRACKET_SPACE = re.compile(r"(?<=\[) | (?=\])")
# what rounding changes inside HTML besides its numbers: an embedded image (an interactive figure's
# fallback PNG) and a digest of the data (the figure's element id)
_DATA_URI = re.compile(r"(data:[\w/+.-]+;base64,)[A-Za-z0-9+/=]+")
_DIGEST = re.compile(r"\b(nrfig-)[0-9a-f]+\b")


def shape(text: str) -> str:
    """``text`` with every number replaced by ``#``, runs of spaces collapsed and the padding
    inside brackets dropped: what of a printed table, array or a figure's data stays the same when
    rounding changes the digits. Base64 payloads of data URIs and interactive figures' digest ids
    are masked too."""
    text = _DIGEST.sub(r"\1#", _DATA_URI.sub(r"\1#", text))
    return _BRACKET_SPACE.sub("", _SPACE.sub(" ", _NUMBER.sub("#", text)))


def _shaped(outputs):
    out = copy.deepcopy(outputs)
    for o in out:
        if isinstance(o.get("text"), str):
            o["text"] = shape(o["text"])
        data = o.get("data") or {}
        for mime, value in list(data.items()):
            if not mime.startswith("image/") and isinstance(value, str):
                data[mime] = shape(value)
    return out


@functools.lru_cache(maxsize=1)
def here() -> dict:
    """The numerics of this process (and so of the kernels it starts, which inherit its environment)."""
    return provenance.numerics()


def mode(nb) -> tuple[str, list[str]]:
    """``("strict" | "portable", what differs)`` for a notebook (an nbformat node or dict)."""
    recorded = (nb.get("metadata", {}).get("normres") or {}).get("numerics")
    diffs = provenance.differences(recorded, here())
    return ("portable" if diffs else "strict"), diffs


def rounding_cells(nb) -> set[str]:
    return set(((nb.get("metadata", {}).get("normres") or {}).get("rounding") or {}).get("cells", {}))


def summary_line(notebooks) -> str:
    """One line: which mode the notebooks run in, and why (``notebooks``: path -> nbformat node)."""
    modes = {p: mode(nb) for p, nb in notebooks.items()}
    portable = {p: d for p, (m, d) in modes.items() if m == "portable"}
    n = len(modes)
    if not portable:
        h = here()
        return (f"notebooks: STRICT mode for all {n}: the numerics here are those that executed them "
                f"({h['cpu']}, torch kernels {h['torch_kernels']}, MKL instructions {h['mkl_instructions']}), "
                "so every digit, figure and ledger value is compared")
    reasons = sorted({r for d in portable.values() for r in d})
    head = (f"notebooks: PORTABLE mode for {len(portable)} of {n}" if len(portable) < n
            else f"notebooks: PORTABLE mode for all {n}")
    return (f"{head}, because the numerics differ from those that executed them ({'; '.join(reasons)}): "
            "rounding-dependent cells are checked for shape and for every claim holding, the other "
            "cells strictly")


_state = {"ledger": None}


def install() -> None:
    """Wrap nbval's kernel start (to choose the mode) and output comparison (idempotent)."""
    try:
        from nbval.plugin import IPyNbCell, IPyNbFile
    except ImportError:   # nbval not installed: nothing to wrap
        return
    if getattr(IPyNbCell.compare_outputs, "_normres_portable", False):
        return
    original_setup, original_compare = IPyNbFile.setup, IPyNbCell.compare_outputs

    def setup(self):
        if _state["ledger"] is None:   # chapters/conftest.py names the ledger
            _state["ledger"] = os.environ.get("NORMRES_LEDGER_CHECK", "")
        self.normres_mode, self.normres_diffs = mode(self.nb)
        self.normres_rounding = rounding_cells(self.nb)
        check = ""
        if self.normres_mode == "strict" and _state["ledger"]:
            check = _state["ledger"] if _ledger_numerics_match(_state["ledger"], self.fspath) else ""
        os.environ["NORMRES_LEDGER_CHECK"] = check   # the kernel started next inherits it
        return original_setup(self)

    def compare_outputs(self, test, ref, skip_compare=None):
        nbfile = self.parent
        portable = (getattr(nbfile, "normres_mode", "strict") == "portable"
                    and self.cell.get("id") in getattr(nbfile, "normres_rounding", ()))
        if portable:
            if not original_compare(self, _shaped(test), _shaped(ref), skip_compare):
                self.comparison_traceback.insert(0, (
                    "portable mode (numerics differ: " + "; ".join(nbfile.normres_diffs) + "): this "
                    "rounding-dependent cell's text changed shape, not only its digits"))
                return False
            n_test, n_ref = len(figures.pngs(test)), len(figures.pngs(ref))
            if n_test != n_ref:
                self.comparison_traceback = [f"the cell stores {n_ref} figure(s) but drew {n_test}"]
                return False
            return True
        if not original_compare(self, test, ref, skip_compare):
            if getattr(nbfile, "normres_mode", "strict") == "portable":
                self.comparison_traceback.insert(0, (
                    "this cell printed the same under every numerics variant when it was classified "
                    "(make classify), so it is compared strictly on every machine"))
            return False
        problems = figures.compare(test, ref)
        if problems:
            self.comparison_traceback = problems + [
                "re-execute the notebook (make refresh NB=...) and commit the new figure"]
            return False
        return True

    setup._normres_portable = compare_outputs._normres_portable = True
    IPyNbFile.setup, IPyNbCell.compare_outputs = setup, compare_outputs


def _ledger_numerics_match(ledger_path: str, notebook) -> bool:
    """Whether the ledger's values for ``notebook`` were recorded on the numerics here."""
    import json
    import pathlib
    try:
        data = json.loads(pathlib.Path(ledger_path).read_text(encoding="utf-8"))
        rel = pathlib.Path(str(notebook)).resolve().relative_to(provenance.ROOT).as_posix()
    except (OSError, ValueError):
        return False
    entry = data.get("notebooks", {}).get(rel)
    return bool(entry) and not provenance.differences(entry.get("numerics"), here())
