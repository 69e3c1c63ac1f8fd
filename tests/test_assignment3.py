"""Assignment 3 (a residual Transformer block) through the local grader, in one batch.

The master's solutions score full marks, the untouched student notebook scores zero without
crashing, a submission that calls the package's whole block and torch's layer norm instead of
writing them scores zero, and a submission with three classic mistakes (the unbiased variance, a
Pre-LN stack without its final norm, gradients never zeroed) loses exactly the points of the tests
that catch them. Every submitted file is unchanged afterwards. The other crafted hostile cases
(broken notebooks, tampering, files outside the folder) are in tests/test_assignments.py.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "assignments.py"
NAME = "residual_transformer_block"
MASTER = ROOT / "chapters" / "assignments" / f"{NAME}.ipynb"
QUESTIONS = ["q1_layer_norm", "q2_pre_ln_block", "q3_post_ln_block", "q4_encoder_logits",
             "q5_ffn_grad_norms", "q6_gradient_profile"]


def run_tool(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "NORMRES_SEED"))}
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, timeout=900, env=env, cwd=ROOT)


def replace_function(nb: dict, name: str, new_source: str) -> None:
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and src.startswith(f"def {name}("):
            cell["source"] = new_source
            return
    raise AssertionError(f"no cell defines {name}")


def edit_function(nb: dict, name: str, old: str, new: str) -> None:
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and src.startswith(f"def {name}("):
            assert old in src, f"{name}: {old!r} not in its solution"
            cell["source"] = src.replace(old, new)
            return
    raise AssertionError(f"no cell defines {name}")


def test_assignment3_grades(tmp_path):
    build = tmp_path / "build"
    proc = run_tool("build", NAME, "--out", build, "--no-run-tests")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    subs = tmp_path / "submissions"
    subs.mkdir()
    master = json.loads(MASTER.read_text())
    (subs / "master.ipynb").write_text(json.dumps(master))
    (subs / "untouched.ipynb").write_text((build / NAME / "student" / f"{NAME}.ipynb").read_text())

    cheat = copy.deepcopy(master)
    replace_function(cheat, "layer_norm", "def layer_norm(x, weight, bias, eps=1e-5):\n"
                     "    return torch.nn.functional.layer_norm(x, x.shape[-1:], weight, bias, eps)\n")
    replace_function(cheat, "pre_ln_block", "def pre_ln_block(x, block, key_padding_mask=None):\n"
                     "    return block(x, key_padding_mask)\n")
    replace_function(cheat, "post_ln_block", "def post_ln_block(x, block, key_padding_mask=None):\n"
                     "    return block(x, key_padding_mask)\n")
    (subs / "calls_the_package.ipynb").write_text(json.dumps(cheat))

    mistakes = copy.deepcopy(master)
    edit_function(mistakes, "layer_norm", "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)",
                  "var = x.var(dim=-1, keepdim=True)")
    edit_function(mistakes, "encoder_logits", '    if model.norm_position == "pre":\n'
                  "        f = model.final_norm\n        h = layer_norm(h, f.weight, f.bias, f.eps)\n", "")
    edit_function(mistakes, "ffn_grad_norms", "    model.zero_grad(set_to_none=True)\n", "")
    (subs / "mistakes.ipynb").write_text(json.dumps(mistakes))

    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.glob("*.ipynb")}
    out = tmp_path / "grades"
    proc = run_tool("grade", NAME, subs, "--out", out, "--budget", 30,
                    "--tests", build / NAME / "autograder" / "tests")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(proc.stdout)
    for p in subs.glob("*.ipynb"):
        assert hashlib.sha256(p.read_bytes()).hexdigest() == hashes[p.name], f"{p.name} was modified"
    rows = {Path(r["submission"]).stem: r for r in csv.DictReader(open(out / "grades.csv"))}
    scores = {name: [float(row[q]) for q in QUESTIONS] for name, row in rows.items()}

    assert scores["master"] == [3, 5, 3, 3, 2, 2], scores["master"]
    assert scores["untouched"] == [0] * 6, scores["untouched"]
    assert sum(scores["calls_the_package"]) == 0, scores["calls_the_package"]
    assert rows["calls_the_package"]["status"] == "uses-builtin"
    # unbiased variance: q1 and q3 (normalized output), torch comparisons of q2; no final norm: q4's
    # reference; no zero_grad: q5; q6 measures fresh models, so its direction checks still pass
    assert scores["mistakes"] == [0, 2, 0, 1, 0, 2], scores["mistakes"]
    for row in rows.values():
        assert row["file_unchanged"] == "True"
        assert float(row["seconds"]) <= 30 + 10, f"{row['submission']} took {row['seconds']} s"
    report = (out / "reports").glob("*mistakes*.md")
    text = next(report).read_text()
    assert "unbiased variance" in text and "zero the gradients" in text
