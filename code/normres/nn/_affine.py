"""The learned scale and shift (gamma, beta) that every normalization module carries.

torch registers them as ``weight`` (ones) and ``bias`` (zeros), or as ``None`` when they are
switched off, so that ``state_dict`` keys and ``named_parameters()`` look the same whatever the
options; the helpers here keep our modules identical to torch's in that respect.
"""

from __future__ import annotations

import torch
from torch import nn


def register_affine(module: nn.Module, shape, affine: bool, bias: bool, factory: dict) -> None:
    """Give ``module`` a ``weight`` of ones and a ``bias`` of zeros, both of ``shape``.

    ``affine=False`` registers both as None; ``bias=False`` keeps the scale but not the shift.
    """
    if affine:
        module.weight = nn.Parameter(torch.ones(shape, **factory))
        if bias:
            module.bias = nn.Parameter(torch.zeros(shape, **factory))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def reset_affine(module: nn.Module) -> None:
    """Set gamma to 1 and beta to 0, skipping whichever is absent."""
    if module.weight is not None:
        nn.init.ones_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
