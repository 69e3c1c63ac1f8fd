"""Hooks that look inside a network: activations on the way forward, gradient norms per layer.

Plumbing for the chapters; each probe removes its hooks when done so a model can be probed again.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


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
