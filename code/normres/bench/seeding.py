"""One place where randomness starts, so a notebook can be re-run under other seeds.

Every notebook calls :func:`seed_everything` once in its setup cell and draws any further seeds
from :func:`seeds`. Setting the environment variable ``NORMRES_SEED`` overrides the seed the
notebook asks for, so ``NORMRES_SEED=2 make execute`` re-runs the whole book under another seed and
every asserted claim must still hold.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .. import _checks

_current_seed: int | None = None


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and torch; return the seed actually used.

    ``NORMRES_SEED``, when set to an int, replaces ``seed``.

    It also limits torch to one intra-op thread. The book's models are far too small to gain from
    more, and with one thread a float32 sum is computed in the same order on a laptop with 8 cores
    as on a CI machine with 2, so stored outputs reproduce (and several processes sharing a machine
    do not spin-wait on each other's cores).
    """
    override = os.environ.get("NORMRES_SEED", "").strip()
    if override:
        try:
            seed = int(override)
        except ValueError as err:
            raise ValueError(f"NORMRES_SEED must be an int, got {override!r}") from err
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    global _current_seed
    _current_seed = seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    return seed


def current_seed() -> int:
    """The seed set by the last :func:`seed_everything` call (0 if none was made)."""
    return 0 if _current_seed is None else _current_seed


def seeds(n: int) -> list[int]:
    """``n`` distinct seeds derived from the current one, for averaging a claim over runs.

    They are ``base*1000 + 0 .. n-1`` with ``base`` the current seed, so two notebooks seeded alike
    get the same list and a different ``NORMRES_SEED`` gives a disjoint one.
    """
    _checks.check_positive_int(n, "n")
    base = current_seed()
    return [base * 1000 + i for i in range(n)]
