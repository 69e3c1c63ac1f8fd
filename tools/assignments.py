"""Build and grade the course's assignments (``make assignments``, ``make grade``).

Build: every master notebook in ``chapters/assignments/`` (a notebook whose first cell is a raw
``# ASSIGNMENT CONFIG`` cell, otter-grader's assign format v1) goes through ``otter assign`` into
``_build/assignments/<name>/``: ``student/`` (the notebook to hand out, public tests only) and
``autograder/`` (the solutions, every test and the autograder zip). ``otter assign`` runs all tests
against the master's solutions and fails if any fails; so does this build.

Grade: ``python tools/assignments.py grade NAME SUBMISSION...`` grades notebooks (or folders of
them) against the assignment's otter test files and writes ``grades.csv`` plus one readable
report per submission. The design does not trust the process that runs a student's code:

* A **batch process** (this one) imports torch once, copies each submission into a fresh temporary
  folder (the submitted file is hashed before and after and is never opened for writing), and
  forks one **grader process** per submission, with a time limit; if it dies or hangs, that
  submission gets zero with a message and the batch goes on.
* The grader process never runs student code. It reads the notebook as JSON, takes from every code
  cell only the top-level ``import`` statements, function and class definitions and constant
  assignments (top-level statements that *do* something, such as a ``raise``, an endless loop, a
  ``sys.exit()`` or a monkeypatch, are never run), and scans the source statically for tampering
  and for calls of torch's own normalization.
* For each question it forks a **sandbox process** that defines the student's functions and runs
  the question's otter tests with every student function wrapped: the wrapper passes copies of the
  arguments, records the aten operators the call runs, and streams each result back as plain
  bytes (no pickle). The sandbox has a scrubbed environment, a temporary working folder, resource
  limits, a CPU and wall-clock limit, and an audit hook that refuses file access outside its
  folder, subprocesses, signals and network.
* The grader process then **replays** the same otter tests, in its pristine interpreter, with each
  student function replaced by a stand-in that returns the recorded results. Every comparison,
  every reference value and so every verdict is computed in a process that never ran student
  code, so patching ``torch.allclose``, the testing helpers, ``builtins`` or otter's objects in the
  sandbox can change nothing; returned tensors arrive as raw bytes, so a tensor subclass with a
  rigged ``__eq__`` arrives as a plain tensor.

Scores are otter's (points per test case as the test files declare them); tampering detected
statically or at run time, and use of torch's normalization kernels, set the question to zero
with a message. Manual (free-response) questions are listed with the student's answer for a
human to mark. See ``chapters/assignments/README.md`` for what this does and does not protect
against.
"""

from __future__ import annotations

import argparse
import ast
import base64
import builtins
import csv
import glob
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Forking a process after an OpenMP thread pool exists deadlocks the child inside torch kernels;
# with one OpenMP thread there is no pool. Set before torch is imported (it is imported lazily).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build" / "assignments"

# ---------------------------------------------------------------------------------------------
# masters and build
# ---------------------------------------------------------------------------------------------


from masters import MASTERS, masters, source as _source  # noqa: E402  (tools/ is the script's folder)


def master_questions(master: Path) -> list[dict]:
    """The questions of a master notebook in order: name, points, manual, and the prompt text."""
    import yaml

    nb = json.loads(master.read_text())
    questions, current = [], None
    for cell in nb["cells"]:
        src = _source(cell)
        if cell.get("cell_type") == "raw" and src.startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(src.split("\n", 1)[1]) or {}
            current = {"name": config["name"], "points": config.get("points"),
                       "manual": bool(config.get("manual", False)), "prompt": None}
            questions.append(current)
        elif cell.get("cell_type") == "raw" and src.startswith("# END QUESTION"):
            current = None
        elif current is not None and current["prompt"] is None and cell.get("cell_type") == "markdown":
            current["prompt"] = src
    return questions


def build(names=None, out: Path = BUILD, run_tests: bool = True) -> dict[str, Path]:
    """Run ``otter assign`` on the masters (all, or ``names``); return ``{name: output folder}``.

    Raises ``RuntimeError`` naming the assignment if otter fails, e.g. because a solution fails
    one of its own tests.
    """
    found = masters()
    names = list(found) if not names else list(names)
    done = {}
    for name in names:
        if name not in found:
            raise SystemExit(f"no master notebook for assignment {name!r}; masters: {sorted(found)}")
        dest = Path(out) / name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        print(f"otter assign {found[name].relative_to(ROOT)} -> {dest}"
              + ("" if run_tests else " (tests not run)"), flush=True)
        os.environ.setdefault("MPLBACKEND", "Agg")
        from otter.assign import main as otter_assign
        try:
            otter_assign(str(found[name]), str(dest), no_run_tests=not run_tests, no_pdfs=True)
        except Exception as e:  # otter raises RuntimeError listing the failed tests
            raise RuntimeError(
                f"otter assign failed for {name}: the master's solutions must pass all of its "
                f"tests.\n{e}") from e
        zips = sorted((dest / "autograder").glob("*.zip"))
        print(f"  student notebook: {(dest / 'student' / (found[name].name)).relative_to(ROOT) if dest.is_relative_to(ROOT) else dest / 'student'}"
              f"\n  autograder zip:   {zips[-1].name if zips else 'none'}", flush=True)
        done[name] = dest
    return done


# ---------------------------------------------------------------------------------------------
# reading a submission (no student code runs here)
# ---------------------------------------------------------------------------------------------

# Modules whose callables a submission must never replace, and names that mark tampering.
PROTECTED_MODULES = ("torch", "numpy", "builtins", "otter", "sys", "os", "normres", "math",
                     "unittest", "pytest", "inspect", "importlib", "gc", "types", "functools")
TAMPER_CALLS = {"setattr", "delattr", "__import__", "eval", "exec", "compile", "globals", "vars"}
TAMPER_ATTRS = {"__builtins__", "__dict__", "__globals__", "__code__", "__class__", "modules",
                "_getframe", "currentframe", "get_objects", "get_referrers", "__subclasses__",
                "f_back", "f_globals", "f_locals", "addaudithook", "settrace", "setprofile",
                "CDLL", "pythonapi", "cdll", "memmove"}
TAMPER_NAMES = {"__builtins__", "ctypes", "gc", "inspect", "importlib"}
GRADER_NAMES = {"grader", "otter"}   # legitimate to use (grader.check), never to modify
# torch's normalization entry points (the graded functions must not call them)
KERNEL_TOKEN = re.compile(r"(batch|layer|group|instance|rms)_norm|BatchNorm|LayerNorm|GroupNorm|"
                          r"InstanceNorm|RMSNorm|LocalResponseNorm|normalize\b")
NORMRES_LAYERS = ("normres.functional", "normres.backward", "normres.nn")
# aten operators of torch's normalization: recorded in a graded function's call, they zero the question
FORBIDDEN_OPS = re.compile(r"(^|_)(batch|layer|group|instance|rms)_norm")
AUTOGRAD_TOKEN = re.compile(r"^(backward|grad|autograd|func|vjp|jvp|jacobian|hessian|enable_grad|"
                            r"set_grad_enabled|inference_mode|requires_grad_?|no_grad)$")
SKIPPED_IMPORTS = {"otter"}


def _strip_magics(src: str) -> str:
    return "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.split("\n"))


def _is_constant(node) -> bool:
    """A value whose evaluation runs no student code: literals, names, attribute chains."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_constant(k) for k in node.keys) and all(_is_constant(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left) and _is_constant(node.right)
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _is_constant(node.value)
    return False


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class Submission:
    """What the grader knows about a notebook without running it."""

    def __init__(self, path: Path):
        self.path = path
        self.errors: list[str] = []      # the notebook could not be read at all
        self.notes: list[str] = []       # things ignored or skipped, for the report
        self.tamper: list[str] = []      # static tampering findings
        self.definitions: list[tuple[str, str]] = []   # (label, source) run in the sandbox
        self.defs: dict[str, ast.AST] = {}              # top-level function/class name -> node
        self.aliases: dict[str, str] = {}               # imported name -> dotted origin
        self.cells: list[dict] = []
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            nb = json.loads(text)
            if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                raise ValueError("no list of cells")
            self.cells = [c for c in nb["cells"] if isinstance(c, dict)]
        except (ValueError, OSError) as e:
            self.errors.append(f"not a readable notebook (invalid JSON or structure): {e}")
            return
        self._read_code()

    def _read_code(self):
        parsed = []
        for idx, cell in enumerate(self.cells, 1):
            if cell.get("cell_type") != "code":
                continue
            src = _strip_magics(_source(cell))
            try:
                parsed.append((idx, src, ast.parse(src)))
            except SyntaxError as e:
                self.notes.append(f"cell {idx}: syntax error (line {e.lineno}: {e.msg}); "
                                  "its definitions are missing")
        for _, _, tree in parsed:  # import aliases first: `np.testing.x = ...` is seen as numpy
            for stmt in tree.body:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    mod = stmt.module if isinstance(stmt, ast.ImportFrom) else None
                    for a in stmt.names:
                        local = a.asname or a.name.split(".")[0]
                        self.aliases[local] = f"{mod}.{a.name}" if mod else (a.name if a.asname else local)
        for idx, src, tree in parsed:
            self._scan_tamper(tree, idx)
            for stmt in tree.body:
                label = f"cell {idx}, line {stmt.lineno}"
                seg = ast.get_source_segment(src, stmt) or ast.unparse(stmt)
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    mod = stmt.module if isinstance(stmt, ast.ImportFrom) else None
                    names = [a.name.split(".")[0] for a in stmt.names]
                    if (mod or names[0]).split(".")[0] in SKIPPED_IMPORTS:
                        continue
                    self.definitions.append((label, seg))
                elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    self.defs[stmt.name] = stmt
                    self.definitions.append((label, seg))
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    if all(isinstance(t, ast.Name) for t in targets) and _is_constant(stmt.value):
                        self.definitions.append((label, seg))
                # every other top-level statement is never run by the grader

    def _scan_tamper(self, tree, idx):
        def hit(node, what):
            self.tamper.append(f"cell {idx}, line {getattr(node, 'lineno', '?')}: {what}")

        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete))
                           else [node.target])
                for t in targets:
                    base = t.value if isinstance(t, (ast.Attribute, ast.Subscript)) else None
                    name = _dotted(base) if base is not None else None
                    root = name.split(".")[0] if name else None
                    origin = self.aliases.get(root, root) if root else None
                    if isinstance(t, ast.Attribute) and origin and (
                            origin.split(".")[0] in PROTECTED_MODULES or root in TAMPER_NAMES
                            or root in GRADER_NAMES):
                        hit(node, f"assigns to `{ast.unparse(t)}` (replacing a library/grader object)")
                    elif isinstance(t, ast.Subscript) and name and (
                            root in TAMPER_NAMES | GRADER_NAMES or name.split(".")[-1] in TAMPER_ATTRS):
                        hit(node, f"assigns to `{ast.unparse(t)}`")
                    elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Call) and \
                            isinstance(t.value.func, ast.Name) and t.value.func.id in TAMPER_CALLS:
                        hit(node, f"assigns to `{ast.unparse(t)}`")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in TAMPER_CALLS:
                hit(node, f"calls `{node.func.id}()`")
            elif isinstance(node, ast.Attribute) and node.attr in TAMPER_ATTRS:
                hit(node, f"uses `.{node.attr}`")
            elif isinstance(node, ast.Name) and node.id in TAMPER_NAMES and isinstance(node.ctx, ast.Load):
                hit(node, f"uses `{node.id}`")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for m in mods:
                    if m.split(".")[0] in {"ctypes", "gc", "inspect", "importlib", "subprocess",
                                           "socket", "signal", "resource", "cffi"}:
                        hit(node, f"imports `{m}`")

    def reachable(self, name: str) -> list[ast.AST]:
        """Definitions reachable from ``name`` through the names its body uses."""
        seen, todo, nodes = set(), [name], []
        while todo:
            n = todo.pop()
            if n in seen or n not in self.defs:
                continue
            seen.add(n)
            nodes.append(self.defs[n])
            todo.extend(x.id for x in ast.walk(self.defs[n]) if isinstance(x, ast.Name))
        return nodes

    def kernel_uses(self, name: str, autograd: bool = False) -> list[str]:
        """Places where the code ``name`` runs refers to torch's normalization (or autograd)."""
        found = []
        for fn in self.reachable(name):
            for node in ast.walk(fn):
                tokens = []
                if isinstance(node, ast.Attribute):
                    tokens.append((node.attr, _dotted(node) or node.attr))
                elif isinstance(node, ast.Name) and node.id in self.aliases:
                    tokens.append((self.aliases[node.id].split(".")[-1], self.aliases[node.id]))
                    if self.aliases[node.id].startswith(NORMRES_LAYERS):
                        found.append(f"`{fn.name}` uses `{node.id}` = {self.aliases[node.id]} "
                                     "(normres's own layers)")
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", node.value) and \
                        KERNEL_TOKEN.search(node.value):  # getattr(F, "batch_norm"), not docstrings
                    found.append(f"`{fn.name}` line {node.lineno}: string {node.value!r}")
                for tok, full in tokens:
                    if KERNEL_TOKEN.search(tok):
                        found.append(f"`{fn.name}` line {node.lineno}: `{full}`")
                    elif autograd and AUTOGRAD_TOKEN.match(tok):
                        found.append(f"`{fn.name}` line {node.lineno}: `{full}` (autograd)")
        return sorted(set(found))

    def answer(self, prompt: str | None) -> str | None:
        """The student's answer cells for the manual question whose prompt starts like ``prompt``."""
        if not prompt:
            return None
        key = prompt.strip().split("\n")[0][:60]
        for i, cell in enumerate(self.cells):
            if cell.get("cell_type") == "markdown" and key and key in _source(cell):
                parts = []
                for nxt in self.cells[i + 1:]:
                    src = _source(nxt)
                    if "<!-- END QUESTION -->" in src or "<!-- BEGIN QUESTION -->" in src:
                        break
                    parts.append(src)
                return "\n\n".join(parts).strip()
        return None


# ---------------------------------------------------------------------------------------------
# the wire format between the sandbox and the grader (JSON + base64 bytes; never pickle)
# ---------------------------------------------------------------------------------------------

MAX_FRAME = 64 * 2**20
MAX_ELEMENTS = 20_000_000


def _encode(obj, depth=0):
    import numpy as np
    import torch

    if depth > 20:
        return {"t": "opaque", "type": "too deeply nested"}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        if isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) > 2**62:
            return {"t": "opaque", "type": "huge int"}
        if isinstance(obj, str):
            obj = obj[:10_000]
        return {"t": "py", "v": obj if not isinstance(obj, float) else repr(obj)
                if obj != obj or obj in (float("inf"), float("-inf")) else obj,
                "float": isinstance(obj, float)}
    if isinstance(obj, torch.Tensor):
        t = torch.Tensor.as_subclass(obj, torch.Tensor).detach().cpu().contiguous()
        if t.is_complex() or t.layout != torch.strided:
            return {"t": "opaque", "type": f"tensor {t.dtype} {t.layout}"}
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        return {"t": "tensor", "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                "b": base64.b64encode(raw).decode()}
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
        return {"t": "ndarray", "dtype": obj.dtype.str, "shape": list(obj.shape),
                "b": base64.b64encode(np.ascontiguousarray(obj).tobytes()).decode()}
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return _encode(obj.item(), depth + 1)
    if isinstance(obj, (tuple, list)):
        return {"t": type(obj).__name__ if type(obj) in (tuple, list) else "list",
                "v": [_encode(x, depth + 1) for x in list(obj)[:1000]]}
    if isinstance(obj, dict):
        return {"t": "dict", "v": [[str(k), _encode(v, depth + 1)] for k, v in list(obj.items())[:1000]]}
    return {"t": "opaque", "type": type(obj).__name__}


class Opaque:
    """Stands for a value the sandbox could not send as data (a student object, a module...)."""

    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return f"<unsendable {self.kind}>"


_DTYPES = {"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
           "uint8", "bool"}


def _decode(d):
    import numpy as np
    import torch

    t = d.get("t")
    if t == "py":
        v = d["v"]
        return float(v) if d.get("float") else v
    if t == "tensor":
        if d["dtype"] not in _DTYPES:
            return Opaque(f"tensor of {d['dtype']}")
        shape = [int(s) for s in d["shape"]]
        n = 1
        for s in shape:
            n *= s
        if n > MAX_ELEMENTS or any(s < 0 for s in shape):
            return Opaque("tensor too large")
        raw = bytearray(base64.b64decode(d["b"]))
        dtype = getattr(torch, d["dtype"])
        flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        return flat.view(dtype).reshape(shape).clone()
    if t == "ndarray":
        arr = np.frombuffer(base64.b64decode(d["b"]), dtype=np.dtype(d["dtype"]))
        return arr.reshape([int(s) for s in d["shape"]]).copy()
    if t in ("tuple", "list"):
        items = [_decode(x) for x in d["v"]]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        return {k: _decode(v) for k, v in d["v"]}
    return Opaque(d.get("type", "?"))


def _fingerprint(args, kwargs) -> str:
    """A hash of the call's data arguments: the grader checks the sandbox saw the same inputs."""
    import torch

    h = hashlib.sha256()

    def feed(x, depth=0):
        if depth > 10:
            return
        if isinstance(x, torch.Tensor):
            t = torch.Tensor.as_subclass(x, torch.Tensor).detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            if not t.is_complex():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, (bool, int, float, str, type(None))):
            h.update(repr(x).encode())
        elif isinstance(x, (tuple, list)):
            h.update(b"(")
            for y in x:
                feed(y, depth + 1)
            h.update(b")")
        elif isinstance(x, dict):
            for k in sorted(x, key=str):
                h.update(str(k).encode())
                feed(x[k], depth + 1)
        elif callable(x):
            h.update(b"<callable>")
        else:
            h.update(type(x).__name__.encode())

    feed(args)
    feed(kwargs)
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# the sandbox process (runs student code; nothing it says decides a verdict on its own)
# ---------------------------------------------------------------------------------------------

SENTINELS = [("torch", "allclose"), ("torch", "equal"), ("torch", "isclose"),
             ("torch.testing", "assert_close"), ("numpy", "allclose"), ("numpy.testing", "assert_allclose"),
             ("builtins", "abs"), ("builtins", "max"), ("builtins", "min"), ("builtins", "bool"),
             ("builtins", "isinstance"), ("builtins", "float"), ("builtins", "AssertionError"),
             ("torch", "Tensor.__eq__"), ("torch", "Tensor.allclose"),
             ("otter.test_files.exception_test", "ExceptionTestFile.run"),
             ("otter.test_files.exception_test", "test_case.call_func"),
             ("normres.probes.benchmark", "RecordOps.__torch_dispatch__"),
             ("torch.utils._python_dispatch", "_get_current_dispatch_mode_stack")]


def _snapshot():
    """Identities of the objects the tests and the sandbox rely on (a change = tampering)."""
    import importlib

    snap = {}
    for mod, attr in SENTINELS:
        try:
            obj = importlib.import_module(mod)
            for part in attr.split("."):
                obj = getattr(obj, part)
            snap[f"{mod}.{attr}"] = id(obj)
        except Exception:
            pass
    return snap


def _sandbox(workdir: Path, definitions, test_file, fd: int, cpu_seconds: float):
    """Body of the sandbox process. Streams frames of JSON lines to ``fd``; never returns."""
    import resource

    import torch
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    from normres.probes.benchmark import RecordOps

    try:  # die with the grader
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    except Exception:
        pass

    def send(obj):
        data = (json.dumps(obj) + "\n").encode()
        if len(data) > MAX_FRAME:
            data = (json.dumps({"kind": "error", "msg": "a result was too large to send"}) + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]

    os.chdir(workdir)
    home = str(workdir)
    os.environ.clear()
    os.environ.update({"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                       "MPLBACKEND": "Agg", "MPLCONFIGDIR": home, "OMP_NUM_THREADS": "1"})
    out = os.open(str(workdir / "sandbox_output.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        vm = int(re.search(r"VmSize:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 3 * 2**30, vm + 3 * 2**30))
    except Exception:
        pass
    used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    cpu = int(used + cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 2**20, 8 * 2**20))

    # what a submission may read (the interpreter, libraries, the shared package) and write (its folder)
    import normres

    readable = [str(workdir), sys.prefix, sys.base_prefix, sys.exec_prefix,
                str(Path(normres.__file__).parent), "/usr", "/lib", "/lib64", "/etc", "/proc",
                "/sys", "/dev/null", "/dev/urandom", "/dev/shm"]
    readable += [p for p in sys.path if p and "site-packages" in p]
    # library code may read the source of the frames on the stack (inspect.stack, linecache): the
    # test file and this file. Reading them gains nothing: verdicts are computed elsewhere.
    readable += [os.path.realpath(getattr(test_file, "path", "") or "/nonexistent"),
                 os.path.realpath(__file__)]
    violations: list[str] = []
    blocked = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
               "os.forkpty", "os.kill", "os.killpg", "signal.pthread_kill", "socket.connect",
               "socket.bind", "socket.sendto", "ctypes.dlopen", "ctypes.dlsym", "resource.setrlimit",
               "pty.spawn", "os.setuid", "os.chroot"}
    mutating = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link",
                "os.truncate", "os.chmod", "os.chown", "os.utime", "shutil.rmtree", "os.chdir"}

    def inside(p, roots):
        try:
            full = os.path.realpath(os.fsdecode(p))
        except Exception:
            return False
        return any(full == r or full.startswith(r.rstrip("/") + "/") for r in roots)

    def hook(event, args):
        if not active[0]:
            return
        if event == "open":
            path, mode, flags = (list(args) + [None, None])[:3]
            if isinstance(path, int) or path is None:
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                      (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT
                                                           | os.O_APPEND | os.O_TRUNC))
            ok = inside(path, [str(workdir), "/dev/null"]) if writing else inside(path, readable)
            if not ok:
                violations.append(f"{'write' if writing else 'read'} {os.fsdecode(path)}")
                raise PermissionError(f"the grader does not let a submission "
                                      f"{'write' if writing else 'read'} {os.fsdecode(path)}")
        elif event in mutating:
            paths = [a for a in args if isinstance(a, (str, bytes, os.PathLike))]
            if event == "os.chdir":
                return
            if not all(inside(p, [str(workdir)]) for p in paths):
                violations.append(f"{event} {paths}")
                raise PermissionError(f"the grader does not let a submission run {event} outside its folder")
        elif event in blocked or event.startswith("os.exec") or event.startswith("os.spawn"):
            violations.append(event)
            raise PermissionError(f"the grader does not let a submission use {event}")

    import faulthandler
    import warnings
    # a warning's display reads the source line of the file that caused it (linecache), e.g. a
    # test file outside the folder; warnings mean nothing to the grader, so none are displayed
    warnings.simplefilter("ignore")
    faulthandler.dump_traceback_later(max(0.5, cpu_seconds - 0.7), exit=False, file=out)
    before = _snapshot()
    active = [True]   # the hook polices student code only: definitions and calls of their functions
    sys.addaudithook(hook)

    ns = {"__name__": "__submission__", "__builtins__": builtins}
    def_errors = []
    for label, src in definitions:
        try:
            exec(compile(src, f"<submission {label}>", "exec"), ns)
        except BaseException as e:  # noqa: BLE001 - a definition may raise anything
            def_errors.append(f"{label}: {type(e).__name__}: {str(e)[:200]}")
    active[0] = False
    send({"kind": "defs", "errors": def_errors, "violations": list(violations)})

    class Recorder:
        def __init__(self, name, fn):
            self.name, self.fn = name, fn

        def __call__(self, *args, **kwargs):
            fp = _fingerprint(args, kwargs)

            def copy(x):
                if isinstance(x, torch.Tensor):
                    return torch.Tensor.as_subclass(x, torch.Tensor).detach().clone()
                if isinstance(x, (tuple, list)):
                    return type(x)(copy(y) for y in x)
                return x

            cargs = [copy(a) for a in args]
            ckw = {k: copy(v) for k, v in kwargs.items()}
            frame = {"kind": "call", "name": self.name, "fp": fp}
            depth = len(_get_current_dispatch_mode_stack())
            rec = RecordOps()
            try:
                with rec:
                    active[0] = True
                    try:
                        result = self.fn(*cargs, **ckw)
                    finally:
                        active[0] = False
                frame["result"] = _encode(result)
            except BaseException as e:  # noqa: BLE001 - SystemExit too
                active[0] = False
                frame["raised"] = [type(e).__name__, str(e)[:500]]
            frame["ops"] = sorted({name for name, _ in rec.ops})
            if len(_get_current_dispatch_mode_stack()) != depth:
                frame["tamper"] = "the dispatch-mode stack changed during the call"
            now = _snapshot()
            changed = [k for k in before if now.get(k) != before[k]]
            if changed:
                frame["tamper"] = "replaced " + ", ".join(changed)
            frame["violations"] = list(violations)
            if "result" in frame and len(json.dumps(frame["result"])) > MAX_FRAME // 2:
                frame["result"] = {"t": "opaque", "type": "result too large to send"}
            send(frame)
            if "raised" in frame and frame["raised"][0] in ("SystemExit", "KeyboardInterrupt"):
                raise RuntimeError("submission exited")
            if "raised" in frame:
                raise RuntimeError(frame["raised"][1])
            return result

    env = {k: (Recorder(k, v) if callable(v) and not isinstance(v, type) else v)
           for k, v in ns.items() if not k.startswith("__")}
    for i, tc in enumerate(test_file.test_cases):
        send({"kind": "test", "i": i})
        torch.manual_seed(0)
        try:
            tc.body.call_func(env)
        except BaseException:  # noqa: BLE001 - the sandbox's own verdicts are not used
            pass
    send({"kind": "done", "violations": list(violations)})
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# the grader process (pristine; replays the tests on recorded results)
# ---------------------------------------------------------------------------------------------


class SubmissionError(Exception):
    """A student function failed, timed out, or its process died; the message says which."""


class Replay:
    """Stands in for a student function: returns what the sandbox recorded, call by call."""

    def __init__(self, name, defined):
        self.name, self.defined = name, defined
        self.calls, self.finished, self.end_reason = [], True, None

    def load(self, calls, finished, end_reason):
        """The recorded calls of one test case; ``finished``: the sandbox completed that test."""
        self.calls, self.finished, self.end_reason = list(calls), finished, end_reason

    def __call__(self, *args, **kwargs):
        if not self.defined:
            raise SubmissionError(f"`{self.name}` is not defined in the submission "
                                  "(deleted or renamed cell?)")
        if not self.calls and not self.finished:
            raise SubmissionError(f"`{self.name}` did not return: {self.end_reason}")
        if not self.calls:
            raise SubmissionError(
                f"while your code ran, this test took a different path than in the grader: "
                f"your code changed library functions or global state the tests rely on")
        frame = self.calls.pop(0)
        if frame["fp"] != _fingerprint(args, kwargs):
            raise SubmissionError(
                f"`{self.name}` was called on different inputs while your code ran than the grader "
                "expects: your code changed global state the tests rely on (random seed, default "
                "dtype, a library function)")
        from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
        for mode in _get_current_dispatch_mode_stack():
            if type(mode).__name__ == "RecordOps" and isinstance(getattr(mode, "ops", None), list):
                mode.ops.extend((op, 0) for op in frame.get("ops", []))
        if "raised" in frame:
            kind, msg = frame["raised"]
            exc = getattr(builtins, kind, None)
            if kind in ("SystemExit", "KeyboardInterrupt"):
                raise SubmissionError(f"`{self.name}` tried to exit the interpreter ({kind})")
            if isinstance(exc, type) and issubclass(exc, Exception):
                raise exc(f"{msg} (raised by your `{self.name}`)")
            raise SubmissionError(f"`{self.name}` raised {kind}: {msg}")
        return _decode(frame["result"])


def _run_question(sub: Submission, test_file, workdir: Path, wall: float):
    """Record in a sandbox, then replay in this process. Returns a result dict for the question."""
    import copy

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # sandbox
        os.close(rfd)
        try:
            _sandbox(workdir, sub.definitions, test_file, wfd, wall)
        finally:
            os._exit(3)
    os.close(wfd)
    buf, frames, deadline, end_reason = b"", [], time.monotonic() + wall, None
    status = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            end_reason = f"timed out after {wall:.0f} s (an endless loop, or far too slow)"
            break
        ready, _, _ = select.select([rfd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(rfd, 1 << 20)
            if not chunk:
                break
            buf += chunk
            if len(buf) > 4 * MAX_FRAME:
                end_reason = "sent too much data"
                break
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    frames.append(json.loads(line))
                except ValueError:
                    end_reason = "the grading channel was corrupted (the submission wrote to it?)"
    os.close(rfd)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    done = any(f.get("kind") == "done" for f in frames)
    if end_reason and end_reason.startswith("timed out"):
        try:  # where the sandbox was stuck (faulthandler's dump), if in the student's code
            dump = (workdir / "sandbox_output.txt").read_text(errors="replace")
            where = re.findall(r'File "<submission cell (\d+), line (\d+)>", line (\d+) in (\S+)', dump)
            if where:
                cell, start, line, fn = where[0]
                end_reason += (f"; it was at `{fn}`, cell {cell} line {int(start) + int(line) - 1}")
        except OSError:
            pass
    if end_reason is None and not done:
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            end_reason = (f"its process was killed by {sig}"
                          + (" (CPU time limit)" if sig == "SIGXCPU" else "")
                          + " (memory limit, crash, or CPU limit)" * (sig not in ("SIGXCPU",)))
        else:
            end_reason = (f"its process exited with code {os.WEXITSTATUS(status)} while running "
                          "your code (os._exit or a crash)")
    by_test: dict[int, dict[str, list]] = {}
    tamper, violations, def_errors, ops_seen = [], [], [], {}
    current, started = -1, -1
    for f in frames:
        violations = f.get("violations", violations)
        if f.get("kind") == "defs":
            def_errors = f.get("errors", [])
        elif f.get("kind") == "test":
            current = started = int(f["i"])
        elif f.get("kind") == "call":
            by_test.setdefault(current, {}).setdefault(f["name"], []).append(f)
            ops_seen.setdefault(f["name"], set()).update(f.get("ops", []))
            if f.get("tamper"):
                tamper.append(f"`{f['name']}`: {f['tamper']}")
    defined = set(sub.defs) | {n for calls in by_test.values() for n in calls}
    params = set()
    for tc in test_file.test_cases:
        params.update(tc.body._get_func_params())
    env = {p: Replay(p, p in defined) for p in params if p != "env"}
    from otter.test_files.abstract_test import TestCaseResult
    import numpy as np
    import torch
    tf = copy.copy(test_file)
    tf.test_case_results = []
    for i, tc in enumerate(tf.test_cases):
        finished = i < started or (i == started and done)
        for r in env.values():
            r.load(by_test.get(i, {}).get(r.name, []), finished,
                   end_reason or "the sandbox stopped early")
        torch.manual_seed(0)
        np.random.seed(0)
        passed, message = True, "✅ Test case passed"
        try:  # as otter's ExceptionTestFile.run, one test case at a time
            tc.body.call_func(env)
        except Exception as e:  # noqa: BLE001
            passed, message = False, "❌ Test case failed\n" + tf._generate_error_message(e)
        tf.test_case_results.append(TestCaseResult(test_case=tc, message=message, passed=passed))
    kernels = sorted({f"`{name}` ran aten.{op}" for name, ops in ops_seen.items()
                      if not name.startswith(("test_", "check_")) for op in ops if FORBIDDEN_OPS.search(op)})
    return {"tf": tf, "end_reason": end_reason, "tamper": sorted(set(tamper)), "kernels": kernels,
            "violations": sorted(set(violations)), "def_errors": def_errors, "params": sorted(params)}


def grade_submission(path: Path, assignment: str, tests_dir: Path, questions: list[dict],
                     question_timeout: float, budget: float) -> dict:
    """Grade one notebook (already copied into its own folder). Runs in the grader process."""
    from otter.test_files.exception_test import ExceptionTestFile

    start = time.monotonic()
    sub = Submission(path)
    result = {"questions": {}, "notes": list(sub.notes), "errors": list(sub.errors),
              "tamper": list(sub.tamper), "manual": {}}
    files = {q["name"]: tests_dir / f"{q['name']}.py" for q in questions if not q["manual"]}
    for q in questions:
        name = q["name"]
        if q["manual"]:
            result["manual"][name] = {"points": q["points"], "answer": sub.answer(q["prompt"])}
            continue
        tf_master = ExceptionTestFile.from_file(str(files[name]))
        possible = float(tf_master.possible if hasattr(tf_master, "possible") else q["points"] or 0)
        entry = {"score": 0.0, "possible": possible, "messages": []}
        result["questions"][name] = entry
        if sub.errors:
            entry["messages"].append(sub.errors[0])
            continue
        if sub.tamper:
            entry["messages"].append("not graded: the notebook tampers with the grader or libraries "
                                     "(see the flags above)")
            continue
        left = budget - (time.monotonic() - start)
        if left < 1:
            entry["messages"].append("not graded: the submission's time budget was used up by "
                                     "earlier questions")
            continue
        t0 = time.monotonic()
        run = _run_question(sub, tf_master, path.parent, min(question_timeout, left))
        entry["seconds"] = round(time.monotonic() - t0, 2)
        tf = run["tf"]
        score = float(tf.score)
        for r in tf.test_case_results:
            if not r.passed:
                hidden = " (hidden test)" if r.test_case.hidden else ""
                msg = r.message.replace("❌ Test case failed\n", "")
                entry["messages"].append(f"{r.test_case.name}{hidden}: {msg.strip()}")
        if run["end_reason"] and score < possible:
            entry["messages"].insert(0, f"your code did not finish: {run['end_reason']}")
        for e in run["def_errors"]:
            result["notes"].append(f"defining {e}")
        kernels = []
        for p in run["params"]:
            if p.startswith(("test_", "check_")) or p == "env":
                continue
            kernels += sub.kernel_uses(p, autograd="backward" in p)
        kernels += run["kernels"]
        if kernels:
            score = 0.0
            entry["messages"].insert(0, "zero: the graded code must not call torch's (or normres's) "
                                     "normalization or autograd: " + "; ".join(kernels))
        if run["tamper"]:
            score = 0.0
            entry["messages"].insert(0, "zero: tampering detected while your code ran: "
                                     + "; ".join(run["tamper"]))
        if run["violations"]:
            score = 0.0
            entry["messages"].insert(0, "zero: your code tried to do what a submission may not "
                                     "(blocked): " + "; ".join(run["violations"][:5]))
        entry["score"] = round(score, 4)
    result["seconds"] = round(time.monotonic() - start, 2)
    return result


# ---------------------------------------------------------------------------------------------
# the batch (forks one grader process per submission)
# ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _collect(subs) -> list[Path]:
    paths = []
    for s in subs:
        p = Path(s)
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            paths.append(p)
        else:
            raise SystemExit(f"no such submission: {s}")
    return paths


def _fork_grade(copy_path, assignment, tests_dir, questions, question_timeout, budget):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            os.setpgid(0, 0)
            res = grade_submission(copy_path, assignment, tests_dir, questions, question_timeout, budget)
            data = json.dumps(res).encode()
        except BaseException:  # noqa: BLE001
            data = json.dumps({"crash": traceback.format_exc()[-2000:]}).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(wfd, view):]
        os._exit(0)
    os.close(wfd)
    buf, deadline = b"", time.monotonic() + budget + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([rfd], [], [], 0.5)
        if ready:
            chunk = os.read(rfd, 1 << 20)
            if not chunk:
                break
            buf += chunk
    os.close(rfd)
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    os.waitpid(pid, 0)
    try:
        return json.loads(buf)
    except ValueError:
        return {"crash": "the grader process for this submission did not finish in time"}


def _warm_up():
    """Run once, before any fork, what the sandbox runs around student code, so that torch's lazy
    imports (and the cache folders some of them create) happen here and not inside a sandbox."""
    import torch

    import normres  # noqa: F401
    from normres.probes.benchmark import RecordOps

    with RecordOps():
        y = torch.ones(2, dtype=torch.float64) * 2
        torch.nn.functional.batch_norm(y[None].expand(2, 2), None, None, training=True)
    torch.testing.assert_close(y + 1, torch.full((2,), 3.0, dtype=torch.float64))
    _encode((torch.ones(2), 1.0))
    _snapshot()


def _preimport(master: Path):
    """Import what the master notebook imports, once, so each sandbox starts with it loaded."""
    import importlib

    for cell in json.loads(master.read_text())["cells"]:
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(_strip_magics(_source(cell)))
        except SyntaxError:
            continue
        for node in tree.body:
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for m in mods:
                if m.split(".")[0] not in SKIPPED_IMPORTS:
                    try:
                        importlib.import_module(m)
                    except ImportError:
                        pass


def grade(assignment: str, subs, out: Path, question_timeout: float = 10.0, budget: float = 30.0,
          tests_dir: Path | None = None) -> list[dict]:
    """Grade submissions; write ``grades.csv`` and ``reports/<file>.md`` under ``out``."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    # import what the tests and the sandbox need once, before any fork (pristine copies)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    from otter.test_files.exception_test import ExceptionTestFile  # noqa: F401

    _warm_up()

    found = masters()
    if assignment not in found:
        raise SystemExit(f"unknown assignment {assignment!r}; choose from {sorted(found)}")
    _preimport(found[assignment])
    questions = master_questions(found[assignment])
    if tests_dir is None:
        tests_dir = BUILD / assignment / "autograder" / "tests"
        if not tests_dir.exists() or any(
                (tests_dir / f"{q['name']}.py").stat().st_mtime < found[assignment].stat().st_mtime
                for q in questions if not q["manual"] and (tests_dir / f"{q['name']}.py").exists()):
            build([assignment])
    tests_dir = Path(tests_dir).resolve()
    auto = [q for q in questions if not q["manual"]]
    manual = [q for q in questions if q["manual"]]
    out = Path(out)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    rows = []
    for path in _collect(subs):
        t0 = time.monotonic()
        before = _sha256(path)
        with tempfile.TemporaryDirectory(prefix="grade_") as tmp:
            work = Path(tmp) / "submission"
            work.mkdir()
            copy_path = work / "submission.ipynb"
            shutil.copyfile(path, copy_path)
            res = _fork_grade(copy_path, assignment, tests_dir, questions, question_timeout, budget)
        after = _sha256(path)
        res["file"] = str(path)
        res["sha256"] = before
        res["unchanged"] = before == after
        res["wall_seconds"] = round(time.monotonic() - t0, 2)
        if "crash" in res:
            res.update({"questions": {q["name"]: {"score": 0.0, "possible": float(q["points"] or 0),
                                                   "messages": ["grader failure: " + res["crash"].strip().splitlines()[-1]]}
                                      for q in auto},
                        "notes": [], "errors": ["the grader could not finish this submission"],
                        "tamper": [], "manual": {q["name"]: {"points": q["points"], "answer": None} for q in manual}})
        if any(_report_name(r) == _report_name(res) for r in rows):  # same folder/name twice
            res["report"] = _report_name(res)[:-3] + f"__{before[:8]}.md"
        rows.append(res)
        _write_report(out, assignment, res, auto, manual)
    _write_csv(out, rows, auto, manual)
    return rows


def _status(res):
    if res.get("errors"):
        return "unreadable" if not res.get("crash") else "grader-error"
    if res.get("tamper"):
        return "tampering"
    msgs = " ".join(m for q in res["questions"].values() for m in q["messages"])
    if "tampering detected" in msgs or "may not" in msgs:
        return "tampering"
    if "normalization or autograd" in msgs:
        return "uses-builtin"
    if "your code did not finish" in msgs:
        return "incomplete"   # a time-out, a crash or an exit in some question
    return "ok"


def _report_name(res):
    if "report" not in res:
        p = Path(res["file"])
        res["report"] = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{p.parent.name}__{p.stem}") + ".md"
    return res["report"]


def _write_csv(out, rows, auto, manual):
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["submission", "report", "sha256", "status", *[q["name"] for q in auto], "autograded",
                    "autograded_possible", *[f"{q['name']} (manual, /{q['points']})" for q in manual],
                    "seconds", "file_unchanged"])
        for r in rows:
            scores = [r["questions"][q["name"]]["score"] for q in auto]
            w.writerow([r["file"], f"reports/{_report_name(r)}", r["sha256"][:16], _status(r), *scores, round(sum(scores), 4),
                        sum(r["questions"][q["name"]]["possible"] for q in auto),
                        *["" for _ in manual], r["wall_seconds"], r["unchanged"]])


def _write_report(out, assignment, res, auto, manual):
    lines = [f"# {assignment}: {Path(res['file']).name}", "",
             f"- file: `{res['file']}` (sha256 {res['sha256'][:16]}, unchanged: {res['unchanged']})",
             f"- status: **{_status(res)}**, graded in {res['wall_seconds']} s", ""]
    total = sum(res["questions"][q["name"]]["score"] for q in auto)
    possible = sum(res["questions"][q["name"]]["possible"] for q in auto)
    lines += [f"Autograded score: **{total:g} / {possible:g}**", ""]
    for title, key in (("Problems reading the notebook", "errors"),
                       ("Tampering flags (all autograded questions score zero)", "tamper"),
                       ("Notes", "notes")):
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
        ans = (res.get("manual", {}).get(q["name"]) or {}).get("answer")
        if ans and ans.strip() == "_Type your answer here, replacing this text._":
            ans = "_unanswered (the answer cell still holds otter's placeholder)_"
        lines += [f"### {q['name']} (manual, {q['points']} points)", "",
                  (ans if ans else "_no answer found (cell deleted?)_"), ""]
    (out / "reports" / _report_name(res)).write_text("\n".join(lines))


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="otter assign every master (or the named ones)")
    b.add_argument("names", nargs="*")
    b.add_argument("--out", default=str(BUILD))
    b.add_argument("--no-run-tests", action="store_true")
    g = sub.add_parser("grade", help="grade submissions locally")
    g.add_argument("assignment")
    g.add_argument("submissions", nargs="+")
    g.add_argument("--out", default=None)
    g.add_argument("--question-timeout", type=float, default=10.0)
    g.add_argument("--budget", type=float, default=30.0, help="seconds per submission")
    g.add_argument("--tests", default=None, help="otter test files to use (default: the build's "
                   "autograder/tests, built first if missing or older than the master)")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        try:
            build(args.names, Path(args.out), run_tests=not args.no_run_tests)
        except RuntimeError as e:
            raise SystemExit(f"error: {e}")
        return 0
    out = Path(args.out or BUILD / args.assignment / "grades")
    rows = grade(args.assignment, args.submissions, out, args.question_timeout, args.budget,
                 Path(args.tests) if args.tests else None)
    width = max([len(Path(r["file"]).name) for r in rows] + [10])
    for r in rows:
        total = sum(q["score"] for q in r["questions"].values())
        possible = sum(q["possible"] for q in r["questions"].values())
        print(f"{Path(r['file']).name:<{width}}  {total:6g} / {possible:g}  {_status(r):<12}"
              f" {r['wall_seconds']:5.1f} s  unchanged={r['unchanged']}")
    print(f"wrote {out / 'grades.csv'} and {len(rows)} report(s) in {out / 'reports'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
