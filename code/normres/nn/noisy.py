r"""Batch norm followed by random, ever-changing noise: the "noisy BatchNorm" experiment of
Santurkar et al. (2018), which shifts the distribution of every normalized activation at every step.

In training mode :class:`NoisyBatchNorm1d` computes

.. math::

    y_{ij} = s_j \cdot \mathrm{BN}(x)_{ij} + m_j, \qquad
    s_j \sim \mathcal U(1-a_s,\,1+a_s), \quad m_j \sim \mathcal U(-a_m,\,a_m),

with a fresh scale :math:`s_j` and shift :math:`m_j` for every unit :math:`j` drawn (from torch's
global RNG) at every forward pass, shared by the examples ``i`` of the batch. The layer after it
therefore sees each unit with a new mean and a new variance at every step: a distribution shift
far larger than anything the network's own learning causes. Since :math:`\mathrm E[s_j]=1` and
:math:`\mathrm E[m_j]=0`, evaluation mode applies no noise and is plain batch norm.

This is our variant: Santurkar et al. perturb each activation with noise whose (non-zero) mean and
(non-unit) variance change from step to step; the point, a deliberately non-stationary input
distribution after every batch-norm layer, is the same.
"""

from __future__ import annotations

import torch
from torch import nn

from .batchnorm import BatchNorm1d


def _check_noise(value, name: str, upper: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            upper is not None and value >= upper):
        bound = f" and < {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be a float >= 0{bound}, got {value!r}")


class NoisyBatchNorm1d(BatchNorm1d):
    """:class:`~normres.nn.BatchNorm1d` plus a random per-unit scale and shift in training mode.

    Args:
        num_features: ``C`` for inputs ``(N, C)`` or ``(N, C, L)``.
        shift_noise: half-width :math:`a_m` of the uniform shift noise (default 0.5).
        scale_noise: half-width :math:`a_s` of the uniform scale noise around 1, in ``[0, 1)``
            (default 0.5, so scales lie in ``(0.5, 1.5)``).
        eps, momentum, affine, track_running_stats, device, dtype: as for ``BatchNorm1d``.

    Parameters, buffers and ``state_dict`` keys are those of ``BatchNorm1d``, so a trained batch-norm
    layer can be loaded into it and back.
    """

    def __init__(self, num_features, shift_noise=0.5, scale_noise=0.5, eps=1e-5, momentum=0.1,
                 affine=True, track_running_stats=True, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        _check_noise(shift_noise, "shift_noise")
        _check_noise(scale_noise, "scale_noise", upper=1.0)
        self.shift_noise = float(shift_noise)
        self.scale_noise = float(scale_noise)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        y = super().forward(input)
        if not self.training:
            return y
        view = [1, self.num_features] + [1] * (y.dim() - 2)
        u = torch.rand(2, self.num_features, dtype=y.dtype, device=y.device)
        scale = 1.0 + self.scale_noise * (2.0 * u[0] - 1.0)
        shift = self.shift_noise * (2.0 * u[1] - 1.0)
        return y * scale.reshape(view) + shift.reshape(view)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", shift_noise={self.shift_noise}, scale_noise={self.scale_noise}"


def add_batch_norm_noise(model: nn.Module, shift_noise: float = 0.5, scale_noise: float = 0.5) -> nn.Module:
    """Replace every ``BatchNorm1d`` in ``model`` (normres's or torch's) by a
    :class:`NoisyBatchNorm1d` with the same settings and state, in place; returns ``model``.

    Raises ValueError if ``model`` holds no ``BatchNorm1d``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_noise(shift_noise, "shift_noise")
    _check_noise(scale_noise, "scale_noise", upper=1.0)
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (BatchNorm1d, nn.BatchNorm1d)) and not isinstance(child, NoisyBatchNorm1d):
                ref = child.weight if child.weight is not None else child.running_mean
                noisy = NoisyBatchNorm1d(
                    child.num_features, shift_noise, scale_noise, eps=child.eps, momentum=child.momentum,
                    affine=child.affine, track_running_stats=child.track_running_stats,
                    device=None if ref is None else ref.device, dtype=None if ref is None else ref.dtype)
                noisy.load_state_dict(child.state_dict())
                noisy.train(child.training)
                setattr(parent, name, noisy)
                replaced += 1
    if replaced == 0:
        raise ValueError("model holds no BatchNorm1d layer to add noise to")
    return model
