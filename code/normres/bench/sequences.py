r"""Synthetic padded token batches: random sentences, padding, embeddings and positions.

A "sentence" here is a 1-D tensor of token ids in ``1 .. vocab_size-1``; id ``0`` is the padding
token. A batch of sentences of different lengths is padded to a common length ``T`` and embedded
into an input ``x`` of shape ``(B, T, D)`` with a boolean ``mask`` of shape ``(B, T)`` that is True
at real tokens and False at padding. Nothing is downloaded: the embedding table is random.

The normalizations one would try on such batches are layers, so they live with the others:
:func:`normres.functional.masked_batch_norm`, :class:`normres.nn.MaskedBatchNorm1d` and
:class:`normres.nn.PerPositionBatchNorm`.
"""

from __future__ import annotations

import torch

from .. import _checks

__all__ = [
    "PAD_ID",
    "embedding_table",
    "random_lengths",
    "random_sentences",
    "pad_batch",
    "sinusoidal_positions",
]

PAD_ID = 0


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
    _checks.check_generator(generator)
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
    _checks.check_generator(generator)
    return torch.randint(min_len, max_len + 1, (n,), generator=generator)


def random_sentences(lengths, vocab_size: int, *,
                     generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """One sentence per entry of ``lengths``: a 1-D int64 tensor of that many token ids drawn
    uniformly from ``1 .. vocab_size-1`` (never the padding id 0)."""
    _checks.check_positive_int(vocab_size, "vocab_size")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2 (padding plus one real token), got {vocab_size}")
    _checks.check_generator(generator)
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
