r"""Normalization ops from tensor primitives, with the signatures of ``torch.nn.functional``.

Each op standardizes its input over some axes and then applies an optional per-element affine map:

.. math::

    y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}\cdot\gamma + \beta,

with the mean and the biased variance taken over the op's axes. The ops differ only in those axes:

==================  ===========================================  ==========================
op                  statistics shared by                          input shape
==================  ===========================================  ==========================
``batch_norm``      one channel, across the batch and positions   ``(N, C, *)``
``layer_norm``      one example, across ``normalized_shape``      ``(*, *normalized_shape)``
``instance_norm``   one example and one channel, across positions ``(N, C, *)``
``group_norm``      one example and a group of channels           ``(N, C, *)``
``rms_norm``        like layer norm, but no mean is subtracted    ``(*, *normalized_shape)``
==================  ===========================================  ==========================

``masked_batch_norm`` (not in torch) is batch norm over the real tokens of a padded ``(B, T, D)``
batch. None of them calls torch's own normalization kernels; they are built from ``var_mean``, ``rsqrt``
and arithmetic, and the layer- and batch-norm gradients come from the hand-derived backward passes
in :mod:`normres.backward`.
"""

from __future__ import annotations

import torch

from . import _checks
from .backward import BatchNormFunction, LayerNormFunction

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm"]


def _channel_view(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape a ``(C,)`` tensor so it broadcasts along axis 1 of an ``ndim``-dimensional input."""
    return t.reshape([1, -1] + [1] * (ndim - 2))


def _check_per_channel(input, name, tensor):
    _checks.check_optional_tensor(tensor, name, (input.shape[1],), input.dtype)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-05):
    r"""Batch normalization, like :func:`torch.nn.functional.batch_norm`.

    Args:
        input: ``(N, C)`` or ``(N, C, *)``; statistics are per channel ``C``.
        running_mean, running_var: ``(C,)`` buffers or None. In training they are updated in place,
            :math:`r \leftarrow (1-m)\,r + m\,s`, where ``s`` is the batch mean, or the *unbiased*
            batch variance :math:`\frac{n}{n-1}\sigma^2_B` with ``n`` values per channel.
            In evaluation they replace the batch statistics.
        weight, bias: ``(C,)`` scale :math:`\gamma` and shift :math:`\beta`, or None.
        training: use batch statistics (and update the running ones) when True.
        momentum: weight ``m`` of the *new* batch in the running average (torch's convention).
        eps: added to the variance before the square root.

    Returns:
        A tensor of ``input``'s shape. In training it is normalized with the *biased* batch
        variance :math:`\sigma^2_B = \frac1n\sum (x-\mu_B)^2`.
    """
    _checks.check_tensor(input, "input")
    _checks.check_min_dim(input, 2, "batch_norm (N, C, *)")
    _checks.check_eps(eps)
    _checks.check_momentum(momentum)
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_per_channel(input, name, t)

    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("running_mean and running_var must be given when training=False")
        scale = torch.rsqrt(running_var + eps)
        if weight is not None:
            scale = scale * weight
        shift = -running_mean * scale
        if bias is not None:
            shift = shift + bias
        return input * _channel_view(scale, input.dim()) + _channel_view(shift, input.dim())

    n = input.numel() // input.shape[1]
    if n <= 1:
        raise ValueError(
            f"batch_norm needs more than 1 value per channel when training, got input of shape "
            f"{tuple(input.shape)}"
        )
    y, mean, var = BatchNormFunction.apply(input, weight, bias, eps)
    with torch.no_grad():
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        if running_var is not None:
            running_var.mul_(1 - momentum).add_(var * (n / (n - 1)), alpha=momentum)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    r"""Layer normalization, like :func:`torch.nn.functional.layer_norm`.

    Each example is standardized over its last ``len(normalized_shape)`` axes,
    :math:`y = \frac{x-\mathrm{E}[x]}{\sqrt{\mathrm{Var}[x]+\epsilon}}\gamma + \beta`, with the
    biased variance. No statistic crosses examples, so the output of one example never depends on
    the rest of the batch, and training and evaluation compute the same thing.

    Args:
        input: ``(*, *normalized_shape)``.
        normalized_shape: int or tuple, the trailing shape to normalize over.
        weight, bias: tensors of shape ``normalized_shape`` or None.
        eps: added to the variance before the square root.
    """
    _checks.check_tensor(input, "input")
    shape = _checks.as_shape(normalized_shape)
    _checks.check_trailing_shape(input, shape)
    _checks.check_eps(eps)
    _checks.check_optional_tensor(weight, "weight", shape, input.dtype)
    _checks.check_optional_tensor(bias, "bias", shape, input.dtype)
    return LayerNormFunction.apply(input, weight, bias, shape, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-05):
    r"""Instance normalization, like :func:`torch.nn.functional.instance_norm`.

    Each (example, channel) pair of an ``(N, C, *)`` input is standardized over its positions ``*``.
    This is batch norm applied to the input reshaped to ``(1, N*C, *)``, which is how it is computed
    here. Running statistics, when given, are updated with the batch average of the per-instance
    statistics; with ``use_input_stats=False`` they replace the instance statistics.
    """
    _checks.check_tensor(input, "input")
    _checks.check_min_dim(input, 3, "instance_norm (N, C, *)")
    _checks.check_eps(eps)
    _checks.check_momentum(momentum)
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_per_channel(input, name, t)

    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)

    N, C = input.shape[:2]
    if input[0, 0].numel() <= 1:
        raise ValueError(
            f"instance_norm needs more than 1 spatial element when use_input_stats=True, got input "
            f"of shape {tuple(input.shape)}"
        )
    flat = input.reshape(1, N * C, *input.shape[2:])
    rm = running_mean.repeat(N) if running_mean is not None else None
    rv = running_var.repeat(N) if running_var is not None else None
    w = weight.repeat(N) if weight is not None else None
    b = bias.repeat(N) if bias is not None else None
    y = batch_norm(flat, rm, rv, w, b, True, momentum, eps)
    with torch.no_grad():
        if running_mean is not None:
            running_mean.copy_(rm.reshape(N, C).mean(0))
        if running_var is not None:
            running_var.copy_(rv.reshape(N, C).mean(0))
    return y.reshape(input.shape)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    r"""Group normalization, like :func:`torch.nn.functional.group_norm`.

    The ``C`` channels of an ``(N, C, *)`` input are split into ``num_groups`` groups of
    ``C // num_groups`` consecutive channels; each (example, group) is standardized over its channels
    and positions, then a per-channel affine map is applied. ``num_groups=1`` is layer norm over
    ``(C, *)``; ``num_groups=C`` is instance norm.
    """
    _checks.check_tensor(input, "input")
    _checks.check_min_dim(input, 2, "group_norm (N, C, *)")
    _checks.check_positive_int(num_groups, "num_groups")
    _checks.check_eps(eps)
    N, C = input.shape[:2]
    if C % num_groups != 0:
        raise ValueError(
            f"num_groups must divide the number of channels: {C} channels cannot be split into "
            f"{num_groups} groups"
        )
    _check_per_channel(input, "weight", weight)
    _check_per_channel(input, "bias", bias)
    grouped = input.reshape(N, num_groups, -1)
    y = LayerNormFunction.apply(grouped, None, None, (grouped.shape[-1],), eps).reshape(input.shape)
    if weight is not None:
        y = y * _channel_view(weight, input.dim())
    if bias is not None:
        y = y + _channel_view(bias, input.dim())
    return y


def rms_norm(input, normalized_shape, weight=None, eps=None):
    r"""Root-mean-square normalization, like :func:`torch.nn.functional.rms_norm`.

    :math:`y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}}\cdot\gamma` over the trailing
    ``normalized_shape`` axes. Unlike layer norm it subtracts no mean and adds no bias, so it is
    invariant to rescaling an example but not to shifting it. ``eps=None`` means
    ``torch.finfo(input.dtype).eps``, as in torch.
    """
    _checks.check_tensor(input, "input")
    shape = _checks.as_shape(normalized_shape)
    _checks.check_trailing_shape(input, shape)
    if eps is None:
        eps = torch.finfo(input.dtype).eps
    _checks.check_eps(eps)
    _checks.check_optional_tensor(weight, "weight", shape, input.dtype)
    dims = tuple(range(input.dim() - len(shape), input.dim()))
    y = input * torch.rsqrt(input.pow(2).mean(dim=dims, keepdim=True) + eps)
    if weight is not None:
        y = y * weight
    return y


def check_sequence_input(input, mask) -> None:
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
    check_sequence_input(input, mask)
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
