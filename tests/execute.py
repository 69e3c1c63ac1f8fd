"""Re-execute notebooks top to bottom, each in a fresh kernel.

    python tests/execute.py NB.ipynb ...                  # run and save outputs in place
    python tests/execute.py --check-seeds 1 2 3 -- NB ...  # run under NORMRES_SEED=s, save nothing

The first form is `make execute`: it refreshes the stored outputs after a change to code/ or to a
chapter. The second is `make test-seeds`: every assert in a notebook is a claim, and a claim must
hold for other seeds too. Wall-clock times are printed here, never stored in a notebook.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

TIMEOUT = 600  # per cell, seconds; a chapter's whole budget is 60 s, so this only catches hangs


def run(path: pathlib.Path, seed: str | None = None) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("NORMRES_SEED")
    if seed is None:
        os.environ.pop("NORMRES_SEED", None)
    else:
        os.environ["NORMRES_SEED"] = seed
    try:
        client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        if env_before is None:
            os.environ.pop("NORMRES_SEED", None)
        else:
            os.environ["NORMRES_SEED"] = env_before
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
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    args = parser.parse_args(argv)
    failures = []
    for path in args.notebooks:
        for seed in args.check_seeds or [None]:
            label = f"{path}" + (f" [NORMRES_SEED={seed}]" if seed is not None else "")
            try:
                nb, elapsed = run(path, seed)
            except CellExecutionError as err:
                failures.append(label)
                print(f"FAIL {label}\n{err}", flush=True)
                continue
            if seed is None:
                merge_streams(nb)
                nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                             "language": "python"}
                nbformat.write(nb, path)
            print(f"ok   {label}  {elapsed:.1f} s", flush=True)
    if failures:
        print(f"\n{len(failures)} failed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
