r"""The Transformer block: two sublayers (attention, feed-forward), each wrapped in a residual
connection and a normalization, in one of four placements.

For a sublayer :math:`F` (attention, then the feed-forward network) and a norm :math:`N`:

===============  ====================================================  ==========================
``norm_position``  one sublayer step                                     from
===============  ====================================================  ==========================
``"post"``       :math:`x \leftarrow N(x + F(x))`                       Vaswani et al. 2017 ("Add & Norm")
``"pre"``        :math:`x \leftarrow x + F(N(x))`                       Xiong et al. 2020 (GPT-2 style)
``"rezero"``     :math:`x \leftarrow x + \alpha\,F(x)`, :math:`\alpha=0` at init, no norm   Bachlechner et al. 2020
``"deepnorm"``   :math:`x \leftarrow N(\alpha\,x + F(x))`, constant :math:`\alpha`            Wang et al. 2022
===============  ====================================================  ==========================
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from .attention import MultiHeadSelfAttention
from .feedforward import FeedForward, check_activation
from .norms import apply_norm, check_norm_kind, make_norm

NORM_POSITIONS = ("post", "pre", "rezero", "deepnorm")


def check_norm_position(norm_position) -> str:
    if norm_position not in NORM_POSITIONS:
        raise ValueError(f"norm_position must be one of {list(NORM_POSITIONS)}, got {norm_position!r}")
    return norm_position


def deepnorm_constants(n_layers: int) -> tuple[float, float]:
    r"""DeepNorm's constants for an encoder-only stack of ``n_layers`` blocks (Wang et al. 2022):
    :math:`\alpha = (2N)^{1/4}` (the residual's up-weighting) and :math:`\beta = (8N)^{-1/4}` (the
    initialization gain of the feed-forward, value and output projections)."""
    _checks.check_positive_int(n_layers, "n_layers")
    return (2 * n_layers) ** 0.25, (8 * n_layers) ** -0.25


class TransformerBlock(nn.Module):
    r"""One encoder block: self-attention and a feed-forward network, each with a residual
    connection and a normalization placed by ``norm_position`` (see the module's table).

    Args:
        d_model, n_heads, d_ff: feature size ``D``, attention heads, hidden size of the FFN.
        norm_position: ``"post"`` (default, the original Transformer), ``"pre"``, ``"rezero"``,
            ``"deepnorm"``.
        norm: a kind from :data:`normres.transformer.norms.NORM_KINDS`; default ``"layer"``
            (``"none"`` for ``"rezero"``, which allows no other).
        activation: ``"relu"`` or ``"gelu"`` in the FFN.
        bias: as in :class:`torch.nn.TransformerEncoderLayer`: ``False`` removes the additive
            biases of every linear map (attention projections, FFN) **and the norms' shifts**
            :math:`\beta` (``LayerNorm(bias=False)``).
        eps: the norms' epsilon (torch's ``layer_norm_eps``).
        deepnorm_alpha: the constant :math:`\alpha` of ``"deepnorm"`` (required there; see
            :func:`deepnorm_constants`); must be None otherwise.
        max_len: the positions a ``norm="position_batch"`` keeps statistics for (required there,
            None otherwise).

    Submodules ``self_attn``, ``ffn`` (``linear1``, ``linear2``), ``norm1``, ``norm2`` (the norm of
    the attention and of the FFN step), and for ReZero the parameter ``resweight`` (:math:`\alpha`,
    one scalar shared by both sublayers as in the paper's code, 0 at init).

    ``forward(x, key_padding_mask=None)``: ``(B, T, D)`` and bool ``(B, T)`` (True at padding) ->
    ``(B, T, D)``.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, norm_position: str = "post",
                 norm: str | None = None, activation: str = "relu", bias: bool = True,
                 eps: float = 1e-5, deepnorm_alpha: float | None = None,
                 max_len: int | None = None):
        super().__init__()
        self.norm_position = check_norm_position(norm_position)
        if norm is None:
            norm = "none" if norm_position == "rezero" else "layer"
        self.norm = check_norm_kind(norm)
        check_activation(activation)
        if norm_position == "rezero" and norm != "none":
            raise ValueError(f"norm_position='rezero' uses no normalization: norm must be 'none' or None, "
                             f"got {norm!r}")
        if norm_position == "deepnorm":
            if (deepnorm_alpha is None or isinstance(deepnorm_alpha, bool)
                    or not isinstance(deepnorm_alpha, (int, float)) or not deepnorm_alpha > 0):
                raise ValueError("deepnorm_alpha must be a positive float for norm_position='deepnorm' "
                                 f"(e.g. deepnorm_constants(n_layers)[0]), got {deepnorm_alpha!r}")
        elif deepnorm_alpha is not None:
            raise ValueError(f"deepnorm_alpha is only used with norm_position='deepnorm', "
                             f"got {deepnorm_alpha!r} with norm_position={norm_position!r}")
        self.deepnorm_alpha = None if deepnorm_alpha is None else float(deepnorm_alpha)
        self.self_attn = MultiHeadSelfAttention(d_model, n_heads, bias=bias)
        self.ffn = FeedForward(d_model, d_ff, activation=activation, bias=bias)
        self.norm1 = make_norm(norm, d_model, eps, bias=bias, max_len=max_len)
        self.norm2 = make_norm(norm, d_model, eps, bias=bias, max_len=max_len)
        if norm_position == "rezero":
            self.resweight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        for sublayer, norm in ((lambda h: self.self_attn(h, key_padding_mask), self.norm1),
                               (self.ffn, self.norm2)):
            if self.norm_position == "post":
                x = apply_norm(norm, x + sublayer(x), key_padding_mask)
            elif self.norm_position == "pre":
                x = x + sublayer(apply_norm(norm, x, key_padding_mask))
            elif self.norm_position == "rezero":
                x = x + self.resweight * sublayer(x)
            else:  # deepnorm
                x = apply_norm(norm, self.deepnorm_alpha * x + sublayer(x), key_padding_mask)
        return x

    def extra_repr(self) -> str:
        extra = f", deepnorm_alpha={self.deepnorm_alpha:.4g}" if self.deepnorm_alpha is not None else ""
        return f"norm_position={self.norm_position!r}, norm={self.norm!r}{extra}"


@torch.no_grad()
def deepnorm_init_(model: nn.Module, n_layers: int) -> nn.Module:
    r"""DeepNorm's initialization, in place: multiply the weights of the feed-forward network
    (``linear1``, ``linear2``), the value projection (the last third of ``in_proj.weight``) and the
    attention output projection of every :class:`TransformerBlock` in ``model`` by
    :math:`\beta = (8N)^{-1/4}` (encoder-only, :func:`deepnorm_constants`). Applied after a Xavier
    initialization it gives the paper's ``xavier_normal_(w, gain=beta)``; query and key keep gain 1.
    Returns ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _, beta = deepnorm_constants(n_layers)
    blocks = [m for m in model.modules() if isinstance(m, TransformerBlock)]
    if not blocks:
        raise ValueError("model holds no TransformerBlock to initialize")
    for block in blocks:
        d = block.self_attn.d_model
        block.ffn.linear1.weight.mul_(beta)
        block.ffn.linear2.weight.mul_(beta)
        block.self_attn.in_proj.weight[2 * d:].mul_(beta)
        block.self_attn.out_proj.weight.mul_(beta)
    return model


@torch.no_grad()
def copy_from_torch(block: TransformerBlock, layer: nn.TransformerEncoderLayer) -> TransformerBlock:
    """Copy the weights of a :class:`torch.nn.TransformerEncoderLayer` into ``block`` (in place):
    ``in_proj_weight``/``in_proj_bias`` -> ``self_attn.in_proj``, ``out_proj``, ``linear1``,
    ``linear2``, ``norm1``, ``norm2``. The block must be ``"post"`` or ``"pre"`` with
    ``norm="layer"`` and the layer's sizes. Returns ``block``."""
    if not isinstance(block, TransformerBlock):
        raise TypeError(f"block must be a TransformerBlock, got {type(block).__name__}")
    if not isinstance(layer, nn.TransformerEncoderLayer):
        raise TypeError(f"layer must be a torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
    if block.norm_position not in ("post", "pre") or block.norm != "layer":
        raise ValueError("copy_from_torch needs a 'post' or 'pre' block with norm='layer', "
                         f"got norm_position={block.norm_position!r}, norm={block.norm!r}")
    pairs = [(block.self_attn.in_proj.weight, layer.self_attn.in_proj_weight),
             (block.self_attn.in_proj.bias, layer.self_attn.in_proj_bias),
             (block.self_attn.out_proj.weight, layer.self_attn.out_proj.weight),
             (block.self_attn.out_proj.bias, layer.self_attn.out_proj.bias),
             (block.ffn.linear1.weight, layer.linear1.weight), (block.ffn.linear1.bias, layer.linear1.bias),
             (block.ffn.linear2.weight, layer.linear2.weight), (block.ffn.linear2.bias, layer.linear2.bias),
             (block.norm1.weight, layer.norm1.weight), (block.norm1.bias, layer.norm1.bias),
             (block.norm2.weight, layer.norm2.weight), (block.norm2.bias, layer.norm2.bias)]
    for ours, theirs in pairs:
        if (ours is None) != (theirs is None):
            raise ValueError("block and layer disagree on biases")
        if ours is None:
            continue
        if ours.shape != theirs.shape:
            raise ValueError(f"block and layer sizes differ: {tuple(ours.shape)} vs {tuple(theirs.shape)}")
        ours.copy_(theirs)
    return block
