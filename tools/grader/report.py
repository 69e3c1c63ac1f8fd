"""Reports: ``grades.csv`` (one row per submission) and one Markdown report per submission.

A report gives the autograded score per question with every failed test's message, what the
sandbox observed (a normalization kernel reached, an input changed in place, a worker that died or
left threads running), the statements that failed to define, the static review notes for a human,
and for each free-response question the student's answer *and the numbers their notebook printed*
for it (the stored outputs of the cells before the question and inside the answer). A batch graded
without the sandbox says so in its first lines and in every row.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

PLACEHOLDER = "_Type your answer here, replacing this text._"


def status(res: dict) -> str:
    if res.get("crash"):
        return "grader-error"
    if res.get("errors"):
        return "unreadable"
    msgs = " ".join(m for q in res["questions"].values() for m in q["messages"])
    if "did not return" in msgs or "was not run" in msgs:
        return "incomplete"     # a time-out, a crash or an exit in some call
    return "ok"


def report_name(res: dict) -> str:
    if "report" not in res:
        p = Path(res["file"])
        res["report"] = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{p.parent.name}__{p.stem}") + ".md"
    return res["report"]


def write_csv(out: Path, rows: list[dict], auto: list[dict], manual: list[dict]) -> None:
    with open(Path(out) / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["submission", "report", "sha256", "status", *[q["name"] for q in auto],
                    "autograded", "autograded_possible",
                    *[f"{q['name']} (manual, /{q['points']})" for q in manual],
                    "seconds", "file_unchanged", "sandbox"])
        for r in rows:
            scores = [r["questions"][q["name"]]["score"] for q in auto]
            w.writerow([r["file"], f"reports/{report_name(r)}", r["sha256"][:16], status(r), *scores,
                        round(sum(scores), 4),
                        sum(r["questions"][q["name"]]["possible"] for q in auto),
                        *["" for _ in manual], r["wall_seconds"], r["unchanged"], r["sandbox"]])


def write_report(out: Path, assignment: str, res: dict, auto: list[dict], manual: list[dict]) -> Path:
    lines = [f"# {assignment}: {Path(res['file']).name}", ""]
    if res["sandbox"] != "bubblewrap":
        lines += ["**GRADED WITHOUT THE SANDBOX** (`--unsandboxed`): the student's code ran as a "
                  "plain process of this user, with nothing of the protections below.", ""]
    lines += [f"- file: `{res['file']}` (sha256 {res['sha256'][:16]}, unchanged: {res['unchanged']})",
              f"- status: **{status(res)}**, graded in {res['wall_seconds']} s; student code ran in: "
              f"{res['sandbox']}", ""]
    total = sum(res["questions"][q["name"]]["score"] for q in auto)
    possible = sum(res["questions"][q["name"]]["possible"] for q in auto)
    lines += [f"Autograded score: **{total:g} / {possible:g}**", ""]
    for title, key in (("Problems reading the notebook", "errors"),
                       ("What the sandbox observed", "observed"),
                       ("Statements that failed while defining", "def_errors"),
                       ("Notes", "notes"),
                       ("For a human to review (no points were taken for these)", "review")):
        if res.get(key):
            lines += [f"## {title}", ""] + [f"- {m}" for m in res[key]] + [""]
    lines += ["## Questions", "", "| question | score |", "|---|---|"]
    lines += [f"| {q['name']} | {res['questions'][q['name']]['score']:g} / "
              f"{res['questions'][q['name']]['possible']:g} |" for q in auto]
    lines += [f"| {q['name']} | manual, / {q['points']} |" for q in manual] + [""]
    for q in auto:
        msgs = res["questions"][q["name"]]["messages"]
        if msgs:
            lines += [f"### {q['name']}", ""] + ["```text\n" + m.strip() + "\n```" for m in msgs] + [""]
    for q in manual:
        entry = res.get("manual", {}).get(q["name"]) or {}
        ans = entry.get("answer")
        if ans and ans.strip() == PLACEHOLDER:
            ans = "_unanswered (the answer cell still holds otter's placeholder)_"
        lines += [f"### {q['name']} (manual, {q['points']} points)", ""]
        printed = entry.get("printed") or []
        if printed:
            lines += ["What the notebook printed for it (stored outputs):", ""]
            for cell, text in printed:
                lines += [f"cell {cell}:", "", "```text\n" + text + "\n```", ""]
        else:
            lines += ["_The notebook stores no printed output for this question (not run?)._", ""]
        lines += ["The answer:", "", (ans if ans else "_no answer found (cell deleted?)_"), ""]
    path = Path(out) / "reports" / report_name(res)
    path.write_text("\n".join(lines))
    return path
