r"""Dynamic Tanh (Zhu et al. 2025), a normalization-free drop-in for layer norm.

.. math::

    y = \gamma \odot \tanh(\alpha\, x) + \beta,

with one learnable scalar :math:`\alpha` (initialised to ``alpha_init_value``, 0.5 in the paper) and
per-feature :math:`\gamma` (ones) and :math:`\beta` (zeros) of shape ``normalized_shape``. No
statistic is computed: each element is squashed on its own, so, like layer norm, an example never
depends on its batch companions, and unlike layer norm, not even on its other features.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from ._affine import register_affine, reset_affine


class DynamicTanh(nn.Module):
    r"""Dynamic Tanh, :math:`y = \gamma\odot\tanh(\alpha x) + \beta`, with the constructor style of
    :class:`normres.nn.LayerNorm`.

    Args:
        normalized_shape: int or tuple, the trailing shape of the input that :math:`\gamma` and
            :math:`\beta` cover.
        alpha_init_value: initial value of the scalar :math:`\alpha` (the paper's default is 0.5).
        elementwise_affine: learn :math:`\gamma` (ones) and :math:`\beta` (zeros) when True.
        bias: with ``bias=False`` only :math:`\gamma` is kept.

    Shape: input ``(*, *normalized_shape)``, output the same. Parameters: ``alpha`` ``(1,)``,
    ``weight`` and ``bias`` ``normalized_shape`` (or None).
    """

    def __init__(self, normalized_shape, alpha_init_value: float = 0.5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _checks.as_shape(normalized_shape)
        if (isinstance(alpha_init_value, bool) or not isinstance(alpha_init_value, (int, float))
                or not alpha_init_value > 0):
            raise ValueError(f"alpha_init_value must be a positive float, got {alpha_init_value!r}")
        self.alpha_init_value = float(alpha_init_value)
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.full((1,), self.alpha_init_value, **factory))
        register_affine(self, self.normalized_shape, elementwise_affine, bias, factory)

    def reset_parameters(self) -> None:
        """Set alpha to ``alpha_init_value``, gamma to 1 and beta to 0."""
        nn.init.constant_(self.alpha, self.alpha_init_value)
        reset_affine(self)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        _checks.check_tensor(input, "input")
        _checks.check_trailing_shape(input, self.normalized_shape)
        y = torch.tanh(self.alpha * input)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, alpha_init_value={self.alpha_init_value}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
