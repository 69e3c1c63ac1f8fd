"""Loaded by pytest for every run from this repository, including ``pytest chapters/x.ipynb``:
makes nbval also compare each re-executed figure with the stored one (tests/figures.py)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "tests"))
import figures  # noqa: E402

figures.install()
