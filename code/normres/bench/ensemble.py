r"""Train many small MLPs at once: one vectorized pass for a whole learning-rate (or seed) sweep.

A sweep such as "five learning rates times three seeds" trains fifteen copies of the same small
network. Each step of such a network costs far more in Python and autograd overhead than in
arithmetic, so :class:`EnsembleMLP` stacks the ``G`` members' weights into tensors with a leading
group axis and runs all of them with the same number of operations as one network: a ``Linear``
becomes a batched matrix product over ``(G, N, in)``, and a batch norm normalizes the ``G * C``
units of ``(N, G * C)`` (each unit still over its own member's batch only, with the biased
variance, and the unbiased one in the running average, as :func:`normres.functional.batch_norm`). Nothing mixes members:
member ``g`` computes exactly what it would compute alone (up to float rounding of the batched
kernels), sees its own mini-batches (its own shuffling seed) and takes its own learning rate.

:func:`ensemble_lr_sweep` is a drop-in for :func:`normres.bench.train.lr_sweep` built on it: same
arguments, same result ``{lr: [History per seed]}``, same initialization (``torch.manual_seed(s)``
then ``build()``), same mini-batch order, and probes that receive an ordinary ``nn.Module`` holding
the member's current state. Supported networks: :class:`normres.bench.models.MLP` without residual
connections, with ``norm=None`` or ``'batch'`` (noisy batch norm included) and any activation.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .. import _checks
from .. import functional as NF
from .models import ACTIVATIONS, MLP
from ..nn.batchnorm import BatchNorm1d
from ..nn.noisy import NoisyBatchNorm1d
from .train import History

__all__ = ["EnsembleMLP", "ensemble_lr_sweep"]

_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())


def _layers(model: nn.Module) -> list[nn.Module]:
    """The leaf modules of a plain MLP in the order its forward pass applies them."""
    if not isinstance(model, MLP):
        raise TypeError(f"models must be normres MLPs, got {type(model).__name__}")
    if any(block.residual for block in model.blocks):
        raise ValueError("EnsembleMLP supports plain MLPs only (residual=False)")
    leaves = list(model.stem)
    for block in model.blocks:
        leaves += list(block.body) + [block.act]
    leaves.append(model.head)
    for m in leaves:
        ok = isinstance(m, (nn.Linear, nn.Identity, BatchNorm1d) + _ACTIVATION_TYPES)
        if not ok or (isinstance(m, BatchNorm1d) and (not m.affine or not m.track_running_stats
                                                        or m.momentum is None)):
            raise ValueError(f"EnsembleMLP cannot vectorize the layer {m!r}")
    return leaves


class EnsembleMLP(nn.Module):
    """``G`` MLPs of one architecture, evaluated together on inputs ``(G, N, in_features)``.

    Built from a list of ``G`` :class:`normres.bench.models.MLP` instances (their current weights and
    buffers are copied); :meth:`member` copies member ``g`` back into a fresh copy of the first model.
    The output is ``(G, N, out_features)``: member ``g``'s logits for its own batch ``x[g]``.
    """

    def __init__(self, models):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("models must hold at least one MLP")
        plans = [_layers(m) for m in models]
        kinds = [[type(layer) for layer in plan] for plan in plans]
        if any(k != kinds[0] for k in kinds):
            raise ValueError("all models must have the same architecture")
        self.G = len(models)
        self._template = copy.deepcopy(models[0])
        self._ops: list[tuple] = []
        self.params = nn.ParameterList()
        self._buffers_list: list[torch.Tensor] = []
        for i, layer in enumerate(plans[0]):
            members = [plan[i] for plan in plans]
            if isinstance(layer, nn.Linear):
                w = nn.Parameter(torch.stack([m.weight.detach() for m in members]).clone())
                self.params.append(w)
                b = None
                if layer.bias is not None:
                    b = nn.Parameter(torch.stack([m.bias.detach() for m in members]).clone())
                    self.params.append(b)
                self._ops.append(("linear", w, b))
            elif isinstance(layer, BatchNorm1d):
                w = nn.Parameter(torch.stack([m.weight.detach() for m in members]).clone())
                b = nn.Parameter(torch.stack([m.bias.detach() for m in members]).clone())
                self.params.extend([w, b])
                rm = torch.stack([m.running_mean for m in members]).clone()
                rv = torch.stack([m.running_var for m in members]).clone()
                self._buffers_list += [rm, rv]
                noise = ((layer.shift_noise, layer.scale_noise)
                         if isinstance(layer, NoisyBatchNorm1d) else None)
                self._ops.append(("batch", w, b, rm, rv, layer.momentum, layer.eps, noise))
            elif isinstance(layer, nn.Identity):
                continue
            else:
                self._ops.append(("act", layer))
        self._leaves = plans[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[0] != self.G:
            raise ValueError(f"x must have shape (G={self.G}, N, features), got {tuple(x.shape)}")
        G, N = x.shape[0], x.shape[1]
        h = x
        for op in self._ops:
            if op[0] == "linear":
                _, w, b = op
                h = torch.bmm(h, w.transpose(1, 2))
                if b is not None:
                    h = h + b.unsqueeze(1)
            elif op[0] == "batch":
                _, w, b, rm, rv, momentum, eps, noise = op
                C = w.shape[1]
                flat = h.transpose(0, 1).reshape(N, G * C)          # unit (g, c) -> column g*C + c
                if self.training:
                    # two passes (mean, then mean square of the centred values): on CPU this is
                    # several times faster than torch.var_mean for these small, wide tensors
                    mean = flat.mean(0)
                    centred = flat - mean
                    var = (centred * centred).mean(0)
                    y = centred * torch.rsqrt(var + eps) * w.reshape(-1) + b.reshape(-1)
                    with torch.no_grad():
                        rm.view(-1).mul_(1 - momentum).add_(mean, alpha=momentum)
                        rv.view(-1).mul_(1 - momentum).add_(var * (N / (N - 1)), alpha=momentum)
                else:
                    y = NF.batch_norm(flat, rm.view(-1), rv.view(-1), w.reshape(-1), b.reshape(-1),
                                      training=False, eps=eps)
                if noise is not None and self.training:
                    shift_noise, scale_noise = noise
                    u = torch.rand(2, G * C, dtype=y.dtype)
                    y = y * (1.0 + scale_noise * (2.0 * u[0] - 1.0)) + shift_noise * (2.0 * u[1] - 1.0)
                h = y.reshape(N, G, C).transpose(0, 1)
            else:
                h = op[1](h)
        return h

    def ensemble_buffers(self) -> list[torch.Tensor]:
        """The running statistics, each ``(G, C)``."""
        return list(self._buffers_list)

    @torch.no_grad()
    def member(self, g: int, into: nn.Module | None = None) -> nn.Module:
        """Member ``g`` as an ordinary MLP (a copy of the first model, or ``into``, overwritten)."""
        if not 0 <= g < self.G:
            raise ValueError(f"g must be in [0, {self.G}), got {g!r}")
        model = copy.deepcopy(self._template) if into is None else into
        layers = [m for m in _layers(model) if isinstance(m, (nn.Linear, BatchNorm1d))]
        ops = [op for op in self._ops if op[0] != "act"]
        for layer, op in zip(layers, ops):
            layer.weight.copy_(op[1][g])
            if op[2] is not None:
                layer.bias.copy_(op[2][g])
            if op[0] == "batch":
                layer.running_mean.copy_(op[3][g])
                layer.running_var.copy_(op[4][g])
        return model


def _evaluate(ens: EnsembleMLP, X: torch.Tensor, y: torch.Tensor):
    """Per-member cross-entropy and accuracy on the whole set ``(X, y)``, in eval mode."""
    was_training = ens.training
    ens.eval()
    try:
        with torch.no_grad():
            logits = ens(X.unsqueeze(0).expand(ens.G, *X.shape))
            loss = nn.functional.cross_entropy(logits.transpose(1, 2), y.expand(ens.G, -1),
                                               reduction="none").mean(1)
            acc = (logits.argmax(2) == y).float().mean(1)
    finally:
        ens.train(was_training)
    return loss.tolist(), acc.tolist()


def ensemble_lr_sweep(build, train_data, *, lrs, seeds, epochs: int, batch_size: int,
                      val_data=None, make_probes=None, momentum: float = 0.9,
                      record_train: bool = True, return_models: bool = False):
    r""":func:`normres.bench.train.lr_sweep` for plain MLPs, with every (learning rate, seed) run trained
    at once as one :class:`EnsembleMLP` (SGD with ``momentum``, ``drop_last``).

    Run ``(lr, s)`` starts from ``torch.manual_seed(s); build()`` and shuffles with seed ``s``, as in
    ``lr_sweep``; a run whose loss becomes non-finite is frozen there (``History.diverged``, its
    last evaluation taken at that step), the others go on. ``make_probes(lr, s, model)`` may return
    ``on_step(step, model, loss)`` callables; they get an ordinary MLP holding the run's current
    state (refreshed before each call), once with ``step=0`` and then after every step.

    With ``record_train=False`` the per-epoch evaluation on the (large) training set is skipped and
    ``History.train_loss``/``train_acc`` stay empty: for sweeps that only read validation numbers.

    Returns ``{lr: [History per seed]}``, and with ``return_models=True`` also
    ``{lr: [trained MLP per seed]}``.
    """
    if not callable(build):
        raise TypeError(f"build must be a callable returning a model, got {type(build).__name__}")
    lrs, seeds = list(lrs), list(seeds)
    if not lrs or not seeds:
        raise ValueError("lrs and seeds must each hold at least one value")
    for lr in lrs:
        _checks.check_positive_number(lr, "lrs")
    _checks.check_positive_int(epochs, "epochs")
    _checks.check_positive_int(batch_size, "batch_size")
    X, y = train_data
    _checks.check_data(X, y, x_name="train_data[0]", y_name="train_data[1]")
    n = X.shape[0]
    if batch_size > n:
        raise ValueError(f"batch_size {batch_size} is larger than the training set ({n})")
    runs = [(lr, s) for lr in lrs for s in seeds]
    models = []
    for _, s in runs:
        torch.manual_seed(s)
        models.append(build())
    ens = EnsembleMLP(models)
    G = ens.G
    lr_t = torch.tensor([float(lr) for lr, _ in runs], dtype=X.dtype)
    gens = [torch.Generator().manual_seed(s) for _, s in runs]
    histories = [History() for _ in runs]
    active = torch.ones(G, dtype=torch.bool)
    params = list(ens.params)
    bufs = [None] * len(params)
    probes = {}
    if make_probes is not None:
        for g, (lr, s) in enumerate(runs):
            found = list(make_probes(lr, s, models[g]))
            if found:
                probes[g] = (models[g], found)

    def run_probes(step, losses):
        for g, (model, found) in probes.items():
            if not active[g]:
                continue
            due = [p for p in found if step % getattr(p, "every", 1) == 0]
            if due:
                ens.member(g, into=model)
                model.train()
                for p in due:
                    p(step, model, losses[g])

    def record(groups):
        if record_train:
            tl, ta = _evaluate(ens, X, y)
        vl, va = _evaluate(ens, *val_data) if val_data is not None else (None, None)
        for g in groups:
            if record_train:
                histories[g].train_loss.append(tl[g])
                histories[g].train_acc.append(ta[g])
            if val_data is not None:
                histories[g].val_loss.append(vl[g])
                histories[g].val_acc.append(va[g])

    run_probes(0, [float("nan")] * G)
    ens.train()
    stop = n - batch_size + 1
    step = 0
    frozen_buffers = [b.clone() for b in ens.ensemble_buffers()]
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(n, generator=gen) for gen in gens])   # (G, n)
        for start in range(0, stop, batch_size):
            idx = orders[:, start:start + batch_size]                                # (G, B)
            logits = ens(X[idx])
            losses = nn.functional.cross_entropy(logits.transpose(1, 2), y[idx], reduction="none").mean(1)
            values = losses.tolist()
            finite = torch.isfinite(losses)
            if not bool(finite[active].all()):
                newly = [g for g in range(G) if active[g] and not finite[g]]
                for g in newly:
                    histories[g].step_loss.append(values[g])
                    histories[g].diverged = True
                record(newly)
                for g in newly:
                    active[g] = False
                    for b, f in zip(ens.ensemble_buffers(), frozen_buffers):
                        f[g] = b[g]
                lr_t = torch.where(active, lr_t, 0.0)
                if not active.any():
                    break
                for g in range(G):
                    if active[g]:
                        histories[g].step_loss.append(values[g])
            else:
                for g in range(G):
                    if active[g]:
                        histories[g].step_loss.append(values[g])
            all_active = bool(active.all())
            total = losses.sum() if all_active else torch.where(active, losses, 0.0).sum()
            grads = torch.autograd.grad(total, params)
            with torch.no_grad():
                for i, (p, grad) in enumerate(zip(params, grads)):
                    view = (G,) + (1,) * (p.dim() - 1)
                    if not all_active:   # a diverged member's gradient may hold NaN: drop it
                        grad = torch.where(active.view(view), grad, 0.0)
                    if bufs[i] is None:
                        bufs[i] = grad.clone()
                    else:
                        bufs[i].mul_(momentum).add_(grad)
                    p.addcmul_(lr_t.view(view), bufs[i], value=-1.0)   # lr 0 for a frozen member
                if not all_active:   # frozen runs keep the statistics they had when they stopped
                    for b, f in zip(ens.ensemble_buffers(), frozen_buffers):
                        b.copy_(torch.where(active.view(G, 1), b, f))
            step += 1
            run_probes(step, values)
        if not active.any():
            break
        record([g for g in range(G) if active[g]])
    results = {lr: [] for lr in lrs}
    trained = {lr: [] for lr in lrs}
    for g, (lr, _) in enumerate(runs):
        results[lr].append(histories[g])
        if return_models:
            trained[lr].append(ens.member(g))
    return (results, trained) if return_models else results
