r"""The one place where a Transformer block gets its normalization: :func:`make_norm`.

Every kind maps ``(B, T, D) -> (B, T, D)``; they differ in which numbers share a mean and variance:

==================  ==========================================================================
``norm``            statistics
==================  ==========================================================================
``"layer"``         one token's ``D`` features (:class:`normres.nn.LayerNorm`)
``"rms"``           one token's ``D`` features, no mean subtracted (:class:`normres.nn.RMSNorm`)
``"batch"``         one feature over all ``B*T`` positions, **padding included**, with running
                    statistics for evaluation: ``BatchNorm1d`` applied to tokens naively
``"masked_batch"``  one feature over the real tokens only (padding neither counts nor receives),
                    running statistics (:func:`normres.bench.sequences.masked_batch_norm`)
``"dyt"``           none: :math:`\gamma\tanh(\alpha x)+\beta` per element (:class:`normres.nn.DynamicTanh`)
``"none"``          the identity
==================  ==========================================================================

Call any of them through :func:`apply_norm`, which hands the padding mask to the two batch kinds
(``MaskedBatchNorm1d`` takes the mask the other way round, True at *real* tokens).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from ..nn import BatchNorm1d, DynamicTanh, LayerNorm, MaskedBatchNorm1d, RMSNorm

NORM_KINDS = ("layer", "rms", "batch", "masked_batch", "none", "dyt")


class TokenBatchNorm(BatchNorm1d):
    r"""Batch norm over tokens the naive way: ``(B, T, D)`` is viewed as ``B*T`` examples of ``D``
    features, padding included, exactly ``BatchNorm1d`` on ``x.reshape(B*T, D)``.

    In training mode each feature's mean and variance come from all ``B*T`` positions, so a
    sentence's output depends on its companions *and on how much padding the batch has*. Same
    parameters, buffers and ``state_dict`` keys as :class:`normres.nn.BatchNorm1d`.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        _checks.check_tensor(input, "input")
        if input.dim() != 3:
            raise ValueError(f"input must have shape (B, T, D), got {tuple(input.shape)}")
        B, T, D = input.shape
        return super().forward(input.reshape(B * T, D)).reshape(B, T, D)


def check_norm_kind(norm) -> str:
    if norm not in NORM_KINDS:
        raise ValueError(f"norm must be one of {list(NORM_KINDS)}, got {norm!r}")
    return norm


def make_norm(norm: str, d_model: int, eps: float = 1e-5) -> nn.Module:
    """A fresh normalization module of kind ``norm`` (see the table above) for ``d_model`` features."""
    check_norm_kind(norm)
    _checks.check_positive_int(d_model, "d_model")
    if norm == "layer":
        return LayerNorm(d_model, eps=eps)
    if norm == "rms":
        return RMSNorm(d_model, eps=eps)
    if norm == "batch":
        return TokenBatchNorm(d_model, eps=eps)
    if norm == "masked_batch":
        return MaskedBatchNorm1d(d_model, eps=eps)
    if norm == "dyt":
        return DynamicTanh(d_model)
    return nn.Identity()


def apply_norm(norm: nn.Module, x: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Apply ``norm`` to ``x`` ``(B, T, D)``: masked batch norm gets the real-token mask
    ``~key_padding_mask``, every other kind ignores the mask (``"batch"`` on purpose)."""
    if isinstance(norm, MaskedBatchNorm1d):
        return norm(x, None if key_padding_mask is None else ~key_padding_mask)
    return norm(x)
