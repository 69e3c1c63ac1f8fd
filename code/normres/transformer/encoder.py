r"""A small Transformer encoder that tags every token: embeddings, ``n_layers`` blocks, a per-token
classifier.

.. math::

    h_0 = E_{tok}[\text{tokens}] + E_{pos}[0..T-1], \qquad h_\ell = \mathrm{Block}_\ell(h_{\ell-1}),
    \qquad \text{logits} = W_{head}\, \mathrm{N}_{final}(h_L) + b_{head},

with the final norm :math:`\mathrm N_{final}` present by default only for ``norm_position="pre"``,
whose residual stream :math:`h_L` is otherwise never normalized.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from .attention import check_key_padding_mask
from .block import TransformerBlock, check_norm_position, deepnorm_constants, deepnorm_init_
from .norms import apply_norm, check_norm_kind, make_norm

INITS = ("xavier", "torch")
POSITIONS = ("learned", "sinusoidal", "none")


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    r"""The sinusoidal position table ``(length, dim)`` of Vaswani et al. (2017):
    :math:`P_{t,2i}=\sin(t/10000^{2i/d})`, :math:`P_{t,2i+1}=\cos(t/10000^{2i/d})`."""
    t = torch.arange(length, dtype=torch.float64)[:, None]
    i = torch.arange(0, dim, 2, dtype=torch.float64)
    angle = t / torch.pow(10000.0, i / dim)
    pe = torch.zeros(length, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.float()


@torch.no_grad()
def xavier_init_(model: nn.Module) -> nn.Module:
    r"""Xavier-normal weights and zero biases for every ``nn.Linear`` in ``model`` (in place), the
    initialization of Xiong et al. (2020). The attention's stacked ``in_proj`` is initialized as
    three separate :math:`D\times D` matrices :math:`W_q, W_k, W_v`, each with
    :math:`\mathrm{std} = \sqrt{2/(D+D)}`. Embeddings and norms are left alone. Returns ``model``."""
    from .attention import MultiHeadSelfAttention
    stacked = set()
    for m in model.modules():
        if isinstance(m, MultiHeadSelfAttention):
            for chunk in m.in_proj.weight.split(m.d_model, dim=0):
                nn.init.xavier_normal_(chunk)
            if m.in_proj.bias is not None:
                nn.init.zeros_(m.in_proj.bias)
            stacked.add(m.in_proj)
    for m in model.modules():
        if isinstance(m, nn.Linear) and m not in stacked:
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class TransformerEncoder(nn.Module):
    r"""Token tagger: ``forward(tokens, key_padding_mask=None)`` maps ``tokens`` (int64 ``(B, T)``,
    ``T <= max_len``) to logits ``(B, T, n_classes)``.

    Args:
        vocab_size: number of token ids (id ``pad_id``, 0 by default, is padding: its embedding
            row stays zero).
        n_classes: label classes per token.
        d_model, n_heads, d_ff, n_layers: sizes (``n_heads`` must divide ``d_model``).
        max_len: longest sequence the position table covers.
        norm_position, norm, activation, bias, eps: passed to every :class:`TransformerBlock`
            (``bias=False``, as torch's, also removes the norms' shifts, the final norm's included;
            the head keeps ``bias`` for its own linear map too).
        positions: ``"learned"`` (default; an ``nn.Embedding(max_len, d_model)``),
            ``"sinusoidal"`` (fixed) or ``"none"``.
        init: ``"xavier"`` (default: Xavier-normal linear weights, zero biases, as Xiong et al.) or
            ``"torch"`` (PyTorch's default ``nn.Linear`` initialization).
        final_norm: normalize the last residual stream before the head; default (None) True for
            ``"pre"`` and False otherwise. It has the blocks' norm kind.
        deepnorm_alpha: for ``"deepnorm"``; default :func:`deepnorm_constants` ``(n_layers)[0]``.
        deepnorm_init: for ``"deepnorm"``, apply :func:`deepnorm_init_` (the paper's
            :math:`\beta` gain) after ``init``; default True.

    Attributes: ``tok_emb``, ``pos_emb`` (or None), ``blocks`` (``nn.ModuleList``),
    ``final_norm`` (a norm or ``nn.Identity``), ``head``. Embeddings are N(0, 1) (torch's default).
    """

    def __init__(self, vocab_size: int, n_classes: int, d_model: int, n_heads: int, d_ff: int,
                 n_layers: int, max_len: int, norm_position: str = "pre", norm: str | None = None,
                 activation: str = "relu", bias: bool = True, eps: float = 1e-5,
                 positions: str = "learned", init: str = "xavier", final_norm: bool | None = None,
                 deepnorm_alpha: float | None = None, deepnorm_init: bool = True, pad_id: int = 0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("n_classes", n_classes), ("d_model", d_model),
                            ("n_heads", n_heads), ("d_ff", d_ff), ("n_layers", n_layers), ("max_len", max_len)):
            _checks.check_positive_int(value, name)
        check_norm_position(norm_position)
        if norm is None:
            norm = "none" if norm_position == "rezero" else "layer"
        check_norm_kind(norm)
        if init not in INITS:
            raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {list(POSITIONS)}, got {positions!r}")
        if isinstance(pad_id, bool) or not isinstance(pad_id, int) or not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be an int in 0..vocab_size-1, got {pad_id!r}")
        if final_norm is None:
            final_norm = norm_position == "pre"
        if norm_position == "deepnorm" and deepnorm_alpha is None:
            deepnorm_alpha = deepnorm_constants(n_layers)[0]
        self.vocab_size, self.n_classes, self.max_len = vocab_size, n_classes, max_len
        self.n_layers, self.norm_position, self.norm = n_layers, norm_position, norm
        self.positions, self.init, self.pad_id = positions, init, pad_id

        block_max_len = max_len if norm == "position_batch" else None
        self.tok_emb = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        if positions == "learned":
            self.pos_emb = nn.Embedding(max_len, d_model)
        else:
            self.pos_emb = None
            self.register_buffer("pos_table", sinusoidal_table(max_len, d_model) if positions == "sinusoidal"
                                 else torch.zeros(max_len, d_model), persistent=False)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, norm_position=norm_position, norm=norm,
                             activation=activation, bias=bias, eps=eps, deepnorm_alpha=deepnorm_alpha,
                             max_len=block_max_len)
            for _ in range(n_layers))
        self.final_norm = (make_norm(norm, d_model, eps, bias=bias, max_len=block_max_len)
                           if final_norm else nn.Identity())
        self.head = nn.Linear(d_model, n_classes, bias=bias)
        if init == "xavier":
            xavier_init_(self)
        if norm_position == "deepnorm" and deepnorm_init:
            deepnorm_init_(self, n_layers)

    def _check_inputs(self, tokens, key_padding_mask):
        if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.dim() != 2:
            raise TypeError("tokens must be an int64 tensor of shape (B, T)"
                            + (f", got dtype {tokens.dtype} and shape {tuple(tokens.shape)}"
                               if isinstance(tokens, torch.Tensor) else f", got {type(tokens).__name__}"))
        T = tokens.shape[1]
        if T > self.max_len:
            raise ValueError(f"tokens has length {T}, longer than max_len={self.max_len}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"tokens must hold ids in 0..{self.vocab_size - 1}, "
                             f"got values in {int(tokens.min())}..{int(tokens.max())}")
        check_key_padding_mask(key_padding_mask, tokens.shape)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token plus position embeddings, ``(B, T) -> (B, T, D)``."""
        T = tokens.shape[1]
        pos = self.pos_emb.weight[:T] if self.pos_emb is not None else self.pos_table[:T]
        return self.tok_emb(tokens) + pos

    def residual_stream(self, tokens: torch.Tensor,
                        key_padding_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        r"""The residual stream :math:`[h_0, h_1, \dots, h_L]`, each ``(B, T, D)``: the embeddings
        and the output of every block (before the final norm)."""
        self._check_inputs(tokens, key_padding_mask)
        hs = [self.embed(tokens)]
        for block in self.blocks:
            hs.append(block(hs[-1], key_padding_mask))
        return hs

    def forward(self, tokens: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.residual_stream(tokens, key_padding_mask)[-1]
        return self.head(apply_norm(self.final_norm, h, key_padding_mask))

    def extra_repr(self) -> str:
        return (f"n_layers={self.n_layers}, norm_position={self.norm_position!r}, norm={self.norm!r}, "
                f"positions={self.positions!r}, init={self.init!r}")
