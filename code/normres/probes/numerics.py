r"""Floating-point numerics of normalization: three ways to compute a variance, in any dtype.

A normalization layer needs the variance of each row, :math:`\sigma^2 = \frac1n\sum_i (x_i-\mu)^2`.
Three algorithms compute it; they agree in exact arithmetic and differ in rounding:

- :func:`variance_one_pass`: :math:`\mathrm{E}[x^2] - \mathrm{E}[x]^2`, one sweep over the data for
  both sums. When :math:`|\mu| \gg \sigma` the two terms are large and nearly equal, and their
  difference keeps only the rounding error of each (catastrophic cancellation); it can come out
  zero or negative.
- :func:`variance_two_pass`: first the mean, then :math:`\mathrm{E}[(x-\mu)^2]`, two sweeps.
- :func:`variance_welford`: Welford's (1962) streaming update, one sweep that keeps a running mean
  and a running sum of squared deviations, as fused kernels such as PyTorch's layer norm do.

All tensors these functions create are stored in ``x.dtype`` (Welford's accumulators in
``acc_dtype``), so each rounds as much as that dtype does. PyTorch's CPU reductions (``mean``,
``sum``) of 16-bit tensors accumulate in float32 internally and round only their result to the
input dtype; the functions inherit that.
"""

from __future__ import annotations

import torch

from .. import _checks

__all__ = ["variance_one_pass", "variance_two_pass", "variance_welford", "relative_error",
           "one_pass_error_scale"]

_FLOATS = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def _check_float(x, name="x"):
    _checks.check_tensor(x, name)
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float64, float32, float16 or bfloat16, got {x.dtype}")
    if x.dim() == 0:
        raise ValueError(f"{name} must have at least one axis, got a 0-d tensor")


def _check_dim(x, dim):
    if isinstance(dim, bool) or not isinstance(dim, int) or not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim must be an int in [{-x.dim()}, {x.dim() - 1}] for an input of "
                         f"shape {tuple(x.shape)}, got {dim!r}")


def variance_one_pass(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Biased variance as :math:`\mathrm{E}[x^2] - \mathrm{E}[x]^2` along ``dim``, in ``x.dtype``.

    ``x``: any shape; returns ``x``'s shape without ``dim``. The squares :math:`x_i^2`, both means
    and the difference are each rounded to ``x.dtype``; the result can be negative, and in
    float16 :math:`x_i^2` overflows to ``inf`` once :math:`|x_i| > 255.9`.
    """
    _check_float(x)
    _check_dim(x, dim)
    return (x * x).mean(dim) - x.mean(dim) ** 2


def variance_two_pass(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Biased variance as :math:`\mathrm{E}[(x - \mathrm{E}[x])^2]` along ``dim``, in ``x.dtype``.

    ``x``: any shape; returns ``x``'s shape without ``dim``. Never negative.
    """
    _check_float(x)
    _check_dim(x, dim)
    mean = x.mean(dim, keepdim=True)
    return ((x - mean) ** 2).mean(dim)


def variance_welford(x: torch.Tensor, dim: int = -1, acc_dtype: torch.dtype | None = None
                     ) -> torch.Tensor:
    r"""Biased variance along ``dim`` by Welford's streaming update, accumulating in ``acc_dtype``.

    For :math:`k = 1, \dots, n`: :math:`\delta = x_k - m`, :math:`m \leftarrow m + \delta / k`,
    :math:`M \leftarrow M + \delta\,(x_k - m)`; the variance is :math:`M / n`. The running mean
    :math:`m` and sum of squared deviations :math:`M` are stored in ``acc_dtype`` (default
    ``x.dtype``) and rounded after every update; the result is returned in ``x.dtype``.
    All rows (every index of the other axes) are updated at once, one element of ``dim`` per step.
    """
    _check_float(x)
    _check_dim(x, dim)
    acc = x.dtype if acc_dtype is None else acc_dtype
    if acc not in _FLOATS:
        raise TypeError(f"acc_dtype must be a floating dtype or None, got {acc_dtype!r}")
    xs = x.movedim(dim, -1).to(acc)
    mean = torch.zeros(xs.shape[:-1], dtype=acc)
    m2 = torch.zeros(xs.shape[:-1], dtype=acc)
    for k in range(xs.shape[-1]):
        xk = xs[..., k]
        delta = xk - mean
        mean = mean + delta / (k + 1)
        m2 = m2 + delta * (xk - mean)
    return (m2 / xs.shape[-1]).to(x.dtype)


def relative_error(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    r""":math:`|\hat v - v| / |v|` elementwise, computed in float64 (``inf``/``nan`` propagate)."""
    _checks.check_tensor(estimate, "estimate")
    _checks.check_tensor(reference, "reference")
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate and reference must have the same shape, got "
                         f"{tuple(estimate.shape)} and {tuple(reference.shape)}")
    ref = reference.double()
    return (estimate.double() - ref).abs() / ref.abs()


def one_pass_error_scale(mean: float, std: float, dtype: torch.dtype) -> float:
    r"""The size of the one-pass variance's relative error: :math:`u\,(\mu^2 + \sigma^2)/\sigma^2`.

    :math:`u` is ``torch.finfo(dtype).eps`` (the spacing of the dtype's numbers just above 1), so
    :math:`u(\mu^2+\sigma^2)` is about the spacing of numbers near :math:`\mathrm{E}[x^2]`: rounding
    :math:`\mathrm{E}[x^2]` alone moves it by up to half of that, and the subtraction leaves that
    error in a result of size :math:`\sigma^2`. An order of magnitude, not a bound.
    """
    if dtype not in _FLOATS:
        raise TypeError(f"dtype must be a floating dtype, got {dtype!r}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    return torch.finfo(dtype).eps * (mean ** 2 + std ** 2) / std ** 2
