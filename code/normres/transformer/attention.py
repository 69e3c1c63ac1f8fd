r"""Multi-head self-attention from tensor primitives, with a key-padding mask.

For an input :math:`X` of shape ``(B, T, D)`` and ``H`` heads of size :math:`d_h = D/H`:

.. math::

    [Q\;K\;V] = X W_{in}^\top + b_{in}, \qquad
    A_h = \mathrm{softmax}\!\Big(\frac{Q_h K_h^\top}{\sqrt{d_h}} + M\Big), \qquad
    \mathrm{out} = [A_1 V_1 \,\cdots\, A_H V_H]\, W_{out}^\top + b_{out},

where :math:`M_{ij}` is a huge negative number when key ``j`` is padding and 0 otherwise, so no
query ever attends to a padded key. The parameter layout is torch's: ``in_proj.weight`` is
``(3D, D)`` holding :math:`W_q, W_k, W_v` stacked (torch's ``in_proj_weight``), ``out_proj`` is a
``Linear(D, D)``, so weights copy across from :class:`torch.nn.MultiheadAttention`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import _checks


def check_key_padding_mask(key_padding_mask, batch_shape) -> None:
    """Raise unless ``key_padding_mask`` is None or a bool tensor of shape ``batch_shape`` (B, T)
    with at least one real (False) position in every row."""
    if key_padding_mask is None:
        return
    if not isinstance(key_padding_mask, torch.Tensor) or key_padding_mask.dtype != torch.bool:
        raise TypeError("key_padding_mask must be a bool tensor of shape (B, T), True at padding, "
                        f"got {type(key_padding_mask).__name__}"
                        + (f" of dtype {key_padding_mask.dtype}" if isinstance(key_padding_mask, torch.Tensor) else ""))
    if tuple(key_padding_mask.shape) != tuple(batch_shape):
        raise ValueError(f"key_padding_mask must have shape {tuple(batch_shape)} (the input's B, T), "
                         f"got {tuple(key_padding_mask.shape)}")
    if bool(key_padding_mask.all(dim=1).any()):
        raise ValueError("key_padding_mask marks every position of some sequence as padding; "
                         "each sequence needs at least one real token")


class MultiHeadSelfAttention(nn.Module):
    r"""Multi-head scaled dot-product self-attention, :math:`\mathrm{softmax}(QK^\top/\sqrt{d_h})V`.

    Args:
        d_model: feature size ``D`` of the input and output.
        n_heads: number of heads ``H``; must divide ``d_model``.
        bias: give the projections biases (torch's default).

    Shapes: ``forward(x, key_padding_mask=None)`` takes ``x`` ``(B, T, D)`` and an optional bool
    ``key_padding_mask`` ``(B, T)``, **True at padding** (torch's convention), and returns
    ``(B, T, D)``. Padded keys get zero attention weight; padded *queries* still attend to the real
    keys of their sequence, so their outputs are finite, and nothing real ever reads them.
    ``return_weights=True`` also returns the attention weights ``(B, H, T, T)``.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        _checks.check_positive_int(d_model, "d_model")
        _checks.check_positive_int(n_heads, "n_heads")
        if d_model % n_heads != 0:
            raise ValueError(f"n_heads must divide d_model, got d_model={d_model} and n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)    # W_q, W_k, W_v stacked
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                return_weights: bool = False):
        _checks.check_tensor(x, "x")
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, T, {self.d_model}), got {tuple(x.shape)}")
        B, T, D = x.shape
        check_key_padding_mask(key_padding_mask, (B, T))
        q, k, v = self.in_proj(x).split(D, dim=-1)                         # 3 x (B, T, D)
        # (B, T, D) -> (B, H, T, d_h)
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)          # (B, H, T, T)
        if key_padding_mask is not None:
            # A finite "minus infinity": exp() of it is exactly 0 next to any real score, and a row
            # can never turn into NaN.
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)                             # rows sum to 1
        out = (weights @ v).transpose(1, 2).reshape(B, T, D)                # heads side by side
        out = self.out_proj(out)
        return (out, weights) if return_weights else out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}"
