"""Per-example normalization modules (``LayerNorm``, ``GroupNorm``, ``RMSNorm``) mirroring ``torch.nn``.

None of them keeps running statistics: every example is normalized with its own, so training and
evaluation compute the same function and the batch size does not matter.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from .. import functional as F
from ._affine import register_affine, reset_affine


class LayerNorm(nn.Module):
    r"""Layer norm over the trailing ``normalized_shape`` axes, like :class:`torch.nn.LayerNorm`.

    :math:`y = \frac{x-\mathrm{E}[x]}{\sqrt{\mathrm{Var}[x]+\epsilon}}\gamma + \beta`; ``weight``
    (:math:`\gamma`, ones) and ``bias`` (:math:`\beta`, zeros) have shape ``normalized_shape`` when
    ``elementwise_affine``; ``bias=False`` drops :math:`\beta`. Input ``(*, *normalized_shape)``.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _checks.as_shape(normalized_shape)
        _checks.check_eps(eps)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        register_affine(self, self.normalized_shape, elementwise_affine, bias, factory)

    def reset_parameters(self) -> None:
        """Set gamma to 1 and beta to 0."""
        reset_affine(self)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(nn.Module):
    """Group norm, like :class:`torch.nn.GroupNorm`: ``num_groups`` groups of channels per example.

    Input ``(N, num_channels, *)``; ``weight`` and ``bias`` have shape ``(num_channels,)``.
    ``num_channels`` must be divisible by ``num_groups``.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *,
                 bias=True):
        super().__init__()
        _checks.check_positive_int(num_groups, "num_groups")
        _checks.check_positive_int(num_channels, "num_channels")
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels must be divisible by num_groups, got num_channels={num_channels} "
                f"and num_groups={num_groups}"
            )
        _checks.check_eps(eps)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        factory = {"device": device, "dtype": dtype}
        register_affine(self, num_channels, affine, bias, factory)

    def reset_parameters(self) -> None:
        """Set gamma to 1 and beta to 0."""
        reset_affine(self)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        _checks.check_tensor(input, "input")
        if input.dim() < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm expects input of shape (N, {self.num_channels}, *), "
                f"got {tuple(input.shape)}"
            )
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(nn.Module):
    r"""RMS norm, like :class:`torch.nn.RMSNorm`: :math:`y = x/\sqrt{\mathrm{mean}(x^2)+\epsilon}\cdot\gamma`.

    Only a ``weight`` (:math:`\gamma`, ones, shape ``normalized_shape``); ``eps=None`` means the
    machine epsilon of the input's dtype.
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _checks.as_shape(normalized_shape)
        if eps is not None:
            _checks.check_eps(eps)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """Set gamma to 1."""
        if self.weight is not None:
            nn.init.ones_(self.weight)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
