"""The sandboxed worker: runs a submission's definitions and answers calls, as data.

Started by :class:`grader.sandbox.Worker` inside bubblewrap as ``python -I worker.py``, with the
grading protocol on its stdin and stdout. Before any student code loads it moves the protocol to
fresh descriptors (stdin becomes ``/dev/null``, stdout and stderr a file in the scratch folder),
sets resource limits, imports torch and makes torch's normalization kernels raise at the
dispatcher (:mod:`grader.forbid`). Then:

1. ``{"op": "load", "program": [[label, source], ...]}``: each statement is run in one namespace,
   in order (errors are recorded, not fatal); the reply lists the errors and what each graded name
   is bound to.
2. ``{"op": "call", "name", "args", "kwargs", "rng", "grad", "inference"}``: the function bound to
   ``name`` is called on the decoded arguments with the grader's random state and grad mode; the
   reply is its result (or the exception it raised), the random state after, the arguments it
   changed in place, the gradients of module arguments, and the threads it left running. A callable
   argument is a stand-in that asks the grader to call the test's function (``callback``).

Nothing here decides a verdict; a submission may rewrite all of it, and gains only the power to
send wrong data about its own functions.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] + [
    p for p in os.environ.get("GRADER_PATH", "").split(":") if p]

from grader import protocol  # noqa: E402

SCRATCH = os.environ.get("GRADER_SCRATCH", "/scratch")
NPROC = 32      # RLIMIT_NPROC inside the sandbox: the worker needs a few threads


class Channel:
    def __init__(self, rfd, wfd):
        self.rfd, self.wfd, self.reader, self.pending = rfd, wfd, protocol.FrameReader(), []
        self.lock = threading.Lock()

    def send(self, header, buffers=()):
        with self.lock:
            protocol.write_frame(self.wfd, header, list(buffers))

    def recv(self):
        while not self.pending:
            data = os.read(self.rfd, 1 << 20)
            if not data:
                os._exit(0)     # the grader went away
            self.pending += self.reader.feed(data)
        return self.pending.pop(0)


def _limits():
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # processes and threads of this sandbox (its user namespace counts them apart from others';
    # root, as in --unsandboxed runs by root, is exempt): a fork bomb stops here
    resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
    gb = int(os.environ.get("GRADER_MEMORY_GB", "3"))
    try:
        with open("/proc/self/status") as f:
            vm = int([line for line in f if line.startswith("VmSize")][0].split()[1]) * 1024
    except Exception:
        vm = 0
    resource.setrlimit(resource.RLIMIT_AS, (vm + (gb + 2) * 2**30, vm + (gb + 2) * 2**30))


def main():
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    out = os.open(os.path.join(SCRATCH, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    chan = Channel(rfd, wfd)
    _limits()
    import warnings

    warnings.simplefilter("ignore")
    import torch

    from grader import modules
    from grader.forbid import forbid_normalization_kernels

    torch.set_num_threads(1)
    blocked = forbid_normalization_kernels()
    (torch.ones(2, 2) @ torch.ones(2, 2)).sum()     # warm-up of the kernels student code uses
    guard = _autograd_guard(torch)

    header, _ = chan.recv()
    if header.get("op") != "load":
        os._exit(3)
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    errors = []
    for label, src in header.get("program", []):
        try:
            exec(compile(src, f"<submission {label}>", "exec"), ns)
        except BaseException as e:  # noqa: BLE001 - a definition may raise anything, exit too
            errors.append(f"{label}: {type(e).__name__}: {str(e)[:300]}")
    bound = {n: type(ns[n]).__name__ for n in header.get("names", []) if n in ns}
    chan.send({"op": "ready", "errors": errors, "bound": bound, "blocked": len(blocked)})
    baseline = {t.ident for t in threading.enumerate()}
    thread_errors = []
    threading.excepthook = lambda a: thread_errors.append(f"{a.exc_type.__name__}: {str(a.exc_value)[:300]}")

    while True:
        header, buffers = chan.recv()
        if header.get("op") != "call":
            continue
        reply, out_buffers = {"op": "result"}, []
        modules_in = []

        def callback(i):
            def call_grader(*args, **kwargs):
                bufs = []
                spec = protocol.encode([list(args), kwargs], bufs)
                chan.send({"op": "callback", "id": i, "args": spec}, bufs)
                h, b = chan.recv()
                if h.get("op") == "cb_raised":
                    raise _builtin_exception(h.get("type"))(h.get("msg", ""))
                return protocol.decode(h.get("value", {"v": None}), b)
            return call_grader

        def module(spec, dec):
            m = modules.rebuild(spec, dec)
            modules_in.append((m, {k: v.detach().clone() for k, v in m.state_dict().items()}))
            return m

        try:
            args, kwargs = protocol.decode(header["args"], buffers, callback, module)
            fn = ns.get(header.get("name"))
            if fn is None:
                raise NameError(f"{header.get('name')} is not defined")
            sent = _snapshot(torch, [args, kwargs])
            torch.set_rng_state(protocol.decode(header["rng"], buffers))
            grad = torch.enable_grad() if header.get("grad", True) else torch.no_grad()
            infer = torch.inference_mode(bool(header.get("inference", False)))
            guard.active = bool(header.get("no_autograd"))
            t0 = time.process_time()
            try:
                with grad, infer:
                    result = fn(*args, **kwargs)
            finally:
                guard.active = False
            reply["cpu"] = round(time.process_time() - t0, 3)
            reply["value"] = protocol.encode(result, out_buffers)
            reply["mutated"] = [path for path, tensor, before in sent
                                if not modules._same(tensor, before)]
        except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
            guard.active = False
            where = [f"line {fr.lineno} in {fr.name}" for fr in traceback.extract_tb(e.__traceback__)
                     if fr.filename.startswith("<submission")][-3:]
            reply = {"op": "raised", "type": type(e).__name__, "msg": str(e)[:1000], "where": where}
        reply["modules"] = [protocol.encode(modules.module_after(m, st), out_buffers)
                            for m, st in modules_in]
        reply["rng"] = protocol.encode(torch.get_rng_state(), out_buffers)
        reply["thread_errors"], thread_errors[:] = thread_errors[:5], []
        reply["threads"] = sorted(t.name for t in threading.enumerate()
                                  if t.ident not in baseline and t.is_alive())
        chan.send(reply, out_buffers)


def _builtin_exception(name):
    import builtins

    exc = getattr(builtins, str(name), None)
    return exc if isinstance(exc, type) and issubclass(exc, Exception) else RuntimeError


def _snapshot(torch, value, path="args"):
    """(path, tensor, copy) of every tensor inside the call's arguments, to find in-place changes."""
    found = []

    def walk(v, p):
        if isinstance(v, torch.Tensor):
            found.append((p, v, v.detach().clone()))
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{p}[{i}]")
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{p}[{k!r}]")
    walk(value, path)
    return found


class _AutogradGuard:
    active = False


def _autograd_guard(torch):
    """While ``active`` (a backward question's call), autograd's Python entry points raise, in
    every thread. Installed before student code loads."""
    guard = _AutogradGuard()

    def wrap(fn, what):
        def guarded(*args, **kwargs):
            if guard.active:
                raise RuntimeError(f"{what} is autograd, which this question's graded code may not use")
            return fn(*args, **kwargs)
        return guarded

    torch.autograd.backward = wrap(torch.autograd.backward, "torch.autograd.backward")
    torch.autograd.grad = wrap(torch.autograd.grad, "torch.autograd.grad")
    torch.Tensor.backward = wrap(torch.Tensor.backward, "Tensor.backward")
    return guard


if __name__ == "__main__":
    main()
