"""The files of the book's table of contents, in reading order (one walk of _toc.yml for every tool
and test that needs it)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files(root: Path = ROOT) -> list[str]:
    """Every ``file`` entry of ``root/_toc.yml`` (the root page first), without suffix, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]] if "root" in toc else []

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files
