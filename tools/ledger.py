r"""The ledger of claims: every experimental claim of the book, its value at the stored seed and at
seeds 1-5 and under foreign numerics, and how firmly it stands.

    python tools/ledger.py render          # rewrite chapters/ledger.md from chapters/ledger.json
    python tools/ledger.py check           # exit 1 if chapters/ledger.md is not rendered from it
    make test-seeds                        # re-run every notebook at its stored seed and seeds
                                           # 1, 2, 3, record every claim, update both files

Each claim in a notebook goes through :func:`normres.claims.claim`, which appends one JSON line to
the file named by ``NORMRES_CLAIMS_LOG``. ``tests/execute.py --ledger chapters/ledger.json`` sets
that variable for every run, collects the lines with :func:`records_of_run`, and merges them into
the ledger with :func:`update`: the entries of the notebooks it ran are replaced, the others kept,
and notebooks that no longer exist are dropped. The page ``chapters/ledger.md`` is generated from
the data by :func:`render` and committed with it; ``tests/test_ledger.py`` keeps both true (every
claim in a notebook is in the ledger, no stale entry, page rendered from the data), and nbval
compares each claim's value with the ledger's while it re-runs the notebooks (``chapters/conftest.py``
sets ``NORMRES_LEDGER_CHECK``; see :mod:`normres.claims`).

A claim's value moves with the seed and, the same way, with the numerics (another CPU's kernels):
the ledger records it at the stored seed, at seeds 1-5 and at the stored seed under foreign
numerics (label ``foreign``). Its **margin in spreads** (:func:`spread_margin`) is the mean distance
of those values from the threshold, on the side where the claim holds, divided by their standard
deviation: how many seed-to-seed spreads the claim stands from failing. When the threshold and
every value are positive (ratios, losses, norms, accuracies: quantities that vary by a factor), the
distance is measured as a factor, :math:`d = \ln(v/t)` (or :math:`\ln(t/v)` for ``<``), so that one
run far on the safe side, say a ratio of 18 against a threshold of 5 where the others sit at 5 to 7,
does not count as spread that endangers the claim. A claim about an amount near zero (a gap
``abs(a - b)`` below a bar) says so, ``claim(..., scale="amount")``, and is measured as a
difference: as a factor, a run at 1e-8 would sit far on the safe side and count as spread. A claim
under :data:`FRAGILE` (2) spreads is *fragile*: a new seed or another CPU would make it fail now and then.
Values identical in every run (a count, an exact result) have no spread: such a claim is *exact*.
Statements true by construction (``normres.claims.check``) are kept apart, as checks.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LEDGER = ROOT / "chapters" / "ledger.json"
PAGE = ROOT / "chapters" / "ledger.md"
FRAGILE = 2.0      # spreads
STORED = "stored"   # the label of the run at the seed the notebook asks for (its stored outputs)
FOREIGN = "foreign"  # the run at the stored seed under foreign numerics (tests/provenance.py)
SYMBOL = {">": "&gt;", ">=": "≥", "<": "&lt;", "<=": "≤"}   # entities: a leading ">" would quote


# ----------------------------------------------------------------------------- collecting

def records_of_run(log: pathlib.Path) -> list[dict]:
    """The claim records one notebook run appended to ``log`` (none if it made no claim)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def notebook_entry(runs: dict[str, list[dict]]) -> dict:
    """One notebook's ledger entry from its runs, ``{seed label: records}``.

    Claims are listed in the order the stored run made them (then any that only other seeds
    reached). A key logged twice in one run is an error: keys are unique within the book.
    """
    claims: dict[str, dict] = {}
    stored_seed = None
    for label, records in runs.items():
        seen = set()
        for rec in records:
            key = rec["key"]
            if key in seen:
                raise ValueError(f"claim {key} was made twice in one run ({label}); keys must be unique")
            seen.add(key)
            if label == STORED:
                stored_seed = rec.get("seed", stored_seed)
            entry = claims.setdefault(key, {"key": key, "sentence": rec["sentence"], "op": rec["op"],
                                            "threshold": rec["threshold"],
                                            "kind": rec.get("kind", "experiment"),
                                            "values": {}, "thresholds": {}})
            if label == STORED:   # the stored run states the claim
                entry.update(sentence=rec["sentence"], op=rec["op"], threshold=rec["threshold"],
                             kind=rec.get("kind", "experiment"))
                if rec.get("scale"):
                    entry["scale"] = rec["scale"]
            entry["values"][label] = rec["value"]
            entry["thresholds"][label] = rec["threshold"]
    for entry in claims.values():   # a threshold computed from the data differs by run
        if len(set(entry["thresholds"].values())) > 1:
            entry["threshold_varies"] = True
        else:
            del entry["thresholds"]
    return {"stored_seed": stored_seed, "claims": list(claims.values())}


def load(path: pathlib.Path = LEDGER) -> dict:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"seeds": [STORED], "notebooks": {}}


def update(path: pathlib.Path, results: dict[str, dict[str, list[dict]]], seeds: list[str],
           numerics: dict[str, dict] | None = None) -> dict:
    """Merge ``{notebook path relative to the repository: {run label: records}}`` into the ledger
    at ``path``, write it, and return it. ``numerics`` gives, per notebook, the numerics of its run
    at the stored seed (``tests/provenance.py``): nbval compares values with the ledger's only on
    those numerics."""
    ledger = load(path)
    ledger["about"] = ("Generated by `make test-seeds` (tests/execute.py --ledger); do not edit by hand. "
                       "Rendered as chapters/ledger.md by tools/ledger.py.")
    ledger["seeds"] = [STORED] + [s for s in seeds if s not in (STORED, FOREIGN)] + [FOREIGN]
    notebooks = ledger.setdefault("notebooks", {})
    for nb, runs in results.items():
        entry = notebook_entry(runs)
        entry["numerics"] = (numerics or {}).get(nb)
        if entry["claims"]:
            notebooks[nb] = entry
        else:
            notebooks.pop(nb, None)
    for nb in list(notebooks):
        if not (ROOT / nb).exists():
            del notebooks[nb]
    ledger["notebooks"] = dict(sorted(notebooks.items(), key=lambda kv: _toc_rank(kv[0])))
    path.write_text(json.dumps(ledger, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return ledger


# ----------------------------------------------------------------------------- reading notebooks

def _toc_rank(nb: str) -> tuple:
    """Order notebooks as the table of contents does (unlisted ones last, by path)."""
    try:
        from toc import toc_files
        files = toc_files(ROOT)
    except Exception:   # rendering must not depend on the toc being parseable
        return (1, 0, nb)
    stem = str(pathlib.PurePosixPath(nb).with_suffix(""))
    return (0, files.index(stem), nb) if stem in files else (1, 0, nb)


def _chapter_numbers() -> dict[str, int]:
    """Chapter numbers as the book shows them: notebooks and pages of the numbered parts of the
    table of contents, counted in order."""
    try:
        import yaml
        toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    except Exception:
        return {}
    numbers, n = {}, 0
    for part in toc.get("parts", []):
        if not part.get("numbered"):
            continue
        for entry in part.get("chapters", []):
            if "file" in entry:
                n += 1
                numbers[entry["file"] + ".ipynb"] = n
    return numbers


def chapter_title(nb: str) -> str:
    """The first level-1 heading of a notebook, or its file name."""
    try:
        cells = json.loads((ROOT / nb).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError):
        return pathlib.PurePosixPath(nb).stem
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return pathlib.PurePosixPath(nb).stem


def _cell_code(source: str) -> str:
    # IPython magics and shell escapes are not Python: blank them so the rest still parses
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def claim_keys_in_source(source: str) -> tuple[list[str], list[str]]:
    """The keys of the ``claim(...)`` calls in a piece of notebook code, as regular expressions
    (a literal key matches itself; an f-string key matches whatever its fields become), and a list
    of problems (calls whose key is not a literal)."""
    try:
        tree = ast.parse(_cell_code(source))
    except SyntaxError:
        return [], []
    patterns, problems = [], []
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
    for node in calls:
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name not in ("claim", "check"):
            continue
        key = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "key"), None)
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            patterns.append(re.escape(key.value))
        elif isinstance(key, ast.JoinedStr):
            parts = [re.escape(v.value) if isinstance(v, ast.Constant) else r"[a-z0-9_]+" for v in key.values]
            patterns.append("".join(parts))
        else:
            problems.append(f"line {node.lineno}: claim key is not a string literal or f-string")
    return patterns, problems


def claim_keys_in_notebook(nb: pathlib.Path) -> tuple[list[str], list[str]]:
    patterns, problems = [], []
    for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            p, q = claim_keys_in_source("".join(cell["source"]))
            patterns += p
            problems += q
    return patterns, problems


# ----------------------------------------------------------------------------- rendering

def _fmt(v) -> str:
    if v is None:
        return "—"
    return f"{v:.3g}"


def _signed(value, op: str, threshold: float, log: bool = False):
    """The distance of ``value`` from ``threshold`` on the holding side (negative: fails); with
    ``log``, as a log factor (both must be positive)."""
    if value is None or not math.isfinite(value):
        return None
    if log:
        value, threshold = math.log(value), math.log(threshold)
    return value - threshold if op in (">", ">=") else threshold - value


def _distances(claim: dict, labels: list[str]):
    """The signed distances of the runs ``labels`` (None for a missing run), on a log scale when
    the threshold and every value are positive, unless the claim's ``scale`` is ``"amount"`` (see
    the module docstring)."""
    pairs = [(claim["values"].get(x), claim.get("thresholds", {}).get(x, claim["threshold"]))
             for x in labels]
    positive = all(v is not None and math.isfinite(v) and v > 0 and t > 0 for v, t in pairs)
    log = positive and claim.get("scale") != "amount"
    return [_signed(v, claim["op"], t, log) for v, t in pairs], log


def log_scale(claim: dict, labels: list[str]) -> bool:
    """Whether the claim's margin is measured as a factor (threshold and every value positive)."""
    return _distances(claim, labels)[1]


def spread_margin(claim: dict, labels: list[str]):
    """``(margin in spreads, spread)`` of a claim over the runs ``labels``.

    The margin is the mean over the runs of the signed distance from the threshold divided by its
    standard deviation (ddof 1): :math:`z = \bar d / s_d`. ``(inf, 0.0)`` when every run gave the
    same distance (exact); ``(None, None)`` when a run's value is missing.
    """
    d, _ = _distances(claim, labels)
    if any(v is None for v in d):
        return None, None
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (len(d) - 1)) if len(d) > 1 else 0.0
    scale = max(abs(mean), abs(claim["threshold"]), 1e-300)
    if sd <= 1e-9 * scale:
        return (math.inf if mean > 0 or (mean == 0 and claim["op"] in (">=", "<=")) else -math.inf), 0.0
    return mean / sd, sd


def holds_everywhere(claim: dict, labels: list[str]) -> bool | None:
    """Whether the claim held in every run (None if a value is missing)."""
    d, _ = _distances(claim, labels)
    if any(v is None for v in d):
        return None
    return all(v > 0 or (v == 0 and claim["op"] in (">=", "<=")) for v in d)


def status(claim: dict, labels: list[str]) -> str:
    """One of ``missing``, ``fails``, ``check``, ``exact``, ``fragile``, ``firm``."""
    held = holds_everywhere(claim, labels)
    if held is None:
        return "missing"
    if not held:
        return "fails"
    if claim.get("kind") == "check":
        return "check"
    z, sd = spread_margin(claim, labels)
    if sd == 0:
        return "exact"
    return "fragile" if z < FRAGILE else "firm"


def _fmt_spreads(claim: dict, labels: list[str]) -> str:
    st = status(claim, labels)
    if st in ("missing", "check", "exact"):
        return {"missing": "missing", "check": "check", "exact": "exact (no spread)"}[st]
    z, _ = spread_margin(claim, labels)
    text = (f"{z:.1f}" if abs(z) < 100 else "&gt;&nbsp;100") + (" ×" if log_scale(claim, labels) else "")
    return {"fails": f"**{text}: fails**", "fragile": f"**{text}: fragile**"}.get(st, text)


def summary(ledger: dict) -> dict:
    labels = ledger.get("seeds", [STORED])
    counts = {"claims": 0, "checks": 0, "fragile": 0, "failing": 0, "missing": 0, "exact": 0}
    for entry in ledger["notebooks"].values():
        for c in entry["claims"]:
            st = status(c, labels)
            counts["checks" if c.get("kind") == "check" else "claims"] += 1
            key = {"fragile": "fragile", "fails": "failing", "missing": "missing", "exact": "exact"}.get(st)
            if key:
                counts[key] += 1
    counts["chapters"] = len(ledger["notebooks"])
    return counts


def _label(x: str, stored_seed) -> str:
    if x == STORED:
        return f"**{stored_seed if stored_seed is not None else 'stored'}**"
    return "CPU&#8242;" if x == FOREIGN else x


def render(ledger: dict) -> str:
    """The back-matter page, as MyST markdown."""
    labels = ledger.get("seeds", [STORED])
    s = summary(ledger)
    other = [x for x in labels if x not in (STORED, FOREIGN)]
    lines = [
        "# Ledger of claims",
        "",
        "<!-- Generated by tools/ledger.py from chapters/ledger.json (`make test-seeds`). "
        "Do not edit by hand. -->",
        "",
        "Every sentence in this book that states an experimental result is checked by a *claim* in "
        "its notebook: a measured value, a threshold chosen before looking, and a direction. If the "
        "experiment stops showing it, the notebook fails. This page shows how firmly each claim "
        "stands: its value at the seed whose outputs the chapter stores (in bold), at seeds "
        f"{', '.join(other) if other else '(none recorded yet)'} (set with `NORMRES_SEED`), and at "
        "the stored seed on other numerics (CPU&#8242;: torch's generic kernels instead of the "
        "CPU's vector units, MKL limited to SSE4.2, as another processor would compute).",
        "",
        "Another CPU changes a training run the way another seed does, so a claim's firmness is "
        "measured in units of its spread over seeds. Its **margin in spreads** is the mean distance "
        "of its values from the threshold, on the side where the claim holds, divided by the "
        "standard deviation of that distance over the runs: a margin of 3 means the claim stands "
        "three seed-to-seed spreads from failing. When the threshold and every value are positive "
        "(ratios, losses, norms, accuracies), the distance is measured as a factor, the logarithm "
        "of value over threshold, so that a run far on the safe side does not count as a danger "
        "(such margins are marked ×), except for a claim about an amount near zero, such as a gap "
        f"between two accuracies, which is measured as a difference. A claim under {FRAGILE:g} spreads is marked "
        "**fragile**: it held in every run here, but a new seed or another machine would make it "
        "fail now and then. A claim whose value is the same in every run (a count, an exact "
        "result) has no spread and is marked *exact*. Statements that are true by construction "
        "(an identity, a property of the code) are listed apart, as *checks*.",
        "",
        f"**{s['claims']} experimental claims** and {s['checks']} checks in {s['chapters']} "
        f"chapter{'s' * (s['chapters'] != 1)}; **{s['fragile']} fragile**"
        + (f"; {s['failing']} failing" if s["failing"] else "")
        + (f"; {s['missing']} with a missing value (a run stopped early)" if s["missing"] else "")
        + ".",
        "",
    ]
    numbers = _chapter_numbers()

    def table(kinds: set[str]) -> list[str]:
        out = ["```{list-table}", ":header-rows: 1", ":width: 100%", ":widths: 52 7 26 15", "",
               "* - Claim, and when it holds", "  - Ch.", "  - Value in each run", "  - Margin in spreads"]
        for nb, entry in ledger["notebooks"].items():
            rel = pathlib.PurePosixPath(nb).relative_to("chapters")
            label = f"{numbers[nb]}" if nb in numbers else chapter_title(nb)
            chapter = f"[{label}]({rel})"
            for c in entry["claims"]:
                if c.get("kind", "experiment") not in kinds:
                    continue
                need = (f"{SYMBOL[c['op']]}&nbsp;{_fmt(c['threshold'])}"
                        + (" (varies)" if c.get("threshold_varies") else ""))
                vals = [f"{_label(x, entry.get('stored_seed'))}:&nbsp;{_fmt(c['values'].get(x))}"
                        for x in labels]
                out += [f"* - {c['sentence']} <br>`{c['key']}`: holds if value {need}", f"  - {chapter}",
                        "  - " + "<br>".join(vals), f"  - {_fmt_spreads(c, labels)}"]
        return out + ["```"]

    lines += ["## Experimental claims", ""] + table({"experiment"})
    if s["checks"]:
        lines += ["", "## Checks", "",
                  "True by construction, kept as checks that the code does what the prose says; "
                  "they do not count as experimental results.", ""] + table({"check"})
    lines += ["", "Chapters are given by their number; the seed whose outputs a chapter stores is in "
              "bold. Regenerate this page and its data with `make test-seeds` (all notebooks; seven "
              "runs each) or `make test-seeds NB=chapters/<part>/<chapter>.ipynb` (one chapter; the "
              "others' rows are kept).", ""]
    return "\n".join(lines)


def update_translation(page: pathlib.Path) -> None:
    """Re-merge the Chinese catalog of the book's ledger page after ``page`` was rewritten: its rows
    and summary are translated by rule (``tools/i18n.py``), so the zh edition follows every
    ``make test-seeds`` and the page can be checked for completeness like any other."""
    import subprocess
    catalog = ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "chapters" / "ledger.po"
    if page.resolve() != PAGE.resolve() or not catalog.is_file():
        return
    subprocess.run([sys.executable, str(ROOT / "tools" / "i18n.py"), "update", "chapters/ledger"],
                   check=True, capture_output=True, text=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["render", "check"])
    parser.add_argument("--ledger", type=pathlib.Path, default=LEDGER)
    parser.add_argument("--page", type=pathlib.Path, default=PAGE)
    args = parser.parse_args(argv)
    text = render(load(args.ledger))
    if args.command == "render":
        args.page.write_text(text, encoding="utf-8")
        update_translation(args.page)
        s = summary(load(args.ledger))
        print(f"{args.page}: {s['claims']} claims, {s['fragile']} fragile, {s['failing']} failing, "
              f"{s['missing']} missing")
        return 0
    if not args.page.exists() or args.page.read_text(encoding="utf-8") != text:
        print(f"{args.page} is not rendered from {args.ledger}: run python tools/ledger.py render")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
