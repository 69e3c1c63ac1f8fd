r"""The one place where a Transformer block gets its normalization: :func:`make_norm`.

Every kind maps ``(B, T, D) -> (B, T, D)``; they differ in which numbers share a mean and variance:

====================  ========================================================================
``norm``              statistics
====================  ========================================================================
``"layer"``           one token's ``D`` features (:class:`normres.nn.LayerNorm`)
``"rms"``             one token's ``D`` features, no mean subtracted (:class:`normres.nn.RMSNorm`)
``"batch"``           one feature over all ``B*T`` positions, **padding included**, with running
                      statistics for evaluation: ``BatchNorm1d`` applied to tokens naively
``"masked_batch"``    one feature over the real tokens only (padding neither counts nor receives),
                      running statistics (:func:`normres.bench.sequences.masked_batch_norm`)
``"position_batch"``  one feature *at one position* over the sentences real there, running
                      statistics per position (:class:`normres.nn.PerPositionBatchNorm`; needs
                      ``max_len``, and refuses positions training never reached)
``"power"``           one feature's quadratic mean over the real tokens, a running average of it
                      in the forward pass after a warm-up (:class:`PowerNorm`, Shen et al. 2020)
``"dyt"``             none: :math:`\gamma\tanh(\alpha x)+\beta` per element (:class:`normres.nn.DynamicTanh`)
``"none"``            the identity
====================  ========================================================================

Call any of them through :func:`apply_norm`, which hands the padding mask to the kinds that take
one (they take it the other way round, True at *real* tokens).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from ..functional import check_sequence_input
from ..nn import (BatchNorm1d, DynamicTanh, LayerNorm, MaskedBatchNorm1d, PerPositionBatchNorm,
                  RMSNorm)
from ..nn._affine import register_affine, reset_affine

NORM_KINDS = ("layer", "rms", "batch", "masked_batch", "none", "dyt", "position_batch", "power")
MASKED_KINDS = (MaskedBatchNorm1d, PerPositionBatchNorm)   # (PowerNorm added below)


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


class _PowerScale(torch.autograd.Function):
    r"""``z = x / s_fwd`` with PowerNorm's approximate backward: for ``g = dL/dz``,
    ``g~ = g - (1 - alpha_bkw) * ema_gz * z``, ``dL/dx = g~ / s_bwd``, and ``ema_gz`` grows by the
    mean over real tokens of ``g~ * z`` (in place, as in the authors' code)."""

    @staticmethod
    def forward(ctx, x, s_fwd, s_bwd, ema_gz, alpha_bkw, mask):
        z = x / s_fwd
        ctx.save_for_backward(z, s_bwd, ema_gz, mask)
        ctx.alpha_bkw = alpha_bkw
        return z

    @staticmethod
    def backward(ctx, g):
        z, s_bwd, ema_gz, mask = ctx.saved_tensors
        approx = g - (1 - ctx.alpha_bkw) * ema_gz * z
        m = mask.unsqueeze(-1).to(z.dtype)
        n = m.sum().clamp(min=1.0)
        with torch.no_grad():
            ema_gz.add_((approx * z * m).sum(dim=(0, 1)) / n)
        return approx / s_bwd, None, None, None, None, None


class PowerNorm(nn.Module):
    r"""PowerNorm (Shen et al. 2020) for padded sequences, after the authors' ``MaskPowerNorm``
    (``group_num=1``).

    Input ``(B, T, D)`` and an optional bool ``mask`` ``(B, T)``, True at real tokens.

    1. Each token is first divided by its own root mean square, :math:`\hat x = x /
       \sqrt{\overline{x^2} + \epsilon}` (the authors' ``GroupScaling1D`` with one group).
    2. Training step :math:`i`: the batch's quadratic mean per feature over the real tokens,
       :math:`\psi^2_{B,d} = \frac1n\sum_{bt} m_{bt}\hat x_{btd}^2`, normalizes the batch while
       :math:`i \le` ``warmup_iters``; afterwards the *running* quadratic mean
       :math:`\psi^2_d` does (no mean is ever subtracted). The running value is the cumulative
       average of :math:`\psi^2_B` during the warm-up, then an exponential average,
       :math:`\psi^2 \leftarrow \alpha_{fwd}\psi^2 + (1-\alpha_{fwd})\psi^2_B`.
    3. Backward (the paper's approximate backpropagation): with :math:`z = \hat x/\psi` and
       :math:`g = \partial L/\partial z`, :math:`\tilde g = g - (1-\alpha_{bkw})\,\Gamma\odot z`,
       :math:`\partial L/\partial \hat x = \tilde g / \sqrt{\psi^2_B + \epsilon}`, and the buffer
       :math:`\Gamma` (``ema_gz``) accumulates the mean of :math:`\tilde g \odot z` over the real
       tokens (the authors average over every position, padding included).
    4. Evaluation: :math:`z = \hat x/\sqrt{\psi^2 + \epsilon}`, a fixed map per token.

    Output :math:`y = \gamma\odot z + \beta`, exactly 0 at padding. Parameters ``weight``, ``bias``
    ``(D,)``; buffers ``running_phi`` ``(D,)`` (:math:`\psi^2`), ``ema_gz`` ``(D,)``, ``iters``.
    The authors' default ``warmup_iters`` is 10000; runs of a few hundred steps need a shorter one.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, alpha_fwd: float = 0.9,
                 alpha_bkw: float = 0.9, warmup_iters: int = 10000, affine: bool = True,
                 bias: bool = True, group_scaling: bool = True):
        super().__init__()
        _checks.check_positive_int(num_features, "num_features")
        _checks.check_eps(eps)
        for name, value in (("alpha_fwd", alpha_fwd), ("alpha_bkw", alpha_bkw)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")
        if isinstance(warmup_iters, bool) or not isinstance(warmup_iters, int) or warmup_iters < 0:
            raise ValueError(f"warmup_iters must be a non-negative int, got {warmup_iters!r}")
        self.num_features, self.eps = num_features, eps
        self.alpha_fwd, self.alpha_bkw = float(alpha_fwd), float(alpha_bkw)
        self.warmup_iters, self.affine, self.group_scaling = warmup_iters, affine, group_scaling
        register_affine(self, (num_features,), affine, bias, {})
        reset_affine(self)
        self.register_buffer("running_phi", torch.ones(num_features))
        self.register_buffer("ema_gz", torch.zeros(num_features))
        self.register_buffer("iters", torch.tensor(0, dtype=torch.long))

    def forward(self, input: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        check_sequence_input(input, mask)
        if input.shape[-1] != self.num_features:
            raise ValueError(f"input must have {self.num_features} features on its last axis, "
                             f"got shape {tuple(input.shape)}")
        if mask is None:
            mask = torch.ones(input.shape[:2], dtype=torch.bool, device=input.device)
        x = input
        if self.group_scaling:
            x = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps)
        if self.training:
            self.iters.add_(1)
            i = int(self.iters)
            m = mask.unsqueeze(-1).to(x.dtype)
            n = m.sum().clamp(min=1.0)
            var = ((x.detach() ** 2) * m).sum(dim=(0, 1)) / n              # (D,) psi_B^2
            s_bwd = torch.sqrt(var + self.eps)
            s_fwd = s_bwd if i <= self.warmup_iters else torch.sqrt(self.running_phi + self.eps)
            z = _PowerScale.apply(x, s_fwd.clone(), s_bwd, self.ema_gz, self.alpha_bkw, mask)
            with torch.no_grad():
                if i < self.warmup_iters:
                    self.running_phi.mul_((i - 1) / i).add_(var / i)
                self.running_phi.mul_(self.alpha_fwd).add_((1 - self.alpha_fwd) * var)
        else:
            z = x * torch.rsqrt(self.running_phi + self.eps)
        if self.weight is not None:
            z = z * self.weight
        if self.bias is not None:
            z = z + self.bias
        return z * mask.unsqueeze(-1).to(z.dtype)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, alpha_fwd={self.alpha_fwd}, "
                f"alpha_bkw={self.alpha_bkw}, warmup_iters={self.warmup_iters}")


MASKED_KINDS = MASKED_KINDS + (PowerNorm,)


def check_norm_kind(norm) -> str:
    if norm not in NORM_KINDS:
        raise ValueError(f"norm must be one of {list(NORM_KINDS)}, got {norm!r}")
    return norm


def make_norm(norm: str, d_model: int, eps: float = 1e-5, *, bias: bool = True,
              max_len: int | None = None) -> nn.Module:
    """A fresh normalization module of kind ``norm`` (see the table above) for ``d_model`` features.

    ``bias=False`` drops the learned shift :math:`\\beta` (as ``torch.nn.LayerNorm(bias=False)``);
    ``"rms"`` has none anyway, ``"position_batch"`` cannot drop it (a ``ValueError`` says so).
    ``max_len`` is required by ``"position_batch"`` (the positions it keeps statistics for) and
    must be None for the other kinds.
    """
    check_norm_kind(norm)
    _checks.check_positive_int(d_model, "d_model")
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
    if norm == "position_batch":
        if max_len is None:
            raise ValueError("norm='position_batch' keeps statistics per position: max_len is required")
        if not bias:
            raise ValueError("bias=False is not available for norm='position_batch' "
                             "(normres.nn.PerPositionBatchNorm always has a shift)")
        return PerPositionBatchNorm(d_model, max_len, eps=eps)
    if max_len is not None:
        raise ValueError(f"max_len is only used by norm='position_batch', got max_len={max_len!r} "
                         f"with norm={norm!r}")
    if norm == "layer":
        return LayerNorm(d_model, eps=eps, bias=bias)
    if norm == "rms":
        return RMSNorm(d_model, eps=eps)
    if norm == "batch":
        return TokenBatchNorm(d_model, eps=eps, bias=bias)
    if norm == "masked_batch":
        module = MaskedBatchNorm1d(d_model, eps=eps)
        if not bias:
            module.register_parameter("bias", None)
        return module
    if norm == "power":
        return PowerNorm(d_model, eps=eps, bias=bias)
    if norm == "dyt":
        return DynamicTanh(d_model, bias=bias)
    return nn.Identity()


def apply_norm(norm: nn.Module, x: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Apply ``norm`` to ``x`` ``(B, T, D)``: masked batch norm, per-position batch norm and
    PowerNorm get the real-token mask ``~key_padding_mask``; every other kind ignores the mask
    (``"batch"`` on purpose)."""
    if isinstance(norm, MASKED_KINDS):
        return norm(x, None if key_padding_mask is None else ~key_padding_mask)
    return norm(x)
