"""Wall-clock timing for the few places where the book reports a speed (never asserts one).

A single timing on a shared laptop is mostly noise: the scheduler, other programs and the memory
allocator all add to it, and only ever upwards. The fastest of several runs is the measurement
least disturbed by them, so that is what :func:`best_time` returns; :func:`compare` interleaves
the candidates round by round so that a burst of background load hits all of them alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def best_time(fn: Callable[[], object], warmup: int = 3, repeats: int = 20) -> float:
    """Seconds taken by the fastest of ``repeats`` calls of ``fn()``, after ``warmup`` calls.

    Runs under ``torch.no_grad()``: the book times forward passes only.
    """
    for name, value, least in (("warmup", warmup, 0), ("repeats", repeats, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
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
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(best_time(fn, warmup, repeats))
    return {name: statistics.median(s) for name, s in samples.items()}
