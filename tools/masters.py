"""The assignment masters in chapters/assignments/: found once, for the grader and the book editions.

A master is a notebook whose first cell is a raw cell starting with ``# ASSIGNMENT CONFIG``
(otter-grader's format); its ``name`` there names the assignment.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MASTERS = ROOT / "chapters" / "assignments"
CONFIG_HEADER = "# ASSIGNMENT CONFIG"


def source(cell) -> str:
    """A notebook cell's source as one string (nbformat allows a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def masters() -> dict[str, Path]:
    """``{assignment name: master notebook}`` for every master in chapters/assignments/."""
    found = {}
    for path in sorted(MASTERS.glob("*.ipynb")):
        cells = json.loads(path.read_text()).get("cells") or []
        if not cells or cells[0].get("cell_type") != "raw" or not source(cells[0]).startswith(CONFIG_HEADER):
            continue
        config = yaml.safe_load(source(cells[0]).split("\n", 1)[1]) or {}
        found[config.get("name", path.stem)] = path
    return found
