"""Insert or refresh the standard first code cell of chapter notebooks.

    python tools/setup_cell.py chapters/normalization/why_normalize.ipynb ...
    python tools/setup_cell.py --check NB ...   # exit 1 if a notebook's setup cell is missing or stale

Every chapter starts with the same setup cell, so it runs where the course package is not installed
(Colab, Binder, a JupyterHub): only when ``import normres`` would fail for want of the package
(``importlib.util.find_spec`` finds none) does the cell pip-install it from the repository's
``code/`` folder; a package that is installed but broken raises its own error instead of being
reinstalled. Where ``normres`` is installed (here, offline, under nbval) the cell does nothing. It prints
the same line in both cases, so the stored output is deterministic.

The repository URL and branch come from ``repository:`` in ``_config.yml``, the one setting the
launch buttons also derive from. The cell carries the id and tag ``normres-setup`` so tests find it,
and the tag ``hide-input`` so the book shows its output line with the code folded.

Running the tool is idempotent. It places the cell before the notebook's first code cell (or
refreshes it in place), stores its output, and, when it inserts a new cell, shifts the stored
execution counts of the other cells by one, so the notebook still reads as executed top to bottom.
Re-execute the notebook (``make execute NB=...``) before committing anyway.
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import sys

import nbformat
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CELL_ID = "normres-setup"
TAG = "normres-setup"

TEMPLATE = '''\
# Setup: the course package `normres`. Where it is missing (Colab, Binder, a JupyterHub),
# pip installs it from the book's repository; where it is installed, nothing happens.
import importlib.util, subprocess, sys
NORMRES_SOURCE = "git+{url}@{branch}#subdirectory=code"
print("Setup: where normres is missing, pip installs it from the book's repository.")
if importlib.util.find_spec("normres") is None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", NORMRES_SOURCE]
    subprocess.run(pip, check=True)
    importlib.invalidate_caches()
import normres'''
MESSAGE = "Setup: where normres is missing, pip installs it from the book's repository.\n"


def repository(config_path: pathlib.Path = ROOT / "_config.yml") -> tuple[str, str]:
    """The repository URL (without a trailing slash or ``.git``) and branch from ``_config.yml``."""
    repo = (yaml.safe_load(config_path.read_text()) or {}).get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch")
    if not url or not branch:
        raise ValueError(f"{config_path}: set repository.url and repository.branch")
    url = str(url).rstrip("/")
    if url.endswith(".git"):
        url = url[:-4]
    return url, str(branch)


def pip_source(config_path: pathlib.Path = ROOT / "_config.yml") -> str:
    """The pip requirement that installs ``normres``: ``git+URL@BRANCH#subdirectory=code``."""
    url, branch = repository(config_path)
    return f"git+{url}@{branch}#subdirectory=code"


def source(config_path: pathlib.Path = ROOT / "_config.yml") -> str:
    """The exact source of the setup cell for the configured repository."""
    url, branch = repository(config_path)
    return TEMPLATE.format(url=url, branch=branch)


def output_text(config_path: pathlib.Path = ROOT / "_config.yml") -> str:
    """What the cell prints (the same whether or not it installs anything)."""
    return MESSAGE


def find_setup_cell(nb) -> int | None:
    """Index of the setup cell (by id or tag), or None."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("id") == CELL_ID
                                         or TAG in cell.get("metadata", {}).get("tags", [])):
            return i
    return None


def first_code_cell(nb) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)


def apply(nb, config_path: pathlib.Path = ROOT / "_config.yml"):
    """Return a copy of ``nb`` whose first code cell is the current setup cell."""
    nb = copy.deepcopy(nb)
    index = find_setup_cell(nb)
    inserted = index is None
    if inserted:
        cell = nbformat.v4.new_code_cell()
        # shift the other cells' counts so the notebook still reads as run top to bottom
        for other in nb.cells:
            if other.cell_type == "code" and isinstance(other.get("execution_count"), int):
                other.execution_count += 1
    else:
        cell = nb.cells.pop(index)
    cell.id = CELL_ID
    cell.source = source(config_path)
    tags = [t for t in cell.metadata.get("tags", []) if t not in (TAG, "hide-input")]
    cell.metadata["tags"] = [TAG, "hide-input"] + tags
    cell.execution_count = 1
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output_text(config_path))]
    # ids must be unique: drop a clash from another cell
    for other in nb.cells:
        if other.get("id") == CELL_ID:
            other.id = nbformat.v4.new_code_cell().id
    first = first_code_cell(nb)
    nb.cells.insert(len(nb.cells) if first is None else first, cell)
    return nb


def is_current(nb, config_path: pathlib.Path = ROOT / "_config.yml") -> bool:
    """True when the first code cell is the setup cell with the current source."""
    first = first_code_cell(nb)
    return (first is not None and nb.cells[first].get("id") == CELL_ID
            and nb.cells[first].source == source(config_path))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report stale notebooks, change nothing")
    parser.add_argument("--config", type=pathlib.Path, default=ROOT / "_config.yml")
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    args = parser.parse_args(argv)
    stale = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.check:
            if not is_current(nb, args.config):
                stale.append(path)
                print(f"stale {path}")
            continue
        new = apply(nb, args.config)
        if new != nb:
            nbformat.write(new, path)
            print(f"updated {path}")
        else:
            print(f"ok      {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
