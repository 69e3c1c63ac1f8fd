"""Running otter's tests in the grader, with every student function a stand-in for a call to the
sandbox.

The grader's process loads each question's otter test file once (:func:`load_tests`), before any
worker starts, from the build folder the sandbox never sees. A question is graded by running its
test cases here, in this process, with ``env`` mapping each parameter of the test functions to a
:class:`Proxy`: calling it encodes the arguments as data (:mod:`grader.protocol`), sends them to
the submission's worker, and returns the decoded result, or raises what the student's code raised.
Every comparison, reference value and verdict is computed here; the worker only ever sees the
arguments of its own functions.

What the sandbox observed is reported and measured, never guessed:

* torch's normalization kernels raise inside the worker (:mod:`grader.forbid`), so a call that
  reaches one raises and the test that made it fails;
* an input changed in place makes the call raise ``AssertionError`` here (the test fails);
* a backward question's calls run with autograd's entry points raising;
* a worker that dies, hangs, breaks the protocol or leaves a thread running is replaced by a fresh
  one (definitions re-run) for the next call; the call itself fails with the reason.
"""

from __future__ import annotations

import builtins
import time
from pathlib import Path

from . import modules, protocol
from .sandbox import Worker, WorkerGone

MAX_RESTARTS = 12
STRIKES = 2          # a function that broke its worker this often is not run again
# ... and one that used up a call's whole time limit once is not run again: a second try would
# cost another limit (20 s by default) of a core, and the test that made the call failed anyway


class SubmissionError(RuntimeError):
    """A student function failed, timed out, or its worker died; the message says which."""


def load_tests(tests_dir: Path, questions: list[dict]) -> dict:
    """``{question: otter test file}`` for the autograded questions, read once, in memory."""
    from otter.test_files.exception_test import ExceptionTestFile

    found = {}
    for q in questions:
        if not q["manual"]:
            path = Path(tests_dir) / f"{q['name']}.py"
            found[q["name"]] = ExceptionTestFile.from_file(str(path))
    return found


def test_params(test_file) -> list[str]:
    params = []
    for tc in test_file.test_cases:
        for p in tc.body._get_func_params():
            if p != "env" and p not in params:
                params.append(p)
    return params


class Session:
    """The worker of one submission, restarted after a failure, within a time budget."""

    def __init__(self, program, names, package, site, sandboxed, call_timeout, budget):
        self.program, self.names = program, sorted(names)
        self.package, self.site, self.sandboxed = package, site, sandboxed
        self.call_timeout, self.deadline = call_timeout, time.monotonic() + budget
        self.worker, self.restarts = None, 0
        self.def_errors, self.bound = None, {}
        self.observed: list[str] = []     # what the sandbox saw, for the report
        self.broken = None                # why no further worker will be started
        self.strikes: dict[str, list[str]] = {}   # function -> why it broke a worker

    def observe(self, what: str):
        if what not in self.observed:
            self.observed.append(what)

    def _start(self):
        if self.broken:
            raise SubmissionError(self.broken)
        if time.monotonic() > self.deadline:
            self.broken = "the submission's time budget is used up"
            raise SubmissionError(self.broken)
        self.worker = Worker(self.package, self.site, self.sandboxed)
        deadline = min(self.deadline, time.monotonic() + 60 + self.call_timeout)
        try:
            self.worker.send({"op": "load", "program": self.program, "names": self.names}, [], deadline)
            header, _ = self.worker.recv(deadline)
        except WorkerGone as e:
            self.stop()
            self.broken = f"its definitions did not load: the worker {e}"
            raise SubmissionError(self.broken) from None
        if header.get("op") != "ready":
            self.stop()
            self.broken = "its definitions did not load: the worker answered out of protocol"
            raise SubmissionError(self.broken)
        if self.def_errors is None:
            self.def_errors = [_explain(str(e)[:400]) for e in header.get("errors", [])][:50]
            self.bound = {str(k): str(v) for k, v in dict(header.get("bound", {})).items()}

    def stop(self):
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def restart(self, reason: str):
        self.stop()
        self.restarts += 1
        self.observe(reason)
        if self.restarts > MAX_RESTARTS:
            self.broken = f"its worker failed {self.restarts} times ({reason})"

    def call(self, name, args, kwargs, no_autograd):
        """Run ``name(*args, **kwargs)`` in the worker; returns the decoded result."""
        import torch

        if self.worker is None:
            self._start()
        callables, sent_modules = {}, []

        def module(obj, enc):
            spec = modules.module_spec(obj, enc)
            if spec is not None and "mod" in spec:
                sent_modules.append(obj)
            return spec

        buffers = []
        spec = protocol.encode([list(args), dict(kwargs)], buffers, callables, module)
        rng = protocol.encode(torch.get_rng_state(), buffers)
        header = {"op": "call", "name": name, "args": spec, "rng": rng,
                  "grad": torch.is_grad_enabled(), "inference": torch.is_inference_mode_enabled(),
                  "no_autograd": no_autograd}
        deadline = min(self.deadline, time.monotonic() + self.call_timeout)
        try:
            self.worker.send(header, buffers, deadline)
            while True:
                reply, bufs = self.worker.recv(deadline)
                op = reply.get("op")
                if op == "callback":
                    self._serve_callback(reply, bufs, callables, deadline)
                    continue
                if op not in ("result", "raised"):
                    raise WorkerGone(f"sent an unexpected message ({str(op)[:40]!r})")
                return self._finish(name, reply, bufs, sent_modules)
        except WorkerGone as e:
            reason = str(e)
            if reason == "timed out":
                left = self.deadline - time.monotonic()
                reason = (f"timed out after {self.call_timeout:g} s" if left > 0 else
                          "ran out of the submission's time budget")
            self.strikes.setdefault(name, []).append(reason)
            self.restart(f"`{name}`: the worker {reason}")
            raise SubmissionError(f"`{name}` did not return: the worker {reason}") from None
        except protocol.WireError as e:
            self.strikes.setdefault(name, []).append(f"sent malformed data ({e})")
            self.restart(f"`{name}`: the worker sent malformed data ({e})")
            raise SubmissionError(f"`{name}` did not return usable data: {e}") from None

    def _serve_callback(self, reply, bufs, callables, deadline):
        """The student's code called a function the test passed it: run it here, on data."""
        out = []
        try:
            fn = callables[int(reply.get("id"))]
            args, kwargs = protocol.decode(reply.get("args"), bufs)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise protocol.WireError("callback arguments are not [args, kwargs]")
            try:
                value = fn(*args, **kwargs)
                msg = {"op": "cb_result", "value": protocol.encode(value, out)}
            except Exception as e:  # noqa: BLE001 - the test's own function raised: pass it on
                msg = {"op": "cb_raised", "type": type(e).__name__, "msg": str(e)[:1000]}
        except (KeyError, TypeError, ValueError) as e:
            raise WorkerGone(f"sent a malformed callback ({e})") from None
        self.worker.send(msg, out, deadline)

    def _finish(self, name, reply, bufs, sent_modules):
        import torch

        if "rng" in reply:
            state = protocol.decode(reply["rng"], bufs)
            if isinstance(state, torch.Tensor) and state.dtype == torch.uint8:
                try:
                    torch.set_rng_state(state)
                except RuntimeError:
                    pass
        after = reply.get("modules") or []
        if not isinstance(after, list) or len(after) > len(sent_modules):
            raise protocol.WireError("module states that were never sent")
        changed = []
        for obj, spec in zip(sent_modules, after):
            state = protocol.decode(spec, bufs)
            grads = state.get("grads", {}) if isinstance(state, dict) else {}
            for k, p in obj.named_parameters():
                g = grads.get(k)
                p.grad = (g.detach().to(p.dtype).reshape(p.shape)
                          if isinstance(g, torch.Tensor) and g.numel() == p.numel() else None)
            changed += [f"{type(obj).__name__}.{c}" for c in (state.get("changed") or [])][:5]
        for err in [str(e) for e in (reply.get("thread_errors") or [])][:5]:
            if err.startswith("ForbiddenOperator"):
                self.observe(f"`{name}` reached torch's normalization in a thread: {err}")
            elif "autograd, which this question" in err:
                self.observe(f"`{name}` used autograd in a thread: {err}")
        threads = [str(t)[:60] for t in (reply.get("threads") or [])][:5]
        if threads:
            self.restart(f"`{name}` left threads running after it returned ({', '.join(threads)}); "
                         "the worker was replaced")
        if reply["op"] == "raised":
            kind, msg = str(reply.get("type")), str(reply.get("msg"))[:1000]
            where = "; ".join(str(w) for w in (reply.get("where") or [])[:3])
            if kind == "ForbiddenOperator":
                self.observe(f"`{name}` reached torch's normalization: {msg}")
            elif "autograd, which this question" in msg:
                self.observe(f"`{name}`: {msg}")
            exc = getattr(builtins, kind, None)
            suffix = f" (raised by your `{name}`{', ' + where if where else ''})"
            if kind in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
                raise SubmissionError(f"`{name}` tried to exit ({kind})")
            if isinstance(exc, type) and issubclass(exc, Exception) and exc not in (
                    StopIteration, StopAsyncIteration):
                raise exc(msg + suffix)
            raise SubmissionError(f"`{name}` raised {kind}: {msg}{suffix}")
        mutated = [str(m) for m in (reply.get("mutated") or [])][:5] + changed
        if mutated:
            readable = [_readable(m) for m in mutated]
            self.observe(f"`{name}` changed its input(s) in place: {', '.join(readable)}")
            raise AssertionError(f"`{name}` changed its input(s) {', '.join(readable)} in place: "
                                 "work on copies and return new tensors")
        return protocol.decode(reply.get("value", {"v": None}), bufs, keep_grad=False)


def _explain(error: str) -> str:
    """A definition error, with what the sandbox does not offer said plainly."""
    import re

    m = re.search(r"No module named '(normres[\w.]*)'", error)
    if m:
        return (error.split(": ", 1)[0] + f": `{m.group(1)}` is not available to graded code in the "
                "sandbox (only normres.transformer's sublayers, blocks, encoder and task are); "
                "fine if only ungraded cells use it")
    return error


def _readable(path: str) -> str:
    import re

    m = re.fullmatch(r"args\[0\]\[(\d+)\](.*)", path)
    if m:
        return f"argument {int(m.group(1)) + 1}{m.group(2)}"
    m = re.fullmatch(r"args\[1\]\['([^']*)'\](.*)", path)
    if m:
        return f"argument {m.group(1)}{m.group(2)}"
    return path


class Proxy:
    """Stands in for a student function in the grader's tests: each call is a call in the sandbox."""

    def __init__(self, name: str, session: Session, no_autograd: bool = False):
        self.name, self.session, self.no_autograd = name, session, no_autograd
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        if self.session.broken:
            raise SubmissionError(f"`{self.name}` was not run: {self.session.broken}")
        strikes = self.session.strikes.get(self.name, [])
        if len(strikes) >= STRIKES or any(s.startswith("timed out") for s in strikes):
            raise SubmissionError(f"`{self.name}` was not run again: it broke its worker "
                                  f"{len(strikes)} time(s) ({strikes[-1]})")
        if self.session.worker is None:
            self.session._start()
        if self.name not in self.session.bound:
            raise SubmissionError(f"`{self.name}` is not defined in the submission "
                                  "(deleted or renamed cell?)")
        return self.session.call(self.name, args, kwargs, self.no_autograd)

    def __repr__(self):
        return f"<your {self.name}>"


def run_question(test_file, session: Session, no_autograd_names=()) -> tuple[object, list[str]]:
    """Run one question's test cases here with proxies; returns (scored test file, messages)."""
    import copy

    import numpy as np
    import torch
    from otter.test_files.abstract_test import TestCaseResult

    env = {p: Proxy(p, session, p in no_autograd_names) for p in test_params(test_file)}
    tf = copy.copy(test_file)
    tf.test_case_results = []
    messages = []
    for tc in tf.test_cases:
        torch.manual_seed(0)
        np.random.seed(0)
        passed, message = True, "✅ Test case passed"
        try:
            tc.body.call_func(env)
        except Exception as e:  # noqa: BLE001 - as otter's ExceptionTestFile.run
            passed, message = False, "❌ Test case failed\n" + tf._generate_error_message(e)
        tf.test_case_results.append(TestCaseResult(test_case=tc, message=message, passed=passed))
        if not passed:
            hidden = " (hidden test)" if tc.hidden else ""
            messages.append(f"{tc.name}{hidden}: {message.replace('❌ Test case failed', '').strip()}")
    return tf, messages
