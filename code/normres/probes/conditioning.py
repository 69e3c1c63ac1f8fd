r"""Gradient descent on least squares: the worked example of why badly scaled inputs slow training.

For inputs :math:`X \in \mathbb{R}^{n\times d}` (one example per row) and targets
:math:`y\in\mathbb{R}^n`, the mean squared error

.. math::

    L(w) = \frac{1}{2n}\,\lVert Xw - y\rVert^2, \qquad
    \nabla L(w) = \frac1n X^\top (Xw - y), \qquad
    H = \nabla^2 L = \frac1n X^\top X

is a quadratic with a constant Hessian :math:`H`. Gradient descent :math:`w_{k+1} = w_k - \eta\nabla
L(w_k)` shrinks the error along the eigenvector :math:`v_i` of :math:`H` (eigenvalue
:math:`\lambda_i`) by the factor :math:`1-\eta\lambda_i` per step. It is stable for
:math:`\eta < 2/L` with :math:`L=\lambda_{\max}`; the step :math:`1/L` is the classic safe choice and
:math:`2/(L+\mu)` (with :math:`\mu=\lambda_{\min}`) is the best fixed step for a quadratic, whose
slowest error factor is :math:`(\kappa-1)/(\kappa+1)` with the condition number
:math:`\kappa = L/\mu`. Badly scaled features make :math:`\kappa` large and gradient descent slow.

All functions take NumPy arrays (or anything ``np.asarray`` accepts) and work in float64.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks

__all__ = [
    "hessian", "eigenvalues", "condition_number", "safe_step", "optimal_step", "loss",
    "solve", "gradient_descent", "iterations_to_tolerance",
]


def _as_design(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a 2-D array of shape (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must hold finite values")
    return X


def _as_targets(y, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got shape {y.shape}")
    return y


def hessian(X) -> np.ndarray:
    r"""The Hessian :math:`H = X^\top X / n` of the mean squared error, shape ``(d, d)``."""
    X = _as_design(X)
    return X.T @ X / X.shape[0]


def eigenvalues(X) -> np.ndarray:
    """The eigenvalues of :func:`hessian`, ascending, shape ``(d,)``."""
    return np.linalg.eigvalsh(hessian(X))


def condition_number(X) -> float:
    r"""The condition number :math:`\kappa = \lambda_{\max}/\lambda_{\min}` of the Hessian
    (``inf`` when :math:`X^\top X` is singular)."""
    lam = eigenvalues(X)
    return float("inf") if lam[0] <= 0 else float(lam[-1] / lam[0])


def safe_step(X) -> float:
    r"""The step :math:`1/L`, :math:`L = \lambda_{\max}(H)`: never overshoots along any eigenvector."""
    return float(1.0 / eigenvalues(X)[-1])


def optimal_step(X) -> float:
    r"""The best fixed step for a quadratic, :math:`2/(L+\mu)`; every eigen-direction then shrinks
    at least by :math:`(\kappa-1)/(\kappa+1)` per step, and the steepest one changes sign each step
    (the zig-zag)."""
    lam = eigenvalues(X)
    return float(2.0 / (lam[-1] + lam[0]))


def loss(X, y, w) -> np.ndarray | float:
    r""":math:`L(w) = \frac{1}{2n}\lVert Xw-y\rVert^2`.

    ``w`` has shape ``(d,)`` (returns a float) or ``(..., d)`` for many points at once, e.g. a grid
    for a contour plot (returns an array of shape ``...``).
    """
    X = _as_design(X)
    y = _as_targets(y, X.shape[0])
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 0 or w.shape[-1] != X.shape[1]:
        raise ValueError(f"w must have shape (..., {X.shape[1]}), got shape {w.shape}")
    r = w @ X.T - y  # (..., n)
    out = 0.5 * np.mean(r * r, axis=-1)
    return float(out) if w.ndim == 1 else out


def solve(X, y) -> np.ndarray:
    r"""The minimizer :math:`w^\star` of :func:`loss` (least squares), shape ``(d,)``."""
    X = _as_design(X)
    y = _as_targets(y, X.shape[0])
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _start(w0, d: int) -> np.ndarray:
    if w0 is None:
        return np.zeros(d)
    w0 = np.asarray(w0, dtype=np.float64)
    if w0.shape != (d,):
        raise ValueError(f"w0 must have shape ({d},), got shape {w0.shape}")
    return w0.copy()


def gradient_descent(X, y, lr: float, steps: int, w0=None) -> np.ndarray:
    r"""Run ``steps`` steps of :math:`w \leftarrow w - \eta\,X^\top(Xw-y)/n` from ``w0``
    (default zeros) and return the path, shape ``(steps + 1, d)``, starting point included."""
    X = _as_design(X)
    y = _as_targets(y, X.shape[0])
    _checks.check_positive_number(lr, "lr")
    _checks.check_nonnegative_int(steps, "steps")
    n, d = X.shape
    H = X.T @ X / n
    b = X.T @ y / n
    path = np.empty((steps + 1, d))
    path[0] = _start(w0, d)
    for k in range(steps):
        path[k + 1] = path[k] - lr * (H @ path[k] - b)
    return path


def iterations_to_tolerance(X, y, lr: float, tol: float = 1e-6, w0=None,
                            max_steps: int = 1_000_000) -> int:
    r"""The first ``k`` at which the relative loss gap
    :math:`(L(w_k) - L^\star)/(L(w_0) - L^\star)` is at most ``tol``, for gradient descent with step
    ``lr`` from ``w0`` (default zeros). Returns ``max_steps + 1`` if it never gets there (for
    instance when ``lr`` is too large and the iterates diverge)."""
    X = _as_design(X)
    y = _as_targets(y, X.shape[0])
    _checks.check_positive_number(lr, "lr")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol must be a float in (0, 1), got {tol!r}")
    n, d = X.shape
    H = X.T @ X / n
    b = X.T @ y / n
    w_star = solve(X, y)
    w = _start(w0, d)
    # L(w) - L* = (w - w*)^T H (w - w*) / 2 for a quadratic; this avoids cancellation near L*.
    def gap(v):
        e = v - w_star
        return 0.5 * float(e @ H @ e)

    gap0 = gap(w)
    if gap0 == 0:
        return 0
    for k in range(1, max_steps + 1):
        w = w - lr * (H @ w - b)
        g = gap(w)
        if not math.isfinite(g):
            return max_steps + 1
        if g <= tol * gap0:
            return k
    return max_steps + 1
