r"""Loss-landscape slices with filter-normalized random directions (Li et al., 2018).

A network's loss :math:`L(\theta)` lives in a space with as many dimensions as the network has
parameters. To look at it we pick one or two directions :math:`\delta, \eta` in that space and
evaluate the loss on a line or a plane through the trained parameters :math:`\theta^*`:

.. math::

    f(\alpha) = L(\theta^* + \alpha\,\delta), \qquad
    f(\alpha, \beta) = L(\theta^* + \alpha\,\delta + \beta\,\eta).

A **direction** here is a list of tensors with the shapes of ``list(model.parameters())``, in
that order. Its scale matters: a layer followed by a normalization layer computes the same
function when its weights are multiplied by any :math:`c > 0`, so a step of a given Euclidean
length means a lot to a layer with small weights and little to one with large weights. **Filter
normalization** removes this arbitrariness: every filter :math:`d_{i}` of the direction (a row of
a ``Linear`` weight, i.e. one neuron's incoming weights; one output channel's kernel of a
``Conv2d`` weight) is rescaled to the norm of the matching filter :math:`\theta_{i}` of the
weights,

.. math::

    d_{i} \leftarrow \frac{d_{i}}{\lVert d_{i}\rVert}\,\lVert \theta_{i}\rVert ,

and one-dimensional parameters (biases and the :math:`\gamma, \beta` of normalization layers) get
a zero direction (Li et al.'s ``ignore='biasbn'`` choice), so they stay at their trained values.

Functions:

- :func:`filter_normalize` rescales a given direction filter by filter.
- :func:`random_direction` draws a Gaussian direction and filter-normalizes it.
- :func:`loss_along` evaluates the loss on a 1-D line or a 2-D grid, in eval mode, restoring the
  model's parameters (bit for bit) and training flag afterwards.
- :func:`climb` is how far the loss along 1-D slices rises above its value at the centre.
- :func:`roughness` scores how far a 1-D or 2-D loss slice is from having a single valley.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .. import _checks


def _check_model(model) -> list[torch.Tensor]:
    _checks.check_module(model, "model")
    params = list(model.parameters())
    if not params:
        raise ValueError("model must have at least one parameter")
    return params


def _check_direction(direction, weights: Sequence[torch.Tensor], name: str = "direction") -> list[torch.Tensor]:
    if isinstance(direction, torch.Tensor) or not isinstance(direction, Sequence):
        raise TypeError(f"{name} must be a list of tensors (one per parameter), "
                        f"got {type(direction).__name__}")
    direction = list(direction)
    if len(direction) != len(weights):
        raise ValueError(f"{name} must hold one tensor per parameter ({len(weights)}), "
                         f"got {len(direction)}")
    for k, (d, w) in enumerate(zip(direction, weights)):
        if not isinstance(d, torch.Tensor):
            raise TypeError(f"{name}[{k}] must be a torch.Tensor, got {type(d).__name__}")
        if d.shape != w.shape:
            raise ValueError(f"{name}[{k}] must have the parameter's shape {tuple(w.shape)}, "
                             f"got {tuple(d.shape)}")
    return direction


def filter_normalize(direction: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    r"""Rescale ``direction`` filter by filter to the norms of ``weights`` (Li et al., 2018).

    For every pair ``(d, w)`` of matching shapes:

    - if ``w.dim() >= 2`` (a ``Linear`` weight ``(out, in)`` or a ``Conv2d`` weight
      ``(out, in, kh, kw)``), each filter ``d[i]`` (everything feeding output unit/channel ``i``)
      becomes :math:`d_i \lVert w_i\rVert / \lVert d_i\rVert`, so
      :math:`\lVert d_i\rVert = \lVert w_i\rVert` (Frobenius norms). A filter with
      :math:`d_i = 0` stays zero;
    - if ``w.dim() <= 1`` (biases, normalization ``weight``/``bias``), ``d`` becomes zero.

    Returns a new list; the inputs are not modified.
    """
    if isinstance(weights, torch.Tensor) or not isinstance(weights, Sequence):
        raise TypeError(f"weights must be a list of tensors, got {type(weights).__name__}")
    direction = _check_direction(direction, weights)
    out = []
    for d, w in zip(direction, weights):
        d = d.detach()
        w = w.detach()
        if w.dim() <= 1:
            out.append(torch.zeros_like(d))
            continue
        d_norm = d.flatten(1).norm(dim=1)
        w_norm = w.flatten(1).norm(dim=1)
        scale = torch.where(d_norm > 0, w_norm / torch.where(d_norm > 0, d_norm, 1.0), 0.0)
        out.append(d * scale.view(-1, *([1] * (d.dim() - 1))))
    return out


def random_direction(model: nn.Module, generator: torch.Generator | None = None,
                     normalize: bool = True) -> list[torch.Tensor]:
    r"""A random direction for ``model``: i.i.d. standard Gaussian entries with the shapes of
    ``list(model.parameters())``, filter-normalized against the model's current parameters
    (see :func:`filter_normalize`) unless ``normalize=False``.

    ``generator`` (a ``torch.Generator``) makes the draw reproducible without touching the global
    random state; ``None`` uses the global generator.
    """
    params = _check_model(model)
    _checks.check_generator(generator)
    direction = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    return filter_normalize(direction, params) if normalize else direction


def _coefficients(alphas, k: int) -> list[np.ndarray]:
    """One 1-D float array of coefficients per direction."""
    if isinstance(alphas, (list, tuple)) and alphas and np.ndim(alphas[0]) > 0:
        if len(alphas) != k:
            raise ValueError(f"alphas must be one 1-D array (used on every axis) or {k} 1-D arrays, "
                             f"one per direction, got {len(alphas)} arrays")
        axes = [np.asarray(a, dtype=float) for a in alphas]
    else:
        axes = [np.asarray(alphas, dtype=float)] * k
    for a in axes:
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"alphas must be non-empty 1-D arrays, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("alphas must be finite")
    return axes


@torch.no_grad()
def loss_along(model: nn.Module, directions, alphas, data, loss_fn=None) -> np.ndarray:
    r"""The loss of ``model`` on ``data`` along a line or over a plane of parameter space.

    Args:
        model: the trained network; its parameters :math:`\theta^*` are the origin.
        directions: a sequence of one or two directions (each a list of tensors shaped like
            ``list(model.parameters())``, e.g. from :func:`random_direction`).
        alphas: the coefficients: one 1-D array used on every axis, or one 1-D array per
            direction.
        data: ``(X, y)``, inputs and integer labels, evaluated as one batch.
        loss_fn: ``loss_fn(logits, y) -> scalar tensor``; default mean cross-entropy.

    Returns:
        float64 array of shape ``(n1,)`` for one direction,
        :math:`f_i = L(\theta^* + a_i\delta)`, or ``(n1, n2)`` for two,
        :math:`f_{ij} = L(\theta^* + a_i\delta + b_j\eta)`.

    The model is evaluated in eval mode (batch norm uses its running statistics). Its parameters
    are restored exactly from a saved copy and its training flag reset, even on error.
    """
    params = _check_model(model)
    if isinstance(directions, torch.Tensor) or not isinstance(directions, Sequence) or not directions:
        raise TypeError("directions must be a non-empty sequence of directions (lists of tensors)")
    if isinstance(directions[0], torch.Tensor):
        raise TypeError("directions must be a sequence of directions, each a list of tensors; "
                        "wrap a single direction as [direction]")
    if len(directions) not in (1, 2):
        raise ValueError(f"directions must hold one or two directions, got {len(directions)}")
    directions = [[d.detach() for d in _check_direction(dirn, params, f"directions[{k}]")]
                  for k, dirn in enumerate(directions)]
    axes = _coefficients(alphas, len(directions))
    if not (isinstance(data, Sequence) and len(data) == 2):
        raise TypeError("data must be a pair (X, y)")
    X, y = data
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor) or X.shape[0] != y.shape[0]:
        raise ValueError("data must be a pair of tensors (X, y) with as many inputs as labels")
    if loss_fn is None:
        loss_fn = nn.functional.cross_entropy

    origin = [p.detach().clone() for p in params]
    was_training = model.training
    shape = tuple(a.size for a in axes)
    out = np.empty(shape, dtype=np.float64)
    model.eval()
    try:
        for index in np.ndindex(*shape):
            for p, p0, *ds in zip(params, origin, *directions):
                p.copy_(p0)
                for d, axis, i in zip(ds, axes, index):
                    p.add_(d, alpha=float(axis[i]))
            out[index] = float(loss_fn(model(X), y))
    finally:
        for p, p0 in zip(params, origin):
            p.copy_(p0)
        model.train(was_training)
    return out


def climb(losses, alphas) -> np.ndarray:
    r"""The rise of the loss above the trained point along 1-D slices: :math:`f(\alpha) - f(0)`.

    ``losses`` has shape ``(n,)`` for one slice or ``(k, n)`` for ``k`` slices, sampled at the
    ``n`` steps ``alphas``, which must include :math:`\alpha = 0`. Returns an array of the same
    shape; its maximum is how far a slice climbs, and its values at :math:`\pm a` say how narrow
    the valley floor is.
    """
    f = _checks.to_numpy(losses, "losses", dtype=np.float64)
    a = _checks.to_numpy(alphas, "alphas", dtype=np.float64)
    if a.ndim != 1 or f.ndim not in (1, 2) or f.shape[-1] != a.size:
        raise ValueError(f"losses must have shape (n,) or (k, n) with n = len(alphas), got losses "
                         f"of shape {f.shape} and alphas of shape {a.shape}")
    centre = np.flatnonzero(np.abs(a) < 1e-12)
    if centre.size != 1:
        raise ValueError("alphas must contain 0 (the trained point) exactly once")
    return f - f[..., centre]


def roughness(losses) -> float:
    r"""How far a loss slice is from a single valley, in ``[0, 1)``; 0 means no bumps.

    For values :math:`f_0, \dots, f_n` along a line, the total variation
    :math:`\mathrm{TV}(f) = \sum_k |f_{k+1} - f_k|` is the total climbing and descending a walker
    does. A valley-shaped line (down, then up) needs only
    :math:`V(f) = (f_0 - \min f) + (f_n - \min f) \le \mathrm{TV}(f)`, with equality exactly when the
    line has one valley. Every extra bump of height :math:`h` adds :math:`2h` to
    :math:`\mathrm{TV}` only. The roughness is the share of the movement spent on bumps,

    .. math::

        R = 1 - \frac{\sum_\ell V(f_\ell)}{\sum_\ell \mathrm{TV}(f_\ell)},

    pooled over the lines :math:`\ell`: the single line of a 1-D array ``(n,)``, or every row and
    every column of a 2-D grid ``(n1, n2)``. :math:`R = 0` for any function whose restriction to
    each line is valley-shaped (e.g. convex), and :math:`R` is unchanged when the losses are
    multiplied by a positive number or shifted. A constant slice has :math:`R = 0`.
    """
    f = _checks.to_numpy(losses, "losses", dtype=np.float64)
    if f.ndim not in (1, 2):
        raise ValueError(f"losses must be a 1-D or 2-D array, got shape {f.shape}")
    if min(f.shape) < 2:
        raise ValueError(f"losses must have at least 2 points along each axis, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("losses must be finite")
    lines = [f] if f.ndim == 1 else [f, f.T]
    tv = sum(np.abs(np.diff(g, axis=-1)).sum() for g in lines)
    valley = sum((g[..., 0] + g[..., -1] - 2 * g.min(axis=-1)).sum() for g in lines)
    if tv == 0:
        return 0.0
    return float(max(0.0, 1.0 - valley / tv))
