r"""Training a token tagger on a :class:`~normres.transformer.task.TokenTask`: fresh padded batches
every step, Adam (or SGD) with an optional linear learning-rate warm-up, cross-entropy over the
real tokens only.

The learning rate at step :math:`s = 1, 2, \dots` is :math:`\mathrm{lr}\cdot\min(1, s/w)` for
``warmup_steps`` :math:`w > 0`, and constant ``lr`` for :math:`w = 0`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import _checks
from ..bench.seeding import current_seed
from .task import IGNORE_INDEX, TokenBatch, TokenTask


@dataclass
class TaggerHistory:
    """``step_loss``: the training loss of every step (training mode, the step's batch);
    ``step_acc``: its token accuracy over real tokens; ``diverged``: a loss became non-finite
    (training stopped there)."""

    step_loss: list[float] = field(default_factory=list)
    step_acc: list[float] = field(default_factory=list)
    diverged: bool = False

    def final_loss(self, last: int = 20) -> float:
        """Mean training loss over the ``last`` steps (inf if training diverged)."""
        if self.diverged or not self.step_loss:
            return float("inf")
        tail = self.step_loss[-last:]
        return sum(tail) / len(tail)


def token_loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Cross-entropy and accuracy over the tokens whose label is not ``IGNORE_INDEX``.
    ``logits`` ``(B, T, C)``, ``labels`` ``(B, T)``."""
    C = logits.shape[-1]
    loss = nn.functional.cross_entropy(logits.reshape(-1, C), labels.reshape(-1), ignore_index=IGNORE_INDEX)
    real = labels != IGNORE_INDEX
    acc = (logits.argmax(-1)[real] == labels[real]).double().mean().item()
    return loss, acc


@torch.no_grad()
def evaluate_tagger(model: nn.Module, batch: TokenBatch, training_mode: bool = False) -> tuple[float, float]:
    """Loss and token accuracy of ``model`` on ``batch``, in eval mode (running statistics) by
    default, or in training mode (batch statistics; running statistics are restored afterwards)
    with ``training_mode=True``. The model's mode is restored."""
    tokens, pad, labels = batch
    was_training = model.training
    saved = {k: v.clone() for k, v in model.state_dict().items()} if training_mode else None
    model.train(training_mode)
    try:
        loss, acc = token_loss_and_accuracy(model(tokens, pad), labels)
    finally:
        model.train(was_training)
        if saved is not None:
            model.load_state_dict(saved)
    return loss.item(), acc


def warmup_factor(step: int, warmup_steps: int) -> float:
    """:math:`\\min(1, s/w)` for ``warmup_steps`` ``w > 0``, else 1 (step ``s`` counts from 1)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, step / warmup_steps)


def train_tagger(model: nn.Module, task: TokenTask, *, steps: int, batch_size: int, lr: float,
                 warmup_steps: int = 0, optimizer: str = "adam", betas=(0.9, 0.98),
                 seed: int | None = None, on_step=None) -> TaggerHistory:
    """Train ``model`` (``model(tokens, key_padding_mask) -> (B, T, C)`` logits) for ``steps``
    steps on fresh batches of ``task``, and return a :class:`TaggerHistory`.

    Args:
        steps, batch_size: optimizer steps and sentences per batch.
        lr: peak learning rate; ``warmup_steps`` ramps it up linearly from ``lr/warmup_steps``.
        optimizer: ``"adam"`` (``betas`` as in Vaswani et al.) or ``"sgd"`` (no momentum).
        seed: seeds the batch generator (default: the notebook's current seed), so two runs with the
            same seed see the same batches.
        on_step: optional ``on_step(step, model, loss)`` after every optimizer step.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(task, TokenTask):
        raise TypeError(f"task must be a TokenTask, got {type(task).__name__}")
    _checks.check_positive_int(steps, "steps")
    _checks.check_positive_int(batch_size, "batch_size")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive float, got {lr!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be a non-negative int, got {warmup_steps!r}")
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(betas), foreach=True)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    gen = torch.Generator().manual_seed(current_seed() if seed is None else seed)
    history = TaggerHistory()
    model.train()
    for step in range(1, steps + 1):
        for group in opt.param_groups:
            group["lr"] = lr * warmup_factor(step, warmup_steps)
        tokens, pad, labels = task.sample(batch_size, gen)
        loss, acc = token_loss_and_accuracy(model(tokens, pad), labels)
        value = loss.item()
        history.step_loss.append(value)
        history.step_acc.append(acc)
        if not math.isfinite(value):
            history.diverged = True
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step, model, value)
    return history
