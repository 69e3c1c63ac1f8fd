"""Shared fixtures for the unit tests."""

import pytest
import torch


@pytest.fixture
def gen():
    """A seeded generator so every test draws the same random inputs on every run."""
    return torch.Generator().manual_seed(1234)


# Tolerances for comparing our ops with torch's: float64 agrees to rounding; float32 sums in a
# different order, so a few ulps of the output's scale (outputs are O(1) after normalizing).
TOL = {torch.float64: dict(atol=1e-10, rtol=1e-10), torch.float32: dict(atol=2e-5, rtol=2e-5)}
