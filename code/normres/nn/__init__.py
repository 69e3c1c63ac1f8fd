"""Normalization modules with the constructors, parameters, buffers and ``state_dict`` keys of
their ``torch.nn`` namesakes, computed by :mod:`normres.functional`; plus the sequence variants
(masked and per-position batch norm) that torch does not have."""

from .batchnorm import BatchNorm1d, BatchNorm2d
from .normalization import GroupNorm, LayerNorm, RMSNorm
from .noisy import NoisyBatchNorm1d, add_batch_norm_noise
from .sequence import MaskedBatchNorm1d, PerPositionBatchNorm
from .dyt import DynamicTanh

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "RMSNorm", "NoisyBatchNorm1d",
           "add_batch_norm_noise", "MaskedBatchNorm1d", "PerPositionBatchNorm",
           "DynamicTanh"]
