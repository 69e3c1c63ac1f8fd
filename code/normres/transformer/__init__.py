r"""A small Transformer encoder for Part III, written from tensor primitives, one concept per module.

API (what the chapters and assignments use)::

    from normres.transformer import (MultiHeadSelfAttention, FeedForward, TransformerBlock,
        TransformerEncoder, make_norm, deepnorm_constants, deepnorm_init_, xavier_init_,
        copy_from_torch, TokenTask, train_tagger, evaluate_tagger)

- ``MultiHeadSelfAttention(d_model, n_heads, bias=True)``; ``forward(x, key_padding_mask=None,
  return_weights=False)``: ``x`` ``(B, T, D)``, ``key_padding_mask`` bool ``(B, T)`` **True at
  padding** (torch's convention) -> ``(B, T, D)`` (and weights ``(B, H, T, T)``). Parameters
  ``in_proj`` (``Linear(D, 3D)``: W_q, W_k, W_v stacked like torch's ``in_proj_weight``), ``out_proj``.
- ``FeedForward(d_model, d_ff, activation="relu"|"gelu", bias=True)``: ``linear1``, ``linear2``.
- ``TransformerBlock(d_model, n_heads, d_ff, norm_position="post"|"pre"|"rezero"|"deepnorm",
  norm=None|"layer"|"rms"|"batch"|"masked_batch"|"position_batch"|"power"|"none"|"dyt",
  activation="relu", bias=True, eps=1e-5, deepnorm_alpha=None, max_len=None)``; ``forward(x, key_padding_mask=None)``. Submodules
  ``self_attn``, ``ffn``, ``norm1`` (attention step), ``norm2`` (FFN step); ReZero's scalar is the
  parameter ``resweight`` (0 at init). ``norm=None`` means "layer" ("none" for rezero).
  post: x = N(x + F(x)); pre: x = x + F(N(x)); rezero: x = x + resweight*F(x);
  deepnorm: x = N(alpha*x + F(x)) (``deepnorm_alpha`` required for a lone block).
  ``bias`` means what torch's ``TransformerEncoderLayer(bias=...)`` means: False removes the
  biases of all linear maps *and* the norms' shifts. ``max_len`` only for ``norm="position_batch"``.
- ``TransformerEncoder(vocab_size, n_classes, d_model, n_heads, d_ff, n_layers, max_len,
  norm_position="pre", norm=None, activation="relu", bias=True, eps=1e-5, positions="learned"|
  "sinusoidal"|"none", init="xavier"|"torch", final_norm=None, deepnorm_alpha=None,
  deepnorm_init=True, pad_id=0)``; ``forward(tokens, key_padding_mask=None) -> (B, T, n_classes)``;
  ``residual_stream(tokens, key_padding_mask=None) -> [h_0, ..., h_L]`` (before the final norm);
  attributes ``tok_emb``, ``pos_emb``, ``blocks``, ``final_norm``, ``head``. ``final_norm=None``
  means a final norm for "pre" only. For "deepnorm", alpha defaults to ``(2N)^(1/4)`` and
  ``deepnorm_init_`` is applied (``deepnorm_init=False`` to skip it).
- ``make_norm(norm, d_model, eps=1e-5, *, bias=True, max_len=None)``: the one norm factory;
  ``apply_norm(norm, x, mask)``. ``"batch"`` is :class:`TokenBatchNorm` (BatchNorm1d over all B*T
  positions, padding included); ``"masked_batch"`` is :class:`normres.nn.MaskedBatchNorm1d` (real
  tokens only, padding output 0); ``"position_batch"`` is :class:`normres.nn.PerPositionBatchNorm`
  (statistics per position, needs ``max_len``); ``"power"`` is :class:`PowerNorm` (Shen et al.).
- ``deepnorm_constants(n_layers) -> (alpha, beta)`` = ((2N)^(1/4), (8N)^(-1/4)) (encoder-only);
  ``deepnorm_init_(model, n_layers)`` scales FFN, value and output projection weights by beta.
- ``xavier_init_(model)``: Xavier-normal linear weights (W_q, W_k, W_v separately), zero biases.
- ``copy_from_torch(block, torch_encoder_layer)``: copy a ``torch.nn.TransformerEncoderLayer``'s
  weights into a "post"/"pre" layer-norm block.
- ``TokenTask(kind="count"|"sort"|"reverse", vocab_size=8, min_len=4, max_len=16, max_count=4)``,
  ``.vocab_size``, ``.n_classes``, ``.sample(batch_size, generator=None, *, min_len=None,
  max_len=None, pad_to=None) -> TokenBatch(tokens, key_padding_mask, labels)``; labels are
  ``IGNORE_INDEX`` (-100) at padding. ``TokenBatch.select(index)``, ``TokenBatch.padded_to(length)``
  (same sentences, more padding); ``concat_batches(*batches)`` (pads to the longest, stacks).
  Kinds: "count" (occurrences of this token in its sentence, capped), "above_mean" (token id >
  the sentence's mean id), "sort", "reverse".
- ``train_tagger(model, task, *, steps, batch_size, lr, warmup_steps=0, optimizer="adam",
  betas=(0.9, 0.98), seed=None, on_step=None) -> TaggerHistory(step_loss, step_acc, diverged)``
  (``.final_loss(last=20)``); ``evaluate_tagger(model, batch, training_mode=False) -> (loss, acc)``;
  ``token_loss_and_accuracy(logits, labels)``; ``warmup_factor(step, warmup_steps)``.
"""

from .attention import MultiHeadSelfAttention, check_key_padding_mask
from .block import (NORM_POSITIONS, TransformerBlock, copy_from_torch, deepnorm_constants,
                    deepnorm_init_)
from .encoder import TransformerEncoder, sinusoidal_table, xavier_init_
from .feedforward import FeedForward
from .norms import NORM_KINDS, PowerNorm, TokenBatchNorm, apply_norm, make_norm
from .task import IGNORE_INDEX, PAD_ID, TASKS, TokenBatch, TokenTask, concat_batches
from .training import (TaggerHistory, evaluate_tagger, token_loss_and_accuracy, train_tagger,
                       warmup_factor)

__all__ = ["MultiHeadSelfAttention", "FeedForward", "TransformerBlock", "TransformerEncoder",
           "make_norm", "apply_norm", "TokenBatchNorm", "PowerNorm", "NORM_KINDS", "NORM_POSITIONS",
           "deepnorm_constants", "deepnorm_init_", "xavier_init_", "copy_from_torch", "sinusoidal_table",
           "check_key_padding_mask", "TokenTask", "TokenBatch", "concat_batches", "TASKS", "IGNORE_INDEX", "PAD_ID",
           "TaggerHistory", "train_tagger", "evaluate_tagger", "token_loss_and_accuracy", "warmup_factor"]
