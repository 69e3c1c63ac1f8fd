"""The publishing workflow (.github/workflows/book.yml) is valid and does what the README says.

Validated offline against the GitHub-workflow JSON schema that check-jsonschema vendors
(``--builtin-schema vendor.github-workflows``, no download), then read for its promises: tests on
pull requests, the book built and published to GitHub Pages on pushes to main, Python 3.11 and the
project's own requirements through the Makefile.
"""

import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def test_workflow_validates_against_the_vendored_schema():
    cli = pathlib.Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(cli), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_tests_pull_requests_and_publishes_main():
    wf = yaml.safe_load(WORKFLOW.read_text())
    on = wf[True] if True in wf else wf["on"]   # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"] and "pull_request" in on
    jobs = wf["jobs"]
    steps = lambda job: [s.get("run", "") + s.get("uses", "") for s in jobs[job]["steps"]]  # noqa: E731
    assert "pull_request" in jobs["test"]["if"]
    assert "make test" in steps("test")
    assert any("apt-get install -y chromium" in s for s in steps("test")), "the browser test needs chromium"
    assert "make book" in steps("build")
    assert any(s.startswith("actions/upload-pages-artifact") for s in steps("build"))
    assert any(s.startswith("actions/deploy-pages") for s in steps("deploy"))
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert "refs/heads/main" in jobs["deploy"]["if"]
    for job in ("test", "build"):
        assert jobs[job]["container"] == "python:3.11-bookworm", "the same Python (3.11) as the project"
    upload = next(s for s in jobs["build"]["steps"] if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "_build/html", "publishes what `make book` builds"
