r"""Hand-derived backward passes for layer norm and batch norm.

Both layers standardize ``x`` over a set of reduction axes :math:`R` holding :math:`M` elements,

.. math::

    \mu = \frac{1}{M}\sum_{i\in R} x_i, \qquad
    \sigma^2 = \frac{1}{M}\sum_{i\in R} (x_i-\mu)^2, \qquad
    \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}}, \qquad
    y_i = \gamma\,\hat x_i + \beta .

With upstream gradient :math:`\partial L/\partial y` and :math:`g_i = \gamma\,\partial L/\partial y_i`,
the chain rule through :math:`\mu` and :math:`\sigma^2` collapses to

.. math::

    \frac{\partial L}{\partial x_i} = \frac{1}{\sqrt{\sigma^2+\epsilon}}
    \Big( g_i - \overline{g} - \hat x_i\,\overline{g\,\hat x} \Big),

where the bars are means over :math:`R`. The gradient is therefore orthogonal, within each group
of :math:`R`, to the all-ones vector and to :math:`\hat x`: shifting or scaling the group's input
cannot change the output, so the gradient has no component along those directions. The parameter
gradients are :math:`\partial L/\partial\gamma = \sum \hat x\,\partial L/\partial y` and
:math:`\partial L/\partial\beta = \sum \partial L/\partial y`, summed over every axis the parameter
is shared across.

Layer norm reduces over the trailing ``normalized_shape`` axes of each example; batch norm (in
training mode) reduces over every axis except the channel axis 1. The code below is one derivation
used twice. Both functions are once differentiable: they exist to teach and check the first
derivative, and double backward raises instead of silently returning a wrong answer.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def standardize_backward(grad_xhat: torch.Tensor, xhat: torch.Tensor, rstd: torch.Tensor,
                         dims: tuple[int, ...]) -> torch.Tensor:
    r"""Gradient with respect to ``x`` given the gradient with respect to :math:`\hat x`.

    Implements :math:`\mathrm{rstd}\,(g - \mathrm{mean}_R\,g - \hat x\,\mathrm{mean}_R(g\hat x))`.
    ``grad_xhat`` and ``xhat`` have the input's shape; ``rstd`` broadcasts against them (size 1 along
    ``dims``).
    """
    mean_g = grad_xhat.mean(dim=dims, keepdim=True)
    mean_gx = (grad_xhat * xhat).mean(dim=dims, keepdim=True)
    return rstd * (grad_xhat - mean_g - xhat * mean_gx)


class LayerNormFunction(torch.autograd.Function):
    """Layer norm with the backward pass written by hand.

    ``forward(x, weight, bias, normalized_shape, eps)``: ``x`` of shape ``(*, *normalized_shape)``,
    ``weight`` and ``bias`` of shape ``normalized_shape`` or None. Returns ``y`` of ``x``'s shape.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = (x - mean) * rstd
        y = xhat
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        ctx.dims = dims
        ctx.save_for_backward(xhat, rstd, weight)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        xhat, rstd, weight = ctx.saved_tensors
        lead = tuple(range(grad_y.dim() - len(ctx.dims)))
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_xhat = grad_y * weight if weight is not None else grad_y
            grad_x = standardize_backward(grad_xhat, xhat, rstd, ctx.dims)
        if weight is not None and ctx.needs_input_grad[1]:
            grad_w = (grad_y * xhat).sum(dim=lead) if lead else grad_y * xhat
        if ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(dim=lead) if lead else grad_y.clone()
        return grad_x, grad_w, grad_b, None, None


class BatchNormFunction(torch.autograd.Function):
    """Batch norm in training mode (batch statistics) with the backward pass written by hand.

    ``forward(x, weight, bias, eps)``: ``x`` of shape ``(N, C, *)``, ``weight`` and ``bias`` of shape
    ``(C,)`` or None. Statistics are taken per channel over every axis but 1. Returns ``y`` of
    ``x``'s shape together with the per-channel batch mean and biased variance (both ``(C,)``,
    not differentiable) so the caller can update running estimates.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = tuple(d for d in range(x.dim()) if d != 1)
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = (x - mean) * rstd
        view = [1, x.shape[1]] + [1] * (x.dim() - 2)
        y = xhat
        if weight is not None:
            y = y * weight.reshape(view)
        if bias is not None:
            y = y + bias.reshape(view)
        ctx.dims = dims
        ctx.view = view
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.mark_non_differentiable(mean, var)
        return y, mean.reshape(-1), var.reshape(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        xhat, rstd, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_xhat = grad_y * weight.reshape(ctx.view) if weight is not None else grad_y
            grad_x = standardize_backward(grad_xhat, xhat, rstd, ctx.dims)
        if weight is not None and ctx.needs_input_grad[1]:
            grad_w = (grad_y * xhat).sum(dim=ctx.dims)
        if ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(dim=ctx.dims)
        return grad_x, grad_w, grad_b, None
