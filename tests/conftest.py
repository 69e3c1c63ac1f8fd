"""Shared fixtures for the unit tests."""

import pytest
import torch


@pytest.fixture
def gen():
    """A seeded generator so every test draws the same random inputs on every run."""
    return torch.Generator().manual_seed(1234)




# The book, built once per test session from the stored outputs (warnings as errors) and shared by
# every test that reads the HTML (test_book, test_launch, test_browser), also across xdist workers:
# the first worker to take the lock builds, the others wait and reuse the result.
@pytest.fixture(scope="session")
def book_build(tmp_path_factory):
    """Build the book once; return an object with ``returncode``, ``log`` and ``html`` (a Path)."""
    import fcntl
    import json
    import os
    import pathlib
    import subprocess
    import sys
    import types

    root = pathlib.Path(__file__).resolve().parent.parent
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    out = base / "book"
    with open(base / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = out / "result.json"
        if not result.is_file():
            jb = pathlib.Path(sys.executable).parent / "jupyter-book"
            run = subprocess.run(
                [str(jb), "build", str(root), "--path-output", str(out), "-W", "-n", "--keep-going"],
                capture_output=True, text=True, timeout=900)
            result.write_text(json.dumps({"returncode": run.returncode, "log": run.stdout + run.stderr}))
    data = json.loads(result.read_text())
    return types.SimpleNamespace(returncode=data["returncode"], log=data["log"], html=out / "_build" / "html")
