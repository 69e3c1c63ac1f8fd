"""Normalization modules with the constructors, parameters, buffers and ``state_dict`` keys of
their ``torch.nn`` namesakes, computed by :mod:`normres.functional`."""

from .batchnorm import BatchNorm1d, BatchNorm2d
from .normalization import GroupNorm, LayerNorm, RMSNorm
from .noisy import NoisyBatchNorm1d, add_batch_norm_noise

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "RMSNorm", "NoisyBatchNorm1d", "add_batch_norm_noise"]
