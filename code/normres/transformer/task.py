r"""Synthetic token-tagging tasks with variable lengths and padding, learnable on a CPU in seconds.

A batch holds ``B`` sentences of lengths drawn uniformly from ``min_len..max_len``, tokens drawn
uniformly from the real ids ``1..vocab_size-1``, right-padded with id 0 to the longest sentence of
the batch (or to ``pad_to``). Each real token gets a label that depends on *other* tokens of its
sentence, so a model must attend across the sequence:

- ``"count"``: how many tokens of the sentence equal this one (itself included), capped at
  ``max_count``; class ``c-1`` means "``c`` times" (``c = max_count`` means "``max_count`` or more").
  It does not depend on the order of the tokens, so it needs no position information.
- ``"above_mean"``: 1 if the token id is larger than the mean id of its sentence, else 0. One
  uniform attention head plus a comparison solves it; it needs no position information either.
- ``"sort"``: the ``t``-th smallest token of the sentence at position ``t`` (the sentence sorted).
- ``"reverse"``: the token at the mirrored position ``L-1-t`` of a sentence of length ``L``.

Labels at padding are :data:`IGNORE_INDEX` (-100), which ``torch.nn.functional.cross_entropy``
skips. The key-padding mask is True at padding, the convention of :mod:`torch.nn` attention.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .. import _checks

IGNORE_INDEX = -100
PAD_ID = 0
TASKS = ("count", "above_mean", "sort", "reverse")


class TokenBatch(NamedTuple):
    """``tokens`` int64 ``(B, T)``; ``key_padding_mask`` bool ``(B, T)``, True at padding;
    ``labels`` int64 ``(B, T)``, :data:`IGNORE_INDEX` at padding."""

    tokens: torch.Tensor
    key_padding_mask: torch.Tensor
    labels: torch.Tensor

    def select(self, index) -> "TokenBatch":
        """The sentences ``index`` (an int, slice, list or tensor of indices), still padded to ``T``."""
        if isinstance(index, int):
            index = [index]
        return TokenBatch(self.tokens[index], self.key_padding_mask[index], self.labels[index])

    def padded_to(self, length: int) -> "TokenBatch":
        """The same sentences with padding added (or trailing all-padding columns removed) so that
        ``T == length``; raises if a real token would be cut off."""
        _checks.check_positive_int(length, "length")
        longest = int((~self.key_padding_mask).sum(1).max()) if self.tokens.numel() else 0
        if length < longest:
            raise ValueError(f"length must be at least the longest sentence ({longest}), got {length}")
        T = self.tokens.shape[1]
        if length <= T:
            return TokenBatch(self.tokens[:, :length], self.key_padding_mask[:, :length], self.labels[:, :length])
        extra = length - T
        B = self.tokens.shape[0]
        return TokenBatch(torch.cat([self.tokens, torch.full((B, extra), PAD_ID, dtype=torch.long)], 1),
                          torch.cat([self.key_padding_mask, torch.ones(B, extra, dtype=torch.bool)], 1),
                          torch.cat([self.labels, torch.full((B, extra), IGNORE_INDEX, dtype=torch.long)], 1))


def concat_batches(*batches: TokenBatch) -> TokenBatch:
    """One batch holding the sentences of all ``batches``, padded to the longest ``T`` among them."""
    if not batches or not all(isinstance(b, TokenBatch) for b in batches):
        raise TypeError("concat_batches takes one or more TokenBatch arguments")
    T = max(b.tokens.shape[1] for b in batches)
    padded = [b.padded_to(T) for b in batches]
    return TokenBatch(*(torch.cat(parts, 0) for parts in zip(*padded)))


class TokenTask:
    r"""A tagging task: ``sample(batch_size)`` draws a padded :class:`TokenBatch`.

    Args:
        kind: ``"count"`` (default), ``"above_mean"``, ``"sort"`` or ``"reverse"`` (see the
            module docstring).
        vocab_size: token ids ``0..vocab_size-1``, 0 being padding (at least 2).
        min_len, max_len: sentence lengths, inclusive.
        max_count: for ``"count"``, the cap (and number of classes).

    Attributes ``vocab_size`` and ``n_classes`` size a :class:`TransformerEncoder` for the task.
    """

    def __init__(self, kind: str = "count", vocab_size: int = 8, min_len: int = 4, max_len: int = 16,
                 max_count: int = 4):
        if kind not in TASKS:
            raise ValueError(f"kind must be one of {list(TASKS)}, got {kind!r}")
        _checks.check_positive_int(vocab_size, "vocab_size")
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2 (padding plus one real token), got {vocab_size}")
        _check_lengths(min_len, max_len)
        _checks.check_positive_int(max_count, "max_count")
        self.kind, self.vocab_size = kind, vocab_size
        self.min_len, self.max_len, self.max_count = min_len, max_len, max_count
        self.n_classes = {"count": max_count, "above_mean": 2}.get(kind, vocab_size)

    def __repr__(self) -> str:
        extra = f", max_count={self.max_count}" if self.kind == "count" else ""
        return (f"TokenTask(kind={self.kind!r}, vocab_size={self.vocab_size}, min_len={self.min_len}, "
                f"max_len={self.max_len}{extra})")

    def sample(self, batch_size: int, generator: torch.Generator | None = None, *,
               min_len: int | None = None, max_len: int | None = None,
               pad_to: int | None = None) -> TokenBatch:
        """Draw ``batch_size`` sentences (lengths in ``min_len..max_len``, default the task's) and
        label them. Padded to the longest sentence drawn, or to ``pad_to`` if given."""
        _checks.check_positive_int(batch_size, "batch_size")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        lo = self.min_len if min_len is None else min_len
        hi = self.max_len if max_len is None else max_len
        _check_lengths(lo, hi)
        lengths = torch.randint(lo, hi + 1, (batch_size,), generator=generator)
        T = int(lengths.max())
        if pad_to is not None:
            _checks.check_positive_int(pad_to, "pad_to")
            if pad_to < T:
                raise ValueError(f"pad_to must be at least the longest sentence ({T}), got {pad_to}")
            T = pad_to
        pad = torch.arange(T)[None, :] >= lengths[:, None]                     # (B, T), True at padding
        tokens = torch.randint(1, self.vocab_size, (batch_size, T), generator=generator)
        tokens = tokens.masked_fill(pad, PAD_ID)
        labels = self.label(tokens, pad)
        return TokenBatch(tokens, pad, labels)

    def label(self, tokens: torch.Tensor, key_padding_mask: torch.Tensor) -> torch.Tensor:
        """The labels of a padded batch (``IGNORE_INDEX`` at padding)."""
        real = ~key_padding_mask
        if self.kind == "count":
            same = (tokens[:, :, None] == tokens[:, None, :]) & real[:, None, :]     # (B, T, T)
            labels = same.sum(-1).clamp(max=self.max_count) - 1
        elif self.kind == "above_mean":
            n = real.sum(1, keepdim=True)
            total = (tokens * real).sum(1, keepdim=True)
            labels = (tokens * n > total).long()          # token > mean, in exact integer arithmetic
        elif self.kind == "sort":
            big = torch.where(real, tokens, torch.full_like(tokens, self.vocab_size))
            labels = big.sort(dim=1).values
        else:  # reverse
            lengths = real.sum(1, keepdim=True)
            idx = (lengths - 1 - torch.arange(tokens.shape[1])[None, :]).clamp(min=0)
            labels = tokens.gather(1, idx)
        return labels.masked_fill(key_padding_mask, IGNORE_INDEX)


def _check_lengths(min_len, max_len) -> None:
    _checks.check_positive_int(min_len, "min_len")
    _checks.check_positive_int(max_len, "max_len")
    if max_len < min_len:
        raise ValueError(f"max_len must be >= min_len, got min_len={min_len} and max_len={max_len}")
