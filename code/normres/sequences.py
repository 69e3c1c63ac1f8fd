r"""Synthetic padded token batches and the batch-norm variants one would try on them.

A "sentence" here is a 1-D tensor of token ids in ``1 .. vocab_size-1``; id ``0`` is the padding
token. A batch of sentences of different lengths is padded to a common length ``T`` and embedded
into an input ``x`` of shape ``(B, T, D)`` with a boolean ``mask`` of shape ``(B, T)`` that is True
at real tokens and False at padding. Nothing is downloaded: the embedding table is random.

Two normalizations that use batch statistics on such input are provided as plumbing for the
chapter *Batch norm and sequences* (which writes them out first):

- :func:`masked_batch_norm`: one mean and variance per feature ``d`` over the real tokens only,

  .. math::

      \mu_d = \frac{\sum_{b,t} m_{bt}\, x_{btd}}{\sum_{b,t} m_{bt}}, \qquad
      \sigma^2_d = \frac{\sum_{b,t} m_{bt}\,(x_{btd}-\mu_d)^2}{\sum_{b,t} m_{bt}};

- :class:`PerPositionBatchNorm`: one mean and variance per feature *and position* ``t``, over the
  sentences of the batch that are real at ``t`` (what ``BatchNorm1d`` applied to ``x[:, t, :]``
  separately at every ``t`` means), with running statistics per position.
"""

from __future__ import annotations

import torch
from torch import nn

from . import _checks

__all__ = [
    "PAD_ID",
    "embedding_table",
    "random_lengths",
    "random_sentences",
    "pad_batch",
    "sinusoidal_positions",
    "masked_batch_norm",
    "PerPositionBatchNorm",
]

PAD_ID = 0


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def embedding_table(vocab_size: int, dim: int, *, offset: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A fixed random embedding table ``E`` of shape ``(vocab_size, dim)``.

    Row ``v`` is :math:`E_v = \mathrm{offset}\cdot a + z_v` with one shared vector
    :math:`a \sim \mathcal N(0, I_{dim})` and :math:`z_v \sim \mathcal N(0, I_{dim})` per token, so
    the features of real tokens have non-zero means, like the activations inside a network. Row
    ``PAD_ID`` (0) is all zeros, the usual ``padding_idx`` convention.
    """
    _checks.check_positive_int(vocab_size, "vocab_size")
    _checks.check_positive_int(dim, "dim")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2 (padding plus one real token), got {vocab_size}")
    if isinstance(offset, bool) or not isinstance(offset, (int, float)):
        raise TypeError(f"offset must be a float, got {type(offset).__name__}")
    _check_generator(generator)
    shared = torch.randn(dim, generator=generator)
    table = offset * shared + torch.randn(vocab_size, dim, generator=generator)
    table[PAD_ID] = 0.0
    return table


def random_lengths(n: int, min_len: int, max_len: int, *,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` sentence lengths drawn uniformly from ``min_len .. max_len`` (inclusive), int64 ``(n,)``."""
    _checks.check_positive_int(n, "n")
    _checks.check_positive_int(min_len, "min_len")
    _checks.check_positive_int(max_len, "max_len")
    if max_len < min_len:
        raise ValueError(f"max_len must be >= min_len, got min_len={min_len} and max_len={max_len}")
    _check_generator(generator)
    return torch.randint(min_len, max_len + 1, (n,), generator=generator)


def random_sentences(lengths, vocab_size: int, *,
                     generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """One sentence per entry of ``lengths``: a 1-D int64 tensor of that many token ids drawn
    uniformly from ``1 .. vocab_size-1`` (never the padding id 0)."""
    _checks.check_positive_int(vocab_size, "vocab_size")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2 (padding plus one real token), got {vocab_size}")
    _check_generator(generator)
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.tolist()
    try:
        lengths = list(lengths)
    except TypeError as err:
        raise TypeError(f"lengths must be a sequence of positive ints, got {type(lengths).__name__}") from err
    for n in lengths:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"lengths must hold positive ints, got {lengths}")
    return [torch.randint(1, vocab_size, (n,), generator=generator) for n in lengths]


def pad_batch(sentences, pad_to: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sentences into ``ids`` of shape ``(B, T)``, right-padded with ``PAD_ID``, and a bool
    ``mask`` ``(B, T)`` that is True at real tokens.

    ``T`` is ``pad_to`` if given (it must be at least the longest sentence), else the longest length.
    """
    sentences = list(sentences)
    if not sentences:
        raise ValueError("sentences must hold at least one sentence")
    for s in sentences:
        if not isinstance(s, torch.Tensor) or s.dim() != 1 or s.dtype != torch.long or s.numel() == 0:
            raise TypeError("sentences must be non-empty 1-D int64 tensors of token ids")
    longest = max(s.numel() for s in sentences)
    if pad_to is None:
        pad_to = longest
    _checks.check_positive_int(pad_to, "pad_to")
    if pad_to < longest:
        raise ValueError(f"pad_to must be at least the longest sentence ({longest}), got {pad_to}")
    ids = torch.full((len(sentences), pad_to), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(sentences), pad_to), dtype=torch.bool)
    for i, s in enumerate(sentences):
        ids[i, :s.numel()] = s
        mask[i, :s.numel()] = True
    return ids, mask


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    r"""The Transformer's sinusoidal position encodings, shape ``(length, dim)``:
    :math:`P_{t,2i} = \sin(t/10000^{2i/dim})`, :math:`P_{t,2i+1} = \cos(t/10000^{2i/dim})`."""
    _checks.check_positive_int(length, "length")
    _checks.check_positive_int(dim, "dim")
    t = torch.arange(length, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, dtype=torch.float32)
    angle = t / torch.pow(10000.0, i / dim)
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


def _check_sequence_input(input, mask) -> None:
    _checks.check_tensor(input, "input")
    if input.dim() != 3:
        raise ValueError(f"input must have shape (B, T, D), got {tuple(input.shape)}")
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError("mask must be a bool tensor of shape (B, T)")
    if tuple(mask.shape) != tuple(input.shape[:2]):
        raise ValueError(f"mask must have shape {tuple(input.shape[:2])} (the input's B, T), "
                         f"got {tuple(mask.shape)}")


def masked_batch_norm(input, mask, running_mean=None, running_var=None, weight=None, bias=None,
                      training=True, momentum=0.1, eps=1e-5):
    r"""Batch norm over the real tokens of a padded batch; padding neither contributes nor receives.

    Args:
        input: ``(B, T, D)``.
        mask: bool ``(B, T)``, True at real tokens.
        running_mean, running_var: ``(D,)`` buffers or None; in training they are updated in place as
            in :func:`normres.functional.batch_norm` (momentum weighs the new batch; the running
            variance averages the *unbiased* variance over the :math:`n=\sum m` real tokens); in
            evaluation they replace the batch statistics.
        weight, bias: ``(D,)`` or None.
        training: use the statistics of this batch's real tokens when True.

    Returns:
        ``(B, T, D)``: :math:`(x-\mu_d)/\sqrt{\sigma_d^2+\epsilon}\cdot\gamma_d+\beta_d` at real
        tokens, with :math:`\mu_d, \sigma^2_d` the mean and biased variance over real tokens, and
        exactly 0 at padding.
    """
    _check_sequence_input(input, mask)
    if mask is None:
        raise TypeError("mask must be a bool tensor of shape (B, T), got None")
    _checks.check_eps(eps)
    _checks.check_momentum(momentum)
    D = input.shape[2]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _checks.check_optional_tensor(t, name, (D,), input.dtype)
    m = mask.unsqueeze(-1).to(input.dtype)
    if training:
        n = int(mask.sum())
        if n <= 1:
            raise ValueError(f"masked_batch_norm needs more than 1 real token when training, got {n}")
        mean = (input * m).sum(dim=(0, 1)) / n
        var = ((input - mean) ** 2 * m).sum(dim=(0, 1)) / n
        with torch.no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            if running_var is not None:
                running_var.mul_(1 - momentum).add_(var.detach() * (n / (n - 1)), alpha=momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("running_mean and running_var must be given when training=False")
        mean, var = running_mean, running_var
    y = (input - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y * m


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
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(max_len, num_features))
        self.register_buffer("running_var", torch.ones(max_len, num_features))
        self.register_buffer("num_batches_tracked", torch.zeros(max_len, dtype=torch.long))

    def forward(self, input: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_sequence_input(input, mask)
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
