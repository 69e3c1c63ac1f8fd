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

Two things decide the error, and each function lets you change one at a time: the *algorithm*
(which formula) and the *accumulator* (the dtype the running sums are kept in, and how they are
summed). With ``acc_dtype=None`` (the default) the one-pass and two-pass variances use PyTorch's
reductions: every tensor they create is stored in ``x.dtype``, but PyTorch's CPU ``mean`` of a
16-bit tensor adds in float32 internally (in a vectorized, blocked order) and rounds only its
result, so those defaults are float32 accumulators in disguise. With an explicit ``acc_dtype`` all
three algorithms run the same way, one element of ``dim`` at a time, every operation rounded to
``acc_dtype`` (:func:`sequential_mean`): then only the formula differs between them. The result is
returned in ``x.dtype``.

:func:`offset_ratio` measures the quantity that sets the one-pass error, :math:`|\mu|/\sigma` of
each row, on real data.
"""

from __future__ import annotations

import torch

from .. import _checks

__all__ = ["variance_one_pass", "variance_two_pass", "variance_welford", "sequential_mean",
           "relative_error", "one_pass_error_scale", "offset_ratio"]

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


def _check_acc(acc_dtype):
    if acc_dtype is not None and acc_dtype not in _FLOATS:
        raise TypeError(f"acc_dtype must be a floating dtype or None, got {acc_dtype!r}")


def _rows_in(x, dim, acc_dtype):
    """Check the arguments; return ``x`` with ``dim`` moved last, in the accumulator dtype."""
    _check_float(x)
    _check_dim(x, dim)
    _check_acc(acc_dtype)
    acc = x.dtype if acc_dtype is None else acc_dtype
    return x.movedim(dim, -1).to(acc), acc


def sequential_mean(x: torch.Tensor, dim: int = -1, acc_dtype: torch.dtype | None = None
                    ) -> torch.Tensor:
    r"""The mean along ``dim`` summed one element at a time in ``acc_dtype`` (default ``x.dtype``).

    :math:`s_k = s_{k-1} + x_k` for :math:`k = 1, \dots, n`, every :math:`s_k` rounded to
    ``acc_dtype``, then :math:`s_n / n`; returned in ``acc_dtype``. ``x``: any shape; returns
    ``x``'s shape without ``dim``. Unlike ``torch.mean`` (which adds 16-bit inputs in float32, in
    blocks), the accumulator really is ``acc_dtype``, and a long sum in a short format loses the
    small late terms (stagnation: once :math:`|s_k|` is large, :math:`x_k` is below its spacing).
    """
    xs, acc = _rows_in(x, dim, acc_dtype)
    total = torch.zeros(xs.shape[:-1], dtype=acc)
    for k in range(xs.shape[-1]):
        total = total + xs[..., k]
    return total / xs.shape[-1]


def variance_one_pass(x: torch.Tensor, dim: int = -1, acc_dtype: torch.dtype | None = None
                      ) -> torch.Tensor:
    r"""Biased variance as :math:`\mathrm{E}[x^2] - \mathrm{E}[x]^2` along ``dim``, in ``x.dtype``.

    ``x``: any shape; returns ``x``'s shape without ``dim``. With ``acc_dtype=None`` the squares
    :math:`x_i^2`, both means (``torch.mean``) and the difference are each rounded to ``x.dtype``;
    with an ``acc_dtype``, :math:`x_i` and :math:`x_i^2` are formed in ``acc_dtype`` and both means
    summed element by element there (:func:`sequential_mean`). The result can be negative, and in
    float16 :math:`x_i^2` overflows to ``inf`` once :math:`|x_i| > 255.9`.
    """
    _check_float(x)
    _check_dim(x, dim)
    _check_acc(acc_dtype)
    if acc_dtype is None:
        return (x * x).mean(dim) - x.mean(dim) ** 2
    xa = x.to(acc_dtype)
    mean = sequential_mean(xa, dim)
    return (sequential_mean(xa * xa, dim) - mean * mean).to(x.dtype)


def variance_two_pass(x: torch.Tensor, dim: int = -1, acc_dtype: torch.dtype | None = None
                      ) -> torch.Tensor:
    r"""Biased variance as :math:`\mathrm{E}[(x - \mathrm{E}[x])^2]` along ``dim``, in ``x.dtype``.

    ``x``: any shape; returns ``x``'s shape without ``dim``. Never negative. With
    ``acc_dtype=None`` both means are ``torch.mean`` and every tensor is stored in ``x.dtype``; with
    an ``acc_dtype`` the deviations are formed and both means summed element by element in
    ``acc_dtype`` (:func:`sequential_mean`).
    """
    _check_float(x)
    _check_dim(x, dim)
    _check_acc(acc_dtype)
    if acc_dtype is None:
        mean = x.mean(dim, keepdim=True)
        return ((x - mean) ** 2).mean(dim)
    xa = x.to(acc_dtype)
    mean = sequential_mean(xa, dim).unsqueeze(dim)
    return sequential_mean((xa - mean) ** 2, dim).to(x.dtype)


def variance_welford(x: torch.Tensor, dim: int = -1, acc_dtype: torch.dtype | None = None
                     ) -> torch.Tensor:
    r"""Biased variance along ``dim`` by Welford's streaming update, accumulating in ``acc_dtype``.

    For :math:`k = 1, \dots, n`: :math:`\delta = x_k - m`, :math:`m \leftarrow m + \delta / k`,
    :math:`M \leftarrow M + \delta\,(x_k - m)`; the variance is :math:`M / n`. The running mean
    :math:`m` and sum of squared deviations :math:`M` are stored in ``acc_dtype`` (default
    ``x.dtype``) and rounded after every update; the result is returned in ``x.dtype``.
    All rows (every index of the other axes) are updated at once, one element of ``dim`` per step.
    """
    xs, acc = _rows_in(x, dim, acc_dtype)
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


def offset_ratio(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r""":math:`|\mu| / \sigma` of every row along ``dim`` (mean over standard deviation, biased),
    computed in float64: the ratio that sets the one-pass variance's error,
    :math:`u(\mu^2+\sigma^2)/\sigma^2 = u\,(1 + (\mu/\sigma)^2)` (:func:`one_pass_error_scale`).

    ``x``: any shape with at least 2 elements along ``dim``; returns ``x``'s shape without ``dim``
    (``inf`` for a constant non-zero row, ``nan`` for an all-zero row).
    """
    _check_float(x)
    _check_dim(x, dim)
    if x.shape[dim] < 2:
        raise ValueError(f"x needs at least 2 elements along dim {dim}, got shape {tuple(x.shape)}")
    xd = x.double()
    return xd.mean(dim).abs() / xd.std(dim, unbiased=False)
