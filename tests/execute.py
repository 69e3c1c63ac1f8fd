"""Re-execute notebooks top to bottom, each in a fresh kernel.

    python tests/execute.py NB.ipynb ...                  # run and save outputs in place (make execute)
    python tests/execute.py --classify NB ...             # which cells depend on rounding (make classify)
    python tests/execute.py --check-seeds 1 2 3 -- NB ... # run under NORMRES_SEED=s, save nothing
    python tests/execute.py --ledger chapters/ledger.json --check-seeds 1 2 3 4 5 -- NB ...
                          # also run at the stored seed and under foreign numerics, record every
                          # claim, update the ledger (make test-seeds)
    python tests/execute.py --refresh NB ...              # all of it, once per notebook (make refresh)

Saving (``make execute``) runs each notebook on the machine's own numerics (the variables of
``provenance.KNOBS`` cleared) and records in its metadata what it was executed from (a hash of
every code cell and of every ``normres`` file the kernel imported) and on which numerics
(:mod:`provenance`); ``tests/test_provenance.py`` then catches a stale notebook on every machine.

Classifying (``make classify``) re-executes each notebook under each of ``provenance.VARIANTS``
(other vector kernels, MKL instruction set, thread count: the changes another CPU makes) and stores
in the notebook's metadata the ids of the code cells whose outputs (text or figures) changed: on
another machine those are checked for what can hold there (``tests/portable.py``), every other
cell strictly. The classification belongs to the sources it was measured on, so it must be redone
after every re-execution: ``make refresh`` does both, and the ledger.

The ledger (``--ledger``, ``make test-seeds``) records every claim (``NORMRES_CLAIMS_LOG``, see
``normres.claims``) at the stored seed, at each ``--check-seeds`` seed, and at the stored seed
under the foreign numerics (``provenance.FOREIGN``, label ``foreign``); ``tools/ledger.py`` merges
them into ``chapters/ledger.json`` and renders ``chapters/ledger.md``. Wall-clock times are printed
here, never stored in a notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pathlib
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbval.plugin import get_sanitize_patterns

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import figures  # noqa: E402
import provenance  # noqa: E402

TIMEOUT = 600  # per cell, seconds; a chapter's whole budget is 60 s, so this only catches hangs
ROOT = provenance.ROOT
_ENV_KEYS = ("NORMRES_SEED", "NORMRES_CLAIMS_LOG", "NORMRES_LEDGER_CHECK") + provenance.KNOBS


@contextlib.contextmanager
def _environment(seed: str | None, claims_log: pathlib.Path | None, numerics: dict):
    """The kernel inherits this process's environment: set it for one run, then restore it."""
    before = {k: os.environ.get(k) for k in _ENV_KEYS}
    for k in _ENV_KEYS:
        os.environ.pop(k, None)   # recording, not checking against the old ledger; own numerics
    os.environ.update(numerics)
    if seed is not None:
        os.environ["NORMRES_SEED"] = seed
    if claims_log is not None:
        os.environ["NORMRES_CLAIMS_LOG"] = str(claims_log)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(path: pathlib.Path, seed: str | None = None, claims_log: pathlib.Path | None = None,
        numerics: dict | None = None) -> tuple[nbformat.NotebookNode, float, dict]:
    """Execute ``path`` in a fresh kernel; return the executed notebook, the seconds it took and
    what the kernel probe saw (``{"numerics": ..., "modules": [...]}``, see :mod:`provenance`)."""
    nb = nbformat.read(path, as_version=4)
    probe = nbformat.v4.new_code_cell(provenance.KERNEL_PROBE)
    probe.id = "normres-provenance-probe"
    nb.cells.append(probe)
    with _environment(seed, claims_log, numerics or {}):
        client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        try:
            client.execute()
        finally:
            nb.cells.pop()
        elapsed = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    return nb, elapsed, json.loads(text.strip().splitlines()[-1])


def merge_streams(nb: nbformat.NotebookNode) -> None:
    """Join consecutive stdout (or stderr) chunks of a cell into one output.

    How the kernel splits a cell's printing into messages depends on timing, so without this a
    re-run would change the stored JSON although the text is the same.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == out.name):
                merged[-1].text += out.text
            else:
                merged.append(out)
        cell.outputs = merged


def save(path: pathlib.Path, nb: nbformat.NotebookNode, probe: dict) -> None:
    """Write an executed notebook with what it was executed from and on which numerics."""
    merge_streams(nb)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    meta = nb.metadata.setdefault("normres", {})
    old_rounding = meta.get("rounding")
    meta.clear()
    meta["executed_from"] = provenance.executed_from(nb, probe["modules"])
    meta["numerics"] = probe["numerics"]
    if old_rounding:   # kept, but it no longer matches the sources: make classify must redo it
        meta["rounding"] = old_rounding
    nbformat.write(nb, path)


# ----------------------------------------------------------------------------- classifying

# the patterns nbval masks before comparing (tests/sanitize.cfg), so a cell counts as changed
# exactly when nbval would see it change
_SANITIZE = [(re.compile(p), r) for p, r in get_sanitize_patterns(
    (pathlib.Path(__file__).resolve().parent / "sanitize.cfg").read_text(encoding="utf-8"))]


def _texts(outputs) -> list[tuple[str, str]]:
    """A cell's outputs as (kind, text) pairs, streams joined, figures left to :mod:`figures`."""
    found, stream = [], {}
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            stream[out.get("name")] = stream.get(out.get("name"), "") + out.get("text", "")
            continue
        if kind == "error":
            found.append(("error", out.get("ename", "")))
        for mime, value in sorted((out.get("data") or {}).items()):
            if mime.startswith("image/"):
                continue
            value = "".join(value) if isinstance(value, list) else str(value)
            for pattern, repl in _SANITIZE:
                value = pattern.sub(repl, value)
            found.append((mime, value))
    return sorted(stream.items()) + found


def changed_cells(stored: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> list[str]:
    """Ids of the code cells whose fresh outputs differ from the stored ones (text or figures)."""
    changed = []
    for a, b in zip(stored.cells, fresh.cells):
        if a.cell_type != "code":
            continue
        if _texts(a.outputs) != _texts(b.outputs) or figures.compare(b.outputs, a.outputs):
            changed.append(a.get("id"))
    return changed


def classify(path: pathlib.Path, fresh_runs: dict[str, nbformat.NotebookNode]) -> list[str]:
    """Store in ``path``'s metadata which cells changed under the variants run; return their ids."""
    stored = nbformat.read(path, as_version=4)
    changed: dict[str, list[str]] = {}
    for name, fresh in fresh_runs.items():
        for cid in changed_cells(stored, fresh):
            changed.setdefault(cid, []).append(name)
    meta = stored.metadata.setdefault("normres", {})
    order = [c.get("id") for c in stored.cells if c.cell_type == "code"]
    meta["rounding"] = {
        "about": ("code cells whose outputs changed when re-executed under other numerics "
                  "(tests/execute.py --classify); elsewhere than on the numerics that executed this "
                  "notebook they are checked for what can hold, every other cell strictly"),
        "variants": {name: provenance.VARIANTS[name] for name in fresh_runs},
        "cells": {cid: changed[cid] for cid in order if cid in changed},
        "measured_from": provenance.sources_digest(meta.get("executed_from", {})),
    }
    nbformat.write(stored, path)
    return list(meta["rounding"]["cells"])


# ----------------------------------------------------------------------------- main

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check-seeds", nargs="+", metavar="SEED", default=None,
                        help="run under each NORMRES_SEED (saves nothing)")
    parser.add_argument("--ledger", type=pathlib.Path, default=None, metavar="JSON",
                        help="with --check-seeds or --refresh: also run at the stored seed and under "
                             "foreign numerics, record every claim and update this ledger (and its "
                             "page, chapters/ledger.md)")
    parser.add_argument("--classify", action="store_true",
                        help="re-execute under each numerics variant and store which cells changed")
    parser.add_argument("--refresh", action="store_true",
                        help="save, classify, and record the ledger at seeds 1-5 (make refresh)")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="notebooks run at once, each in its own process (their kernels use one "
                             "thread each, so up to one per core)")
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.jobs > 1 and len(args.notebooks) > 1:
        return _in_parallel(args)
    if args.refresh:
        args.ledger = args.ledger or ROOT / "chapters" / "ledger.json"
        args.check_seeds = args.check_seeds or ["1", "2", "3", "4", "5"]
    if args.ledger is not None and not args.check_seeds:
        parser.error("--ledger needs --check-seeds (the seeds besides the stored one)")
    do_save = args.refresh or (args.check_seeds is None and not args.classify)
    do_classify = args.refresh or args.classify
    with_ledger = args.ledger is not None
    # what each notebook runs: (label, seed, numerics)
    plan = []
    if do_save or with_ledger:
        plan.append(("stored", None, {}))
    if do_classify:
        plan += [(name, None, env) for name, env in provenance.VARIANTS.items()]
    elif with_ledger:
        plan.append(("foreign", None, provenance.VARIANTS["foreign"]))
    plan += [(s, s, {}) for s in (args.check_seeds or [])]

    failures = []
    results = {}   # notebook -> {ledger label: claim records}
    numerics_of = {}
    runs = 0
    tmp = tempfile.TemporaryDirectory(prefix="normres-claims-")
    for path in args.notebooks:
        variants = {}
        for label, seed, env in plan:
            shown = f"{path}" + (f" [NORMRES_SEED={seed}]" if seed else "") + (
                f" [{label}: {' '.join(f'{k}={v}' for k, v in env.items())}]" if env else "")
            runs += 1
            log = pathlib.Path(tmp.name) / f"{runs}.jsonl" if with_ledger else None
            try:
                nb, elapsed, probe = run(path, seed, log, env)
            except CellExecutionError as err:
                failures.append(shown)
                print(f"FAIL {shown}\n{err}", flush=True)
                nb = None
            key = path.resolve().relative_to(ROOT).as_posix() if with_ledger else str(path)
            if with_ledger and (label in ("stored", "foreign") or seed):
                results.setdefault(key, {})[label] = ledger_tool().records_of_run(log)
            if nb is None:
                continue
            if label == "stored":
                numerics_of[key] = probe["numerics"]
                if do_save:
                    save(path, nb, probe)
            elif env:
                variants[label] = nb
            print(f"ok   {shown}  {elapsed:.1f} s", flush=True)
        if do_classify and len(variants) == len(provenance.VARIANTS):
            cells = classify(path, variants)
            print(f"     {path}: {len(cells)} code cell(s) depend on rounding", flush=True)
    if with_ledger:
        tool = ledger_tool()
        with open(args.ledger.resolve().with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # several chapters may be refreshed at once
            ledger = tool.update(args.ledger.resolve(), results, [s for s in args.check_seeds],
                                 numerics=numerics_of)
            page = args.ledger.with_suffix(".md")
            page.write_text(tool.render(ledger), encoding="utf-8")
            tool.update_translation(page)
        s = tool.summary(ledger)
        print(f"ledger {args.ledger}: {s['claims']} claims ({s['checks']} checks) in {s['chapters']} "
              f"chapters, {s['fragile']} fragile, {s['failing']} failing, {s['missing']} missing; "
              f"page {page} rendered")
    tmp.cleanup()
    if failures:
        print(f"\n{len(failures)} failed: " + ", ".join(failures))
        return 1
    return 0


def _in_parallel(args) -> int:
    """Run this script once per notebook, ``args.jobs`` at a time (ledger updates are locked)."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor
    options = (["--refresh"] * args.refresh + ["--classify"] * args.classify
               + (["--ledger", str(args.ledger)] if args.ledger else [])
               + (["--check-seeds", *args.check_seeds] if args.check_seeds else []))

    def one(path):
        run = subprocess.run([sys.executable, __file__, *options, "--", str(path)],
                             capture_output=True, text=True)
        print(run.stdout + (run.stderr[-3000:] if run.returncode else ""), end="", flush=True)
        return run.returncode

    with ThreadPoolExecutor(args.jobs) as pool:
        codes = list(pool.map(one, args.notebooks))
    failed = [str(p) for p, c in zip(args.notebooks, codes) if c]
    if failed:
        print(f"\n{len(failed)} notebook(s) failed: " + ", ".join(failed))
    return 1 if failed else 0


def ledger_tool():
    """tools/ledger.py, imported from the repository (tools/ is not a package)."""
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    import ledger
    return ledger


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
