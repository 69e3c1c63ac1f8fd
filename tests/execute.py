"""Re-execute notebooks top to bottom, each in a fresh kernel.

    python tests/execute.py NB.ipynb ...                  # run and save outputs in place
    python tests/execute.py --check-seeds 1 2 3 -- NB ...  # run under NORMRES_SEED=s, save nothing
    python tests/execute.py --ledger chapters/ledger.json --check-seeds 1 2 3 -- NB ...
                          # also run at the stored seed, record every claim, update the ledger

The first form is `make execute`: it refreshes the stored outputs after a change to code/ or to a
chapter. The second is `make test-seeds`: every assert in a notebook is a claim, and a claim must
hold for other seeds too. With ``--ledger`` (``make test-seeds``) every run also records each
claim (``NORMRES_CLAIMS_LOG``, see ``normres.claims``), the notebook is run at its stored seed as
well, and the values go into the ledger of claims (``tools/ledger.py``), which is then re-rendered
as the page ``chapters/ledger.md``. Wall-clock times are printed here, never stored in a notebook.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

TIMEOUT = 600  # per cell, seconds; a chapter's whole budget is 60 s, so this only catches hangs


def run(path: pathlib.Path, seed: str | None = None,
        claims_log: pathlib.Path | None = None) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(path, as_version=4)
    env_before = {k: os.environ.get(k) for k in ("NORMRES_SEED", "NORMRES_CLAIMS_LOG", "NORMRES_LEDGER_CHECK")}
    os.environ.pop("NORMRES_LEDGER_CHECK", None)   # recording, not checking against the old ledger
    if seed is None:
        os.environ.pop("NORMRES_SEED", None)
    else:
        os.environ["NORMRES_SEED"] = seed
    if claims_log is None:
        os.environ.pop("NORMRES_CLAIMS_LOG", None)
    else:
        os.environ["NORMRES_CLAIMS_LOG"] = str(claims_log)
    try:
        client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb, elapsed


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check-seeds", nargs="+", metavar="SEED", default=None,
                        help="run under each NORMRES_SEED and save nothing")
    parser.add_argument("--ledger", type=pathlib.Path, default=None, metavar="JSON",
                        help="with --check-seeds: also run at the stored seed, record every claim "
                             "and update this ledger (and its page, chapters/ledger.md)")
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.ledger is not None and not args.check_seeds:
        parser.error("--ledger needs --check-seeds (the seeds besides the stored one)")
    save = args.check_seeds is None
    seeds = args.check_seeds or [None]
    if args.ledger is not None:
        seeds = [None] + [s for s in seeds if s is not None]
    failures = []
    results = {}   # notebook -> {seed label: claim records}
    tmp = tempfile.TemporaryDirectory(prefix="normres-claims-")
    for path in args.notebooks:
        for seed in seeds:
            label = f"{path}" + (f" [NORMRES_SEED={seed}]" if seed is not None else "")
            log = None
            if args.ledger is not None:
                log = pathlib.Path(tmp.name) / f"{sum(map(len, results.values()))}.jsonl"
            try:
                nb, elapsed = run(path, seed, log)
            except CellExecutionError as err:
                failures.append(label)
                print(f"FAIL {label}\n{err}", flush=True)
                elapsed = None
            if log is not None:
                nb_key = path.resolve().relative_to(ledger_tool().ROOT).as_posix()
                results.setdefault(nb_key, {})[ledger_tool().STORED if seed is None else seed] = \
                    ledger_tool().records_of_run(log)
            if elapsed is None:
                continue
            if save:
                merge_streams(nb)
                nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                             "language": "python"}
                nbformat.write(nb, path)
            print(f"ok   {label}  {elapsed:.1f} s", flush=True)
    if args.ledger is not None:
        tool = ledger_tool()
        ledger = tool.update(args.ledger.resolve(), results, [s for s in seeds if s is not None])
        page = args.ledger.with_suffix(".md")
        page.write_text(tool.render(ledger), encoding="utf-8")
        s = tool.summary(ledger)
        print(f"ledger {args.ledger}: {s['claims']} claims in {s['chapters']} chapters, {s['fragile']} "
              f"fragile, {s['failing']} failing, {s['missing']} missing; page {page} rendered")
    tmp.cleanup()
    if failures:
        print(f"\n{len(failures)} failed: " + ", ".join(failures))
        return 1
    return 0


def ledger_tool():
    """tools/ledger.py, imported from the repository (tools/ is not a package)."""
    root = pathlib.Path(__file__).resolve().parent.parent
    if str(root / "tools") not in sys.path:
        sys.path.insert(0, str(root / "tools"))
    import ledger
    return ledger


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
