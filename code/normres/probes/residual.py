"""Probes for residual networks: gradient profiles, layer responses, shattered gradients, lesions.

Plumbing for the residual-connections chapter. Every function works on the networks of
:mod:`normres.models` (anything with ``stem``, ``blocks`` and ``head`` where each block has a
``body``), leaves the model's parameters untouched and restores its training flag.

- :func:`gradient_profile`: the norm of every weight matrix's gradient, input side first.
- :func:`stream_gradients`: the norm of the gradient at the input of every block and at the
  output of the last one: the backward signal alone, block by block.
- :func:`response_std`: the standard deviation of each block's *response* (the output of the
  last layer of its branch, before the addition), as in He et al. (2016), Fig. 7.
- :func:`calibrate_batch_norm`, :func:`input_gradients_1d`, :func:`lagged_correlation`: the
  derivative of a network with one input and one output along a grid of inputs, and how correlated
  it is between neighbouring grid points (Balduzzi et al., 2017).
- :func:`lesion`, :func:`lesion_accuracies`: delete blocks of a trained network at test time
  (Veit et al., 2016).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .. import _checks
from .activations import record_outputs, weight_grad_norms
from ..bench.train import evaluate


def _check_blocks(model: nn.Module) -> None:
    _checks.check_module(model, "model")
    if not isinstance(getattr(model, "blocks", None), nn.ModuleList):
        raise ValueError("model must have a `blocks` nn.ModuleList (a normres.models network)")


def gradient_profile(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    r"""Norms of the weight gradients of the cross-entropy loss on one batch.

    Computes :math:`L = \mathrm{CE}(\mathrm{model}(X), y)` in the model's current mode (training
    mode: batch norm uses the statistics of ``X``), back-propagates it and returns
    :math:`\|\partial L / \partial W_\ell\|_F` for every ``Linear``/``Conv2d`` weight
    :math:`W_\ell`, from the input side to the output side: an array of shape
    ``(number of weight layers,)``. ``X``: ``(N, *)`` float, ``y``: ``(N,)`` int64.
    Gradients left in ``.grad`` are cleared first and belong to this batch afterwards. Buffers
    (batch norm's running statistics and counters) are left as they were: measuring does not
    change the model.
    """
    _checks.check_data(X, y)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    try:
        loss = nn.functional.cross_entropy(model(X), y)
        return np.array(weight_grad_norms(model, loss))
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])


def stream_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    r"""Norms of the loss gradient with respect to the signal between blocks, on one batch.

    With :math:`h_0` the stem's output (the input of the first block) and :math:`h_k` the output
    of block :math:`k`, returns :math:`\|\partial L/\partial h_k\|_F` for :math:`k = 0, \dots, n`
    (``n = len(model.blocks)``): an array of shape ``(n + 1,)``, input side first, where
    :math:`L = \mathrm{CE}(\mathrm{model}(X), y)` is computed in the model's current mode.
    Unlike the weight gradients of :func:`gradient_profile`, which multiply the backward signal
    by the forward one (:math:`\partial L/\partial W = \delta\,h^\top`), these measure the
    backward signal alone, so :math:`\|\partial L/\partial h_0\| / \|\partial L/\partial h_n\|`
    is what the gradient gains or loses on its way back through the blocks. ``X``: ``(N, *)``
    float, ``y``: ``(N,)`` int64. Parameters' ``.grad`` and buffers (batch norm's running
    statistics) are left as they were.
    """
    _check_blocks(model)
    _checks.check_data(X, y)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    try:
        h = model.stem(X)
        signals = [h]
        for block in model.blocks:
            h = block(h)
            signals.append(h)
        loss = nn.functional.cross_entropy(model.head(h), y)
        grads = torch.autograd.grad(loss, signals)
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    return np.array([g.norm().item() for g in grads])


@torch.no_grad()
def response_std(model: nn.Module, X: torch.Tensor, modules=None) -> np.ndarray:
    r"""Standard deviation of each block's response on the inputs ``X``, in evaluation mode.

    The response of block :math:`k` is the output :math:`r_k` of ``modules[k]``; by default the
    last module of each block's branch, ``block.body[-1]`` (the last normalization layer of a
    :class:`normres.models.Block`, i.e. :math:`F_k(x)` just before the addition and the
    activation). For every unit (feature, or channel for images) the standard deviation over the
    ``N`` examples (and spatial positions) is taken, with divisor ``N``; the result is the mean over
    units. Returns an array of shape ``(len(modules),)``.
    """
    _check_blocks(model)
    _checks.check_data(X)
    if modules is None:
        modules = [block.body[-1] for block in model.blocks]
    was_training = model.training
    model.eval()
    try:
        with record_outputs({i: m for i, m in enumerate(modules)}) as rec:
            model(X)
    finally:
        model.train(was_training)
    stds = []
    for i in range(len(modules)):
        r = rec[i][0]
        r = r.transpose(0, 1).reshape(r.shape[1], -1) if r.dim() > 2 else r.T  # (units, samples)
        stds.append(r.std(dim=1, correction=0).mean().item())
    return np.array(stds)


def _batch_norms(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules()
            if getattr(m, "running_mean", None) is not None and hasattr(m, "momentum")]


@torch.no_grad()
def calibrate_batch_norm(model: nn.Module, X: torch.Tensor) -> nn.Module:
    r"""Set the running statistics of every batch-norm layer to the statistics of the batch ``X``.

    One forward pass in training mode with momentum 1, after which each running mean is the batch
    mean :math:`\mu_B` and each running variance is rescaled from the unbiased estimate torch
    stores to the *biased* batch variance :math:`\sigma_B^2` that training mode normalizes with.
    In evaluation mode the model then computes, example by example, exactly what training mode
    computes on the whole batch ``X``, but no example influences another. Momenta and the
    training flag are restored; returns ``model``.
    """
    _checks.check_data(X)
    norms = _batch_norms(model)
    momenta = [m.momentum for m in norms]
    was_training = model.training
    counts: dict[nn.Module, int] = {}

    def count(module, inputs):
        counts[module] = inputs[0].numel() // inputs[0].shape[1]

    handles = [m.register_forward_pre_hook(count) for m in norms]
    try:
        for m in norms:
            m.momentum = 1.0
        model.train()
        model(X)
    finally:
        for h in handles:
            h.remove()
        for m, mom in zip(norms, momenta):
            m.momentum = mom
        model.train(was_training)
    for m in norms:
        n = counts.get(m, 0)
        if n > 1:
            m.running_var.mul_((n - 1) / n)
    return model


def input_gradients_1d(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    r"""The derivative :math:`f'(x_i)` of a one-input, one-output network at each point ``x_i``.

    ``x``: ``(N,)`` or ``(N, 1)`` float. The model runs in evaluation mode, so examples do not
    interact (call :func:`calibrate_batch_norm` first to give batch norm the statistics of the
    grid) and the gradient of :math:`\sum_i f(x_i)` with respect to :math:`x_i` is
    :math:`f'(x_i)`. Returns a tensor of shape ``(N,)``; the training flag is restored.
    """
    _checks.check_data(x)
    if not (x.dim() == 1 or (x.dim() == 2 and x.shape[1] == 1)):
        raise ValueError(f"x must have shape (N,) or (N, 1), got {tuple(x.shape)}")
    x = x.reshape(-1, 1).detach().clone().requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        out = model(x)
        if out.shape != (x.shape[0], 1):
            raise ValueError(f"model must map (N, 1) to (N, 1), got output shape {tuple(out.shape)}")
        (grad,) = torch.autograd.grad(out.sum(), x)
    finally:
        model.train(was_training)
    return grad.reshape(-1)


def lagged_correlation(g, lag: int = 1) -> float:
    r"""Pearson correlation between :math:`g_i` and :math:`g_{i+\text{lag}}` over a sequence.

    With ``g`` the derivatives on an evenly spaced grid, this is the correlation between gradients
    at :math:`x` and :math:`x + \text{lag}\cdot\delta`:
    :math:`\frac{\sum_i (a_i-\bar a)(b_i-\bar b)}{\|a-\bar a\|\,\|b-\bar b\|}` with
    :math:`a = g_{0..N-1-\text{lag}}`, :math:`b = g_{\text{lag}..N-1}`. ``g``: 1-D tensor or array
    of length ``N > lag + 1``. Returns a float in [-1, 1] (nan if a part is constant).
    """
    g = torch.as_tensor(_checks.to_numpy(g, "g", dtype=np.float64))
    if g.dim() != 1:
        raise ValueError(f"g must be one-dimensional, got shape {tuple(g.shape)}")
    if isinstance(lag, bool) or not isinstance(lag, int) or lag <= 0 or lag >= g.shape[0] - 1:
        raise ValueError(f"lag must be an int in [1, {g.shape[0] - 2}], got {lag!r}")
    a, b = g[:-lag], g[lag:]
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


@contextmanager
def lesion(model: nn.Module, indices):
    """Delete blocks ``indices`` (an int or a sequence of ints) for the duration of a ``with``.

    Each deleted block is replaced by ``nn.Identity``, so its input goes straight to the next
    block. For a residual block ``y = act(x + F(x))`` whose input already passed through a ReLU,
    this is exactly dropping the branch ``F``. The original blocks come back on exit, even after
    an exception.
    """
    _check_blocks(model)
    idx = [indices] if isinstance(indices, int) else list(indices)
    n = len(model.blocks)
    for i in idx:
        if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
            raise ValueError(f"indices must be block indices in [0, {n}), got {i!r}")
    saved = {i % n: model.blocks[i] for i in idx}
    try:
        for i in saved:
            model.blocks[i] = nn.Identity()
        yield model
    finally:
        for i, block in saved.items():
            model.blocks[i] = block


def lesion_accuracies(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Accuracy (evaluation mode) on ``(X, y)`` after deleting each block in turn.

    Returns an array of shape ``(len(model.blocks),)``; entry ``k`` is the accuracy of the network
    without block ``k`` (all other blocks kept).
    """
    _check_blocks(model)
    _checks.check_data(X, y)
    accs = []
    for k in range(len(model.blocks)):
        with lesion(model, k):
            accs.append(evaluate(model, X, y)[1])
    return np.array(accs)
