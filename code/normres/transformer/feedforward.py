r"""The position-wise feed-forward sublayer, :math:`\mathrm{FFN}(x) = W_2\,\phi(W_1 x + b_1) + b_2`."""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks

ACTIVATIONS = {"relu": nn.functional.relu, "gelu": nn.functional.gelu}


def check_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return activation


class FeedForward(nn.Module):
    r"""Two linear maps with an activation between them, applied to every token on its own.

    .. math::

        \mathrm{FFN}(x) = W_2\,\phi(W_1 x + b_1) + b_2, \qquad
        W_1 \in \mathbb R^{d_{ff}\times D},\; W_2 \in \mathbb R^{D\times d_{ff}},

    with :math:`\phi` ReLU or the exact (erf) GELU. Named ``linear1``/``linear2`` like
    :class:`torch.nn.TransformerEncoderLayer`. Shapes: ``(*, D) -> (*, D)``.
    """

    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", bias: bool = True):
        super().__init__()
        _checks.check_positive_int(d_model, "d_model")
        _checks.check_positive_int(d_ff, "d_ff")
        self.activation = check_activation(activation)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(ACTIVATIONS[self.activation](self.linear1(x)))

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"
