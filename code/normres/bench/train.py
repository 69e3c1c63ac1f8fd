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

from .. import _checks
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
    _checks.check_positive_number(lr, "lr")
    _checks.check_one_of(optimizer, ("sgd", "adam"), "optimizer")
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
    _checks.check_positive_int(epochs, "epochs")
    _checks.check_positive_int(batch_size, "batch_size")
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


def batch_size_sweep(build, train_data: tuple[torch.Tensor, torch.Tensor], *, batch_sizes, seeds,
                     lr: float, epochs: int | None = None, steps: int | None = None,
                     base_batch_size: int = 32, scale_lr: bool = True,
                     val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
                     **train_kwargs) -> dict[int, list[tuple[nn.Module, History]]]:
    r"""Train a fresh model for every batch size and seed, as in Wu and He's batch-size study.

    The book's reference protocol (chapter *Batch norm and sequences*, reused by the later
    batch-size experiments): ``steps=S, scale_lr=False``, i.e. every batch size gets the same
    number of optimizer steps and the same learning rate, so a smaller batch sees fewer examples.

    For batch size :math:`b` and seed :math:`s`: ``torch.manual_seed(s)``, ``model = build()``, then
    :func:`train` with shuffling seeded by :math:`s` for either

    - ``steps`` optimizer steps (the same number for every :math:`b`; the epochs this takes are
      computed, the last one possibly partial, and the history is evaluated once more at the stop), or
    - ``epochs`` epochs (the same number for every :math:`b`, so smaller batches take more steps);

    give exactly one of the two. The learning rate is scaled linearly,
    :math:`\mathrm{lr}\cdot b/\mathrm{base\_batch\_size}`, or left unchanged with
    ``scale_lr=False``. Further keyword arguments go to :func:`train`.

    Returns ``{b: [(trained model, History) for each seed, in order]}``.
    """
    if isinstance(build, nn.Module) or not callable(build):
        raise TypeError("build must be a function returning a fresh model (one per run), "
                        f"got {type(build).__name__}")
    if (epochs is None) == (steps is None):
        raise ValueError(f"give exactly one of epochs and steps, got epochs={epochs!r}, steps={steps!r}")
    if steps is not None:
        _checks.check_positive_int(steps, "steps")
    batch_sizes, seeds = list(batch_sizes), list(seeds)
    if not batch_sizes or not seeds:
        raise ValueError("batch_sizes and seeds must each hold at least one value")
    _checks.check_positive_int(base_batch_size, "base_batch_size")
    n = train_data[0].shape[0]
    results: dict[int, list[tuple[nn.Module, History]]] = {}
    for b in batch_sizes:
        _checks.check_positive_int(b, "batch_sizes[i]")
        budget = {"epochs": epochs}
        if steps is not None:
            per_epoch = n // b if train_kwargs.get("drop_last", True) else -(-n // b)
            if per_epoch < 1:
                raise ValueError(f"batch size {b} is larger than the training set ({n})")
            budget = {"epochs": -(-steps // per_epoch), "max_steps": steps}
        results[b] = []
        for s in seeds:
            torch.manual_seed(s)
            model = build()
            history = train(model, train_data, batch_size=b,
                            lr=lr * b / base_batch_size if scale_lr else lr, val_data=val_data, seed=s,
                            **budget, **train_kwargs)
            results[b].append((model, history))
    return results


def steps_to_target(values, target: float, steps) -> float:
    """The first entry of ``steps`` at which ``values`` reaches ``target`` (``values[i] >= target``),
    or ``inf`` if it never does.

    ``values`` and ``steps`` are equally long sequences, e.g. a :class:`History`'s ``val_acc`` and
    the step count after each epoch, ``[(i + 1) * steps_per_epoch for i in range(epochs)]``.
    """
    values, steps = list(values), list(steps)
    if len(values) != len(steps):
        raise ValueError(f"values and steps must be equally long, got {len(values)} and {len(steps)}")
    for v, s in zip(values, steps):
        if v >= target:
            return float(s)
    return float("inf")


def lr_sweep(build, train_data: tuple[torch.Tensor, torch.Tensor], *, lrs, seeds, epochs: int,
             batch_size: int, val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
             make_probes=None, **train_kwargs) -> dict[float, list[History]]:
    """Train a fresh model for every learning rate and seed: the learning-rate tolerance experiment.

    For learning rate ``lr`` and seed ``s``: ``torch.manual_seed(s)``, ``model = build()``, then
    :func:`train` with shuffling seeded by ``s``. If ``make_probes`` is given,
    ``make_probes(lr, s, model)`` returns a (possibly empty) list of ``on_step(step, model, loss)``
    callables; each is called once with ``step=0`` before training (to record the initial state)
    and then after every optimizer step. Further keyword arguments go to :func:`train`.

    Returns ``{lr: [History for each seed, in order]}``.
    """
    if not callable(build):
        raise TypeError(f"build must be a callable returning a model, got {type(build).__name__}")
    lrs, seeds = list(lrs), list(seeds)
    if not lrs or not seeds:
        raise ValueError("lrs and seeds must each hold at least one value")
    for lr in lrs:
        _checks.check_positive_number(lr, "lrs")
    results: dict[float, list[History]] = {}
    for lr in lrs:
        results[lr] = []
        for s in seeds:
            torch.manual_seed(s)
            model = build()
            probes = list(make_probes(lr, s, model)) if make_probes is not None else []
            for probe in probes:
                probe(0, model, float("nan"))

            def on_step(step, model, loss, probes=probes):
                for probe in probes:
                    probe(step, model, loss)

            results[lr].append(train(model, train_data, epochs=epochs, batch_size=batch_size, lr=lr,
                                     val_data=val_data, seed=s, on_step=on_step if probes else None,
                                     **train_kwargs))
    return results
