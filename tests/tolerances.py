"""Tolerances for comparing our ops with torch's.

A module of its own, not conftest.py: the repository has several conftest files (root, chapters/,
tests/) and ``from conftest import`` would pick whichever was imported first.

float64 agrees to rounding; float32 sums in a different order, so a few ulps of the output's scale
(outputs are O(1) after normalizing).
"""

import torch

TOL = {torch.float64: dict(atol=1e-10, rtol=1e-10), torch.float32: dict(atol=2e-5, rtol=2e-5)}
