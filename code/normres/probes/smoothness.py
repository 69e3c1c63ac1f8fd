r"""How much the loss and its gradient change along the gradient direction: a small-scale version of
the "loss landscape" and "effective beta-smoothness" measurements of Santurkar et al. (2018, Fig. 4).

At parameters :math:`\theta` with mini-batch loss :math:`L` and gradient :math:`g = \nabla L(\theta)`,
take the points :math:`\theta_\eta = \theta - \eta\,g` for a few step sizes :math:`\eta` and record

- the loss :math:`L(\theta_\eta)`; its spread :math:`\max_\eta L(\theta_\eta) - \min_\eta
  L(\theta_\eta)` (with :math:`\eta=0` included) is the *loss variation* along the step;
- the gradient change :math:`\lVert \nabla L(\theta_\eta) - g\rVert`, and
- the *effective beta-smoothness* :math:`\max_\eta \lVert\nabla L(\theta_\eta) - g\rVert /
  (\eta\lVert g\rVert)`, a finite-difference estimate of how fast the gradient turns along the step
  (a lower bound on the local Lipschitz constant of the gradient).

The loss is evaluated exactly as a training step sees it: the model in training mode (batch norm
uses the statistics of the batch), and every stochastic layer drawing the *same* random numbers at
each point (the RNG state is restored before each forward pass). Running statistics and the
parameters are restored afterwards, so measuring does not change training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .. import _checks

__all__ = ["GradientWalk", "gradient_walk", "WalkRecorder"]


@dataclass(frozen=True)
class GradientWalk:
    """The result of :func:`gradient_walk`.

    ``step_sizes``, ``losses`` and ``grad_changes`` are tuples of equal length (one entry per
    step size); ``loss0`` and ``grad_norm`` belong to the starting point.
    """

    step_sizes: tuple[float, ...]
    loss0: float
    grad_norm: float
    losses: tuple[float, ...]
    grad_changes: tuple[float, ...]

    @property
    def loss_range(self) -> float:
        r""":math:`\max - \min` of the loss over the starting point and all the steps."""
        values = (self.loss0,) + self.losses
        return max(values) - min(values)

    @property
    def beta(self) -> float:
        r"""Effective beta-smoothness :math:`\max_\eta \lVert\nabla L(\theta-\eta g)-g\rVert/(\eta\lVert g\rVert)`."""
        if self.grad_norm == 0:
            return 0.0
        return max(c / (eta * self.grad_norm) for eta, c in zip(self.step_sizes, self.grad_changes))


def _loss_and_grad(model, params, loss_fn, X, y, rng_state):
    torch.set_rng_state(rng_state)
    loss = loss_fn(model(X), y)
    grads = torch.autograd.grad(loss, params)
    return loss.item(), [g.detach() for g in grads]


def gradient_walk(model: nn.Module, X: torch.Tensor, y: torch.Tensor, step_sizes: Sequence[float],
                  loss_fn=nn.functional.cross_entropy) -> GradientWalk:
    r"""Loss and gradient at :math:`\theta - \eta\nabla L(\theta)` for each ``eta`` in ``step_sizes``.

    Args:
        model: any module; it is put in training mode for the measurement and its mode, parameters,
            buffers (e.g. batch-norm running statistics) and the global torch RNG state are restored.
        X, y: one batch, e.g. ``(N, 64)`` inputs and ``(N,)`` int64 labels.
        step_sizes: positive floats :math:`\eta`.
        loss_fn: ``loss_fn(logits, y)`` returning a scalar; cross-entropy by default.

    Returns:
        A :class:`GradientWalk`.
    """
    _checks.check_module(model, "model")
    _checks.check_data(X, y, labels=False)
    steps = tuple(float(s) for s in step_sizes)
    if not steps or any(not s > 0 for s in steps):
        raise ValueError(f"step_sizes must be a non-empty sequence of positive floats, got {step_sizes!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")

    was_training = model.training
    saved_params = [p.detach().clone() for p in params]
    saved_buffers = [b.detach().clone() for b in model.buffers()]
    rng_state = torch.get_rng_state()
    model.train()
    try:
        loss0, g = _loss_and_grad(model, params, loss_fn, X, y, rng_state)
        grad_norm = torch.sqrt(sum((gi * gi).sum() for gi in g)).item()
        losses, changes = [], []
        for eta in steps:
            with torch.no_grad():
                for p, p0, gi in zip(params, saved_params, g):
                    p.copy_(p0 - eta * gi)
            loss_eta, g_eta = _loss_and_grad(model, params, loss_fn, X, y, rng_state)
            losses.append(loss_eta)
            changes.append(torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(g_eta, g))).item())
    finally:
        with torch.no_grad():
            for p, p0 in zip(params, saved_params):
                p.copy_(p0)
            for b, b0 in zip(model.buffers(), saved_buffers):
                b.copy_(b0)
        torch.set_rng_state(rng_state)
        model.train(was_training)
    return GradientWalk(steps, loss0, grad_norm, tuple(losses), tuple(changes))


class WalkRecorder:
    """Record :func:`gradient_walk` during training: a callable for
    ``normres.train.train(on_step=...)``.

    Every ``every`` steps (and whenever called directly with such a step, e.g. step 0 before
    training) it measures the walk on the fixed batch ``(X, y)`` with ``step_sizes``. Since
    :func:`gradient_walk` restores the model and the RNG, recording does not change training.
    After training, :attr:`steps` and :attr:`walks` are equally long lists.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, step_sizes: Sequence[float], every: int = 32,
                 loss_fn=nn.functional.cross_entropy):
        _checks.check_positive_int(every, "every")
        self.X, self.y, self.step_sizes, self.every, self.loss_fn = X, y, tuple(step_sizes), every, loss_fn
        self.steps: list[int] = []
        self.walks: list[GradientWalk] = []

    def __call__(self, step: int, model: nn.Module, loss=None) -> None:
        if step % self.every != 0:
            return
        self.walks.append(gradient_walk(model, self.X, self.y, self.step_sizes, self.loss_fn))
        self.steps.append(int(step))
