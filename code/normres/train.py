"""A small deterministic training loop shared by every chapter.

It trains any ``nn.Module`` that maps a batch of inputs to class logits, shuffles with its own
seeded generator (so the batch order depends only on ``seed``), stops early if the loss becomes
non-finite, and returns a :class:`History`. Evaluation always runs in ``eval()`` mode, so batch norm
is judged with its running statistics, the way it would be deployed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .seeding import current_seed


@dataclass
class History:
    """What happened during :func:`train`.

    ``step_loss`` holds the mini-batch loss (training mode) of every step; the ``train_*`` and
    ``val_*`` lists hold one evaluation (eval mode, whole set) per epoch, after that epoch.
    ``diverged`` is True when a loss became NaN or infinite, and training stopped there.
    """

    step_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    diverged: bool = False

    @property
    def final_val_acc(self) -> float:
        return self.val_acc[-1] if self.val_acc else float("nan")

    @property
    def final_train_loss(self) -> float:
        return self.train_loss[-1] if self.train_loss else float("nan")


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(X, y)`` in eval mode.

    The model's training flag is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        logits = model(X)
        loss = nn.functional.cross_entropy(logits, y).item()
        acc = (logits.argmax(dim=1) == y).float().mean().item()
    finally:
        model.train(was_training)
    return loss, acc


def make_optimizer(model: nn.Module, optimizer: str, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``'sgd'`` (with ``momentum``) or ``'adam'`` over all of ``model``'s parameters."""
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr must be a positive float, got {lr!r}")
    if optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")


def train(model: nn.Module, train_data: tuple[torch.Tensor, torch.Tensor], *, epochs: int,
          batch_size: int, lr: float, val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
          optimizer: str = "sgd", momentum: float = 0.9, weight_decay: float = 0.0,
          seed: int | None = None, drop_last: bool = True, max_steps: int | None = None,
          on_step=None) -> History:
    """Train ``model`` with cross-entropy on ``train_data = (X, y)`` and return a :class:`History`.

    Args:
        epochs: passes over the training set.
        batch_size: examples per step. With ``drop_last`` (default) the last incomplete batch of an
            epoch is skipped, so batch norm never sees a batch of one.
        lr, optimizer, momentum, weight_decay: see :func:`make_optimizer`.
        val_data: evaluated after every epoch if given.
        seed: seeds the shuffling generator; defaults to the notebook's current seed.
        max_steps: stop after this many steps in total (evaluating once at the stop).
        on_step: optional ``on_step(step, model, loss)`` called after every optimizer step, for
            probes that watch training as it happens.
    """
    X, y = train_data
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"train_data must hold as many inputs as labels, got {X.shape[0]} and {y.shape[0]}")
    if drop_last and batch_size > X.shape[0]:
        raise ValueError(f"batch_size {batch_size} is larger than the training set ({X.shape[0]})")
    opt = make_optimizer(model, optimizer, lr, momentum, weight_decay)
    gen = torch.Generator().manual_seed(current_seed() if seed is None else seed)
    history = History()
    step = 0
    n = X.shape[0]
    stop = n - batch_size + 1 if drop_last else n

    def record_epoch():
        loss, acc = evaluate(model, X, y)
        history.train_loss.append(loss)
        history.train_acc.append(acc)
        if val_data is not None:
            vloss, vacc = evaluate(model, *val_data)
            history.val_loss.append(vloss)
            history.val_acc.append(vacc)

    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            value = loss.item()
            history.step_loss.append(value)
            if not math.isfinite(value):
                history.diverged = True
                record_epoch()
                return history
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if on_step is not None:
                on_step(step, model, value)
            if max_steps is not None and step >= max_steps:
                record_epoch()
                return history
        record_epoch()
    return history
