"""Hooks that look inside a network: activations on the way forward, gradient norms per layer.

Plumbing for the chapters; each probe removes its hooks when done so a model can be probed again.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .. import _checks


def _check_snapshots(acts) -> None:
    _checks.check_tensor(acts, "acts")
    if acts.dim() != 3 or acts.shape[0] < 2 or acts.shape[1] < 2:
        raise ValueError(f"acts must have shape (T >= 2, N >= 2, units), got {tuple(acts.shape)}")


@contextmanager
def record_outputs(modules: dict[str, nn.Module]):
    """Record the (detached) output of each named module on every forward pass.

    Usage::

        with record_outputs({"fc3": model.stem[0]}) as rec:
            model(X)
        rec["fc3"]  # list of tensors, one per forward pass
    """
    records: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    handles = []
    for name, module in modules.items():
        def hook(_module, _inputs, output, name=name):
            records[name].append(output.detach().clone())
        handles.append(module.register_forward_hook(hook))
    try:
        yield records
    finally:
        for h in handles:
            h.remove()


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``Linear`` and ``Conv2d`` layers of ``model`` in registration order, with their names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def weight_grad_norms(model: nn.Module, loss: torch.Tensor) -> list[float]:
    """Back-propagate ``loss`` and return the Frobenius norm of the gradient of every weight
    matrix (``Linear``/``Conv2d``), from the input side to the output side.

    Existing ``.grad`` fields are cleared first, so the numbers belong to this loss alone.
    """
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [m.weight.grad.norm().item() for _, m in weight_layers(model)]


def input_gradient(model: nn.Module, x: torch.Tensor, output_fn=None) -> torch.Tensor:
    """Gradient of ``output_fn(model(x))`` (default: the sum of the outputs) with respect to ``x``.

    Returns a tensor of ``x``'s shape; ``x`` itself is not modified.
    """
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    value = out.sum() if output_fn is None else output_fn(out)
    (grad,) = torch.autograd.grad(value, x)
    return grad


class ActivationTracker:
    """Watch one layer while a network trains: a callable for ``normres.train.train(on_step=...)``.

    Every ``every`` optimizer steps (and whenever it is called directly, e.g. ``tracker(0, model)``
    before training) it runs the fixed probe batch ``X`` through the model and keeps the output of
    ``module`` (shape ``(N, units)``; with ``units`` a list of indices, only those columns). If
    ``eval_data=(X_eval, y_eval)`` is given it also records the eval-mode accuracy on it.

    ``mode='eval'`` probes with the model in evaluation mode (batch norm uses its running
    statistics, noise layers are off). ``mode='train'`` probes the way a training step sees the
    layer: batch norm normalizes with the statistics of ``X`` and noise layers draw noise. In both
    modes the model's buffers (running statistics) and the global torch RNG state are restored
    afterwards, so tracking never changes the course of training.

    After training, :attr:`acts` is a tensor ``(T, N, units)`` over the ``T`` probes, :attr:`steps`
    and :attr:`accuracy` are lists of length ``T``.
    """

    def __init__(self, module: nn.Module, X: torch.Tensor, every: int = 10, mode: str = "eval",
                 units=None, eval_data: tuple[torch.Tensor, torch.Tensor] | None = None):
        _checks.check_module(module, "module")
        _checks.check_tensor(X, "X")
        _checks.check_positive_int(every, "every")
        _checks.check_one_of(mode, ("eval", "train"), "mode")
        self.module, self.X, self.every, self.mode = module, X, every, mode
        self.units = None if units is None else list(units)
        self.eval_data = eval_data
        self.steps: list[int] = []
        self.accuracy: list[float] = []
        self._acts: list[torch.Tensor] = []

    @torch.no_grad()
    def _probe(self, model: nn.Module) -> torch.Tensor:
        was_training = model.training
        buffers = [b.detach().clone() for b in model.buffers()]
        rng = torch.get_rng_state()
        model.train(self.mode == "train")
        try:
            with record_outputs({"out": self.module}) as rec:
                model(self.X)
            out = rec["out"][-1]
            if self.eval_data is not None:
                model.eval()
                Xe, ye = self.eval_data
                self.accuracy.append((model(Xe).argmax(dim=1) == ye).float().mean().item())
        finally:
            for b, b0 in zip(model.buffers(), buffers):
                b.copy_(b0)
            torch.set_rng_state(rng)
            model.train(was_training)
        out = out.reshape(out.shape[0], -1)
        return out if self.units is None else out[:, self.units]

    def __call__(self, step: int, model: nn.Module, loss=None) -> None:
        if step % self.every != 0:
            return
        self.steps.append(int(step))
        self._acts.append(self._probe(model))

    @property
    def acts(self) -> torch.Tensor:
        """The recorded outputs, ``(T, N, units)``."""
        if not self._acts:
            raise ValueError("nothing recorded yet: call the tracker or pass it to train(on_step=...)")
        return torch.stack(self._acts)


def distribution_path_length(acts: torch.Tensor) -> torch.Tensor:
    r"""How far each unit's distribution travels over a sequence of snapshots, in units of its width.

    ``acts`` has shape ``(T, N, units)``: ``T`` snapshots of the same ``N`` probe examples. For unit
    ``j`` with values :math:`a_t` at snapshot ``t`` this returns

    .. math::

        D_j = \frac{\sum_{t=1}^{T-1} W_1(a_{t-1}, a_t)}{\frac1T\sum_t \mathrm{std}(a_t)},

    where :math:`W_1` is the 1-Wasserstein (earth mover's) distance between the two empirical
    distributions of ``N`` values, the mean absolute difference of their sorted values. A shift of
    the mean by :math:`\delta` adds :math:`|\delta|` to the numerator; a change of spread adds its
    share too. Returns a tensor of shape ``(units,)``.
    """
    _check_snapshots(acts)
    a = acts.to(torch.float64).sort(dim=1).values
    w1 = (a[1:] - a[:-1]).abs().mean(dim=1).sum(dim=0)
    width = a.std(dim=1, correction=0).mean(dim=0)
    return w1 / width.clamp_min(torch.finfo(torch.float64).tiny)


def median_excursion(acts: torch.Tensor) -> torch.Tensor:
    r"""How far each unit's median wanders over a sequence of snapshots, in units of its spread.

    ``acts`` has shape ``(T, N, units)``: ``T`` snapshots of the same ``N`` probe examples. With
    :math:`q_p(t)` the ``p``-th percentile of a unit's ``N`` values at snapshot ``t``, this returns

    .. math::

        E_j = \frac{\max_t q_{50}(t) - \min_t q_{50}(t)}{\frac1T\sum_t \big(q_{85}(t) - q_{15}(t)\big)},

    the range of the median over training divided by the average width of the central 70% (the
    percentiles Ioffe and Szegedy plot in their Figure 1). Returns a tensor of shape ``(units,)``.
    """
    _check_snapshots(acts)
    q = torch.quantile(acts.to(torch.float64), torch.tensor([0.15, 0.5, 0.85], dtype=torch.float64), dim=1)
    median_range = q[1].max(dim=0).values - q[1].min(dim=0).values
    width = (q[2] - q[0]).mean(dim=0)
    return median_range / width.clamp_min(torch.finfo(torch.float64).tiny)
