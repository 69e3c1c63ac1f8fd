r"""Batch norm for padded sequences ``(B, T, D)`` with a mask ``(B, T)``, True at real tokens.

- :class:`MaskedBatchNorm1d`: one mean and variance per feature over the *real* tokens of the batch
  (padding neither contributes nor receives), with running statistics like ``BatchNorm1d``;
- :class:`PerPositionBatchNorm`: one mean and variance per feature *and position*, over the
  sentences real at that position (``BatchNorm1d`` applied to ``x[:, t, :]`` for each ``t``).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from ..functional import check_sequence_input, masked_batch_norm
from ._affine import register_affine, reset_affine

__all__ = ["MaskedBatchNorm1d", "PerPositionBatchNorm"]


class MaskedBatchNorm1d(nn.Module):
    r"""Batch norm over the real tokens of a padded batch, :func:`normres.functional.masked_batch_norm`
    as a module.

    Input ``(B, T, D)`` and a bool ``mask`` ``(B, T)`` (True at real tokens; ``None`` means no
    padding). In training, with :math:`n=\sum_{b,t} m_{bt}` real tokens,

    .. math::

        \mu_d = \tfrac1n \textstyle\sum_{b,t} m_{bt} x_{btd},\qquad
        \sigma^2_d = \tfrac1n \textstyle\sum_{b,t} m_{bt}(x_{btd}-\mu_d)^2,\qquad
        y_{btd} = m_{bt}\Big(\frac{x_{btd}-\mu_d}{\sqrt{\sigma^2_d+\epsilon}}\,\gamma_d+\beta_d\Big),

    and the running statistics move as torch's ``BatchNorm1d``'s do (``momentum`` weighs the new
    batch; the running variance averages the unbiased variance). In evaluation the running
    statistics replace the batch's. Parameters ``weight``, ``bias`` ``(D,)``; buffers
    ``running_mean``, ``running_var`` ``(D,)`` and ``num_batches_tracked``: the names and shapes of
    ``torch.nn.BatchNorm1d(D)``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True):
        super().__init__()
        _checks.check_positive_int(num_features, "num_features")
        _checks.check_eps(eps)
        _checks.check_momentum(momentum)
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        register_affine(self, (num_features,), affine, True, {})
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        reset_affine(self)

    def forward(self, input: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        check_sequence_input(input, mask)
        if mask is None:
            mask = torch.ones(input.shape[:2], dtype=torch.bool, device=input.device)
        if self.training:
            self.num_batches_tracked.add_(1)
        return masked_batch_norm(input, mask, self.running_mean, self.running_var, self.weight,
                                 self.bias, training=self.training, momentum=self.momentum,
                                 eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class PerPositionBatchNorm(nn.Module):
    r"""Batch norm with separate statistics for every position ``t < max_len``.

    In training, position ``t`` of a ``(B, T, D)`` input is normalized with the mean and biased
    variance of ``x[b, t, :]`` over the sentences ``b`` that are real at ``t`` (all of them when no
    mask is given), exactly ``batch_norm(x[:, t, :])`` for a batch without padding. If only one
    sentence is real at ``t``, its variance there is 0 and it is mapped to :math:`\beta`. Positions
    with at least 2 real tokens update their running statistics (as torch's ``BatchNorm1d``, with
    the unbiased variance) and their entry of ``num_batches_tracked``, shape ``(max_len,)``.

    In evaluation, every real token must sit at a position that training has seen
    (``num_batches_tracked[t] > 0``); otherwise a ``ValueError`` says which positions have no
    running statistics. Outputs at padding are exactly 0.

    Parameters ``weight``, ``bias``: ``(D,)``, shared by all positions. Buffers ``running_mean``,
    ``running_var``: ``(max_len, D)``.
    """

    def __init__(self, num_features: int, max_len: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True):
        super().__init__()
        _checks.check_positive_int(num_features, "num_features")
        _checks.check_positive_int(max_len, "max_len")
        _checks.check_eps(eps)
        _checks.check_momentum(momentum)
        self.num_features = num_features
        self.max_len = max_len
        self.eps = eps
        self.momentum = momentum
        register_affine(self, (num_features,), affine, True, {})
        self.register_buffer("running_mean", torch.zeros(max_len, num_features))
        self.register_buffer("running_var", torch.ones(max_len, num_features))
        self.register_buffer("num_batches_tracked", torch.zeros(max_len, dtype=torch.long))

    def forward(self, input: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        check_sequence_input(input, mask)
        B, T, D = input.shape
        if D != self.num_features:
            raise ValueError(f"input must have {self.num_features} features on its last axis, "
                             f"got shape {tuple(input.shape)}")
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool)
        real_positions = mask.any(dim=0).nonzero().flatten()
        longest = int(real_positions.max()) + 1 if real_positions.numel() else 0
        if longest > self.max_len:
            raise ValueError(f"input has real tokens at position {longest - 1}, but this layer keeps "
                             f"statistics for positions 0..{self.max_len - 1} only (max_len={self.max_len})")
        T_used = min(T, self.max_len)
        x = input[:, :T_used]
        m = mask[:, :T_used].unsqueeze(-1).to(input.dtype)
        if self.training:
            n = m.sum(dim=0)                                   # (T_used, 1)
            safe_n = n.clamp(min=1.0)
            mean = (x * m).sum(dim=0) / safe_n                 # (T_used, D)
            var = ((x - mean) ** 2 * m).sum(dim=0) / safe_n
            with torch.no_grad():
                upd = n.squeeze(-1) >= 2                       # positions with a variance estimate
                unbiased = var * n / (n - 1).clamp(min=1.0)
                mom = self.momentum
                rm, rv = self.running_mean[:T_used], self.running_var[:T_used]
                rm[upd] = (1 - mom) * rm[upd] + mom * mean.detach()[upd]
                rv[upd] = (1 - mom) * rv[upd] + mom * unbiased.detach()[upd]
                self.num_batches_tracked[:T_used][upd] += 1
        else:
            seen = self.num_batches_tracked[:T_used] > 0
            missing = [int(t) for t in real_positions if not bool(seen[t])]
            if missing:
                where = (f"position {missing[0]}" if len(missing) == 1
                         else f"positions {missing[0]}..{missing[-1]}" if missing[-1] - missing[0] == len(missing) - 1
                         else f"positions {missing}")
                verb = "has" if len(missing) == 1 else "have"
                raise ValueError(f"input has real tokens at {where}, which {verb} no running statistics: "
                                 f"no training batch had two or more real tokens there")
            mean = self.running_mean[:T_used]
            var = self.running_var[:T_used]
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight + self.bias
        y = y * m
        if T_used < T:   # trailing positions beyond max_len hold padding only
            y = torch.cat([y, torch.zeros(B, T - T_used, D, dtype=y.dtype)], dim=1)
        return y

    def extra_repr(self) -> str:
        return f"{self.num_features}, max_len={self.max_len}, eps={self.eps}, momentum={self.momentum}"
