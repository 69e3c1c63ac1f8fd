"""Make torch's normalization operators raise at the dispatcher, for the grading sandbox.

A graded function must compute a normalization itself. Watching which operators it runs (a
dispatch mode) can be evaded: dispatch modes, grad mode and inference mode are thread-local, and
``torch.utils._python_dispatch._disable_current_modes()`` turns modes off. A kernel registered in
the dispatcher's table is global instead: every thread, every mode, ``torch.ops.aten...`` calls,
``OpOverload.redispatch`` and ``.decompose()`` reach it. So the sandbox, before any student code
is loaded, registers for each forbidden operator and each dispatch key a kernel that raises.

A registration lasts as long as its library handle lives (``torch.library.Library`` removes its
kernels when it is garbage collected, and student code could reach it through ``gc``). We keep
the handle alive by one extra reference count and drop every Python reference to it: a pybind
handle is not tracked by ``gc``, so nothing in the interpreter can find it to undo the
registration (short of raw-memory access, which the OS sandbox, not this module, must contain).
"""

from __future__ import annotations

# aten operators (and overloads) of torch's normalizations, forward and backward; the composite
# ones (batch_norm, layer_norm, ...) are blocked too so the error names what the student called
FORBIDDEN_OPS = (
    "batch_norm", "_batch_norm_impl_index", "native_batch_norm", "_native_batch_norm_legit",
    "_native_batch_norm_legit.no_stats", "_native_batch_norm_legit_no_training",
    "_batch_norm_with_update", "_batch_norm_no_update", "native_batch_norm_backward",
    "batch_norm_backward", "layer_norm", "native_layer_norm", "native_layer_norm_backward",
    "group_norm", "native_group_norm", "native_group_norm_backward", "instance_norm",
    "rms_norm", "_fused_rms_norm", "_fused_rms_norm_backward",
)
DISPATCH_KEYS = ("CompositeImplicitAutograd", "CompositeExplicitAutograd", "CPU", "Autograd",
                 "AutogradCPU")


class ForbiddenOperator(RuntimeError):
    """Raised when graded code reaches one of torch's normalization kernels."""


def _raiser(op: str):
    def kernel(*args, **kwargs):
        raise ForbiddenOperator(
            f"aten.{op} is torch's own normalization, which graded code may not use: "
            "write it with tensor operations")
    return kernel


def forbid_normalization_kernels(ops=FORBIDDEN_OPS) -> list[str]:
    """Register a raising kernel for every op in ``ops`` under every key of ``DISPATCH_KEYS``.

    Irreversible for the life of the process (see the module docstring), so call it only in the
    sandbox, never in the grader. Returns the ``op/key`` pairs registered; an op this torch
    version does not have is skipped (it cannot be called either).
    """
    import ctypes
    import warnings

    import torch

    handle = torch._C._dispatch_library("IMPL", "aten", "", __file__, 0)
    done = []
    with warnings.catch_warnings():     # "overriding a previously registered kernel" is the point
        warnings.simplefilter("ignore")
        for op in ops:
            for key in DISPATCH_KEYS:
                try:
                    handle.impl(op, key, _raiser(op), False)
                except RuntimeError:
                    continue
                done.append(f"{op}/{key}")
    if not done:
        raise RuntimeError("no normalization kernel could be blocked: torch's dispatcher API changed")
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))   # never freed, so never deregistered
    del handle
    return done
