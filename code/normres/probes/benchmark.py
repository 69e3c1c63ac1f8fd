"""What a function costs: the operators it runs, and wall-clock time where the book reports a speed.

:class:`RecordOps` lists the low-level ``aten`` operators a call executes, with the size of each
result; unlike a time, that list is the same on every machine, so claims can rest on it. A single
timing on a shared laptop is mostly noise: the scheduler, other programs and the memory
allocator all add to it, and only ever upwards. The fastest of several runs is the measurement
least disturbed by them, so that is what :func:`best_time` returns; :func:`compare` interleaves
the candidates round by round so that a burst of background load hits all of them alike.
:class:`RecordBytes` adds up the bytes each operator reads and writes (a traffic model, the same on
every machine), and :func:`bytes_per_second` turns a timing into a bandwidth.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .. import _checks


class RecordOps(TorchDispatchMode):
    """Record every ``aten`` operator run inside ``with RecordOps() as rec:``.

    ``rec.ops`` is a list of ``(name, numel)``: the operator's name (``"native_layer_norm"``,
    ``"mul"``, ...) and the number of elements of its largest tensor result (0 if it returns no
    tensor). A result with as many elements as the input is a full pass that writes memory.
    """

    def __init__(self):
        super().__init__()
        self.ops: list[tuple[str, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        results = out if isinstance(out, (tuple, list)) else (out,)
        numel = max((t.numel() for t in results if isinstance(t, torch.Tensor)), default=0)
        self.ops.append((func.overloadpacket.__name__, numel))
        return out


def best_time(fn: Callable[[], object], warmup: int = 3, repeats: int = 20) -> float:
    """Seconds taken by the fastest of ``repeats`` calls of ``fn()``, after ``warmup`` calls.

    Runs under ``torch.no_grad()``: the book times forward passes only.
    """
    _checks.check_nonnegative_int(warmup, "warmup")
    _checks.check_positive_int(repeats, "repeats")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(times)


def compare(fns: dict[str, Callable[[], object]], rounds: int = 5, warmup: int = 3,
            repeats: int = 20) -> dict[str, float]:
    """Median over ``rounds`` of :func:`best_time` for each named function, interleaved by round.

    Returns ``{name: seconds}`` in the order of ``fns``.
    """
    if not fns:
        raise ValueError("fns must name at least one function to time")
    _checks.check_positive_int(rounds, "rounds")
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(best_time(fn, warmup, repeats))
    return {name: statistics.median(s) for name, s in samples.items()}


def _tensors(values):
    """The tensors in ``values``, looking one level into lists and tuples (as aten arguments nest)."""
    for v in values:
        if isinstance(v, torch.Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from (t for t in v if isinstance(t, torch.Tensor))


class RecordBytes(TorchDispatchMode):
    """Record how many bytes each ``aten`` operator run inside ``with RecordBytes() as rec:`` moves.

    ``rec.ops`` is a list of ``(name, read, written)``: the operator's name and the bytes of its
    tensor arguments (``read``) and of its tensor results (``written``). Operators that only make
    a view of their input (``view``, ``expand``, ``transpose``, ...) move nothing and are recorded
    with zeros. This is the traffic of an implementation that keeps nothing in cache between
    operators, each reading its inputs from memory and writing its result back: a model, not a
    measurement, and the same on every machine. ``rec.read``, ``rec.written`` and ``rec.total``
    sum the columns.
    """

    def __init__(self):
        super().__init__()
        self.ops: list[tuple[str, int, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if func.is_view:
            self.ops.append((name, 0, 0))
        else:
            inputs = list(args) + list((kwargs or {}).values())
            results = out if isinstance(out, (tuple, list)) else (out,)
            read = sum(t.numel() * t.element_size() for t in _tensors(inputs))
            written = sum(t.numel() * t.element_size() for t in _tensors(results))
            self.ops.append((name, read, written))
        return out

    @property
    def read(self) -> int:
        return sum(r for _, r, _ in self.ops)

    @property
    def written(self) -> int:
        return sum(w for _, _, w in self.ops)

    @property
    def total(self) -> int:
        return self.read + self.written


def bytes_per_second(nbytes: int, seconds: float) -> float:
    """Bandwidth ``nbytes / seconds``: for a memory-bound operation, how fast memory was moved.

    ``nbytes`` is usually the least an operation must move, e.g. ``2 * x.nbytes`` to read ``x`` once
    and write a result of the same size.
    """
    _checks.check_positive_int(nbytes, "nbytes")
    _checks.check_positive_number(seconds, "seconds")
    return nbytes / seconds
