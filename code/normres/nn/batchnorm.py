r"""Batch normalization modules (``BatchNorm1d``, ``BatchNorm2d``) that mirror ``torch.nn``.

In training mode a module normalizes with the statistics of the current batch and folds them into
running estimates; in evaluation mode it normalizes with those estimates, so one example's output
no longer depends on its batch companions. With ``momentum=m`` the update is
:math:`r \leftarrow (1-m)\,r + m\,s_B` (``m`` weighs the *new* batch); with ``momentum=None`` it is
the cumulative average :math:`r \leftarrow r + (s_B - r)/t` after ``t`` batches. The running
variance averages the unbiased batch variance, while the batch itself is normalized with the biased
one, exactly as torch does.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from .. import functional as F
from ._affine import register_affine, reset_affine


class _BatchNorm(nn.Module):
    """Shared body of the batch-norm modules; subclasses only say which input ranks they accept."""

    _accepted_dims: tuple[int, ...] = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        _checks.check_positive_int(num_features, "num_features")
        _checks.check_eps(eps)
        _checks.check_momentum(momentum, allow_none=True)
        factory = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        register_affine(self, num_features, affine, bias, factory)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, batch count 0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics and set gamma to 1 and beta to 0."""
        self.reset_running_stats()
        reset_affine(self)

    def _check_input_dim(self, input):
        _checks.check_tensor(input, "input")
        if input.dim() not in self._accepted_dims:
            expected = " or ".join(f"{d}D" for d in self._accepted_dims)
            raise ValueError(
                f"{type(self).__name__} expects {expected} input, got input of shape {tuple(input.shape)}"
            )
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects {self.num_features} channels "
                f"on axis 1, got input of shape {tuple(input.shape)}"
            )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # Without running statistics there is nothing else to evaluate with, so batch statistics
        # are used in eval mode as well (torch does the same).
        use_batch_stats = self.training or self.running_mean is None
        update = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if update else None,
            self.running_var if update else None,
            self.weight, self.bias, use_batch_stats, factor, self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over ``(N, C)`` or ``(N, C, L)`` inputs; statistics per channel ``C``."""

    _accepted_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over ``(N, C, H, W)`` inputs; statistics per channel ``C`` over ``N, H, W``."""

    _accepted_dims = (4,)
