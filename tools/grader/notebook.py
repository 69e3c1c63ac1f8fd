"""Reading a submission: what its worker runs, the answers and printed numbers a human marks.

No student code runs here: the notebook is read as JSON and its code parsed with :mod:`ast`.

**The program** a worker runs is every top-level statement that can bind what a graded function
uses, in notebook order: imports, ``def`` and ``class`` statements (with their decorators), and
assignments whose target is a graded name or a name that a kept statement reads (``EPS = 1e-5``
used by a function, ``bn_backward = _helper``, ``f = make()``). So a graded name is bound to what
the notebook finally binds it to, however it was bound, and every rule (the operator block, the
sandbox) applies to what is actually called. Everything else (``grader.check(...)``, prints,
experiment cells whose results no function reads, loops) is not run: it costs time and earns no
points. Imports of ``otter`` and the ``grader = otter.Notebook()`` line are skipped.

**Review notes** list what a static scan cannot judge and a human may want to look at (torch's
pure-Python reference implementations of the normalizations, raw memory access...). They never
change a score.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

SKIPPED_IMPORTS = {"otter"}
REVIEW = {
    "_refs": "torch._refs (torch's own reference normalizations, in Python)",
    "_decomp": "torch._decomp (torch's own decompositions of the normalizations)",
    "_execution_engine": "autograd's engine called directly",
    "run_backward": "autograd's engine called directly",
    "ctypes": "ctypes (raw memory access)",
    "pythonapi": "ctypes.pythonapi (raw memory access)",
}
OUTPUT_LIMIT = 3000


def source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _strip_magics(src: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.split("\n"))


def _loads(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _free(stmt) -> set[str]:
    """The names a ``def`` or ``class`` statement reads from the notebook's namespace: what its
    decorators, defaults and bases read, and what its body reads but never binds itself."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = stmt.args
        outer = set()
        for d in [*getattr(stmt, "decorator_list", []), *a.defaults, *[d for d in a.kw_defaults if d]]:
            outer |= _loads(d)
        params = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x}
        body = stmt.body if isinstance(stmt.body, list) else [stmt.body]
        bound, reads = set(params), set()
        for node in body:
            for n in ast.walk(node):
                if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                    bound.add(n.id)
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    bound.add(n.name)
                elif isinstance(n, (ast.Import, ast.ImportFrom)):
                    bound |= {(x.asname or x.name).split(".")[0] for x in n.names}
                elif isinstance(n, ast.arg):
                    bound.add(n.arg)
            reads |= _loads(node)
        return outer | (reads - bound)
    if isinstance(stmt, ast.ClassDef):
        names = set()
        for d in [*stmt.decorator_list, *stmt.bases, *[k.value for k in stmt.keywords]]:
            names |= _loads(d)
        for node in stmt.body:
            names |= _free(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.ClassDef)) else _loads(node)
        return names
    return _loads(stmt)


def _targets(stmt) -> set[str]:
    """Names an assignment binds (``a.b = ...`` and ``a[i] = ...`` bind none)."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    names, todo = set(), list(targets)
    while todo:
        t = todo.pop()
        if isinstance(t, ast.Name):
            names.add(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            todo += t.elts
        elif isinstance(t, ast.Starred):
            todo.append(t.value)
    return names


class Submission:
    """What the grader knows about a notebook without running it.

    ``program``: ``[(label, source)]`` for the worker; ``errors``: why it could not be read at
    all; ``notes``: statements that could not be parsed; ``review``: static findings for a human.
    """

    def __init__(self, path: Path, graded: set[str]):
        self.path = Path(path)
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.review: list[str] = []
        self.program: list[tuple[str, str]] = []
        self.cells: list[dict] = []
        try:
            nb = json.loads(self.path.read_text(encoding="utf-8", errors="replace"))
            if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                raise ValueError("no list of cells")
            self.cells = [c for c in nb["cells"] if isinstance(c, dict)]
        except (ValueError, OSError) as e:
            self.errors.append(f"not a readable notebook (invalid JSON or structure): {e}")
            return
        self._read_code(set(graded))

    def _read_code(self, graded: set[str]):
        stmts = []
        for idx, cell in enumerate(self.cells, 1):
            if cell.get("cell_type") != "code":
                continue
            src = _strip_magics(source(cell))
            try:
                tree = ast.parse(src)
            except SyntaxError as e:
                self.notes.append(f"cell {idx}: syntax error (line {e.lineno}: {e.msg}); "
                                  "its definitions are missing")
                continue
            self._scan(tree, idx)
            for stmt in tree.body:
                stmts.append((idx, src, stmt))
        keep, needed = set(), set(graded)
        for i, (_, _, stmt) in enumerate(stmts):
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                mod = stmt.module if isinstance(stmt, ast.ImportFrom) else stmt.names[0].name
                if (mod or "").split(".")[0] not in SKIPPED_IMPORTS:
                    keep.add(i)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                keep.add(i)
                needed |= _free(stmt)
        changed = True
        while changed:   # assignments that bind a needed name, and what their values read
            changed = False
            for i, (_, _, stmt) in enumerate(stmts):
                if i in keep or not isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    continue
                if getattr(stmt, "value", None) is None:
                    continue
                if _targets(stmt) & needed:
                    keep.add(i)
                    needed |= _loads(stmt)
                    changed = True
        for i, (idx, src, stmt) in enumerate(stmts):
            if i in keep:
                seg = ast.get_source_segment(src, stmt) or ast.unparse(stmt)
                if getattr(stmt, "decorator_list", None):   # the segment starts at `def`
                    seg = ast.unparse(stmt)
                self.program.append((f"cell {idx}, line {stmt.lineno}", seg))

    def _scan(self, tree, idx):
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Attribute):
                names.append(node.attr)
            elif isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names += [(node.module or "") if isinstance(node, ast.ImportFrom) else a.name
                          for a in getattr(node, "names", [])]
                names = [p for n in names for p in n.split(".")]
            for n in names:
                if n in REVIEW:
                    line = f"cell {idx}, line {getattr(node, 'lineno', '?')}: uses {REVIEW[n]}"
                    if line not in self.review:
                        self.review.append(line)

    # ------------------------------------------------------------------ free-response answers

    def _prompt_index(self, prompt: str | None):
        if not prompt:
            return None
        key = prompt.strip().split("\n")[0][:60]
        for i, cell in enumerate(self.cells):
            if cell.get("cell_type") == "markdown" and key and key in source(cell):
                return i
        return None

    def answer(self, prompt: str | None) -> str | None:
        """The student's answer cells for the manual question whose prompt starts like ``prompt``."""
        i = self._prompt_index(prompt)
        if i is None:
            return None
        parts = []
        for nxt in self.cells[i + 1:]:
            src = source(nxt)
            if "<!-- END QUESTION -->" in src or "<!-- BEGIN QUESTION -->" in src:
                break
            parts.append(src)
        return "\n\n".join(parts).strip()

    def printed(self, prompt: str | None) -> list[tuple[int, str]]:
        """``[(cell number, text)]``: what the code cells just before the question's prompt (back
        to the previous question) and inside its answer printed, as stored in the notebook."""
        i = self._prompt_index(prompt)
        if i is None:
            return []
        around = []
        j = i - 1
        while j >= 0 and not (self.cells[j].get("cell_type") == "markdown"
                              and re.match(r"\s*(<!--.*-->\s*)*#+ *Question", source(self.cells[j]))):
            around.insert(0, j)
            j -= 1
        k = i + 1
        while k < len(self.cells) and "<!-- END QUESTION -->" not in source(self.cells[k]):
            around.append(k)
            k += 1
        found = []
        for j in around:
            cell = self.cells[j]
            if cell.get("cell_type") != "code":
                continue
            text = []
            for out in cell.get("outputs") or []:
                if not isinstance(out, dict):
                    continue
                if out.get("output_type") == "stream":
                    text.append(source({"source": out.get("text", "")}))
                elif out.get("output_type") in ("execute_result", "display_data"):
                    data = out.get("data") or {}
                    if "text/plain" in data and "image/png" not in data:
                        text.append(source({"source": data["text/plain"]}) + "\n")
            joined = "".join(text).strip()
            if joined:
                found.append((j + 1, joined[:OUTPUT_LIMIT]))
        return found
