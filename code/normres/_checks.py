"""Argument validation shared by the functional ops and the modules.

Every check raises an error that names the offending argument and says what was expected, so a
student who passes the wrong tensor learns what to fix instead of reading a broadcasting error
three calls deeper.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch


def check_tensor(value, name: str) -> None:
    """Raise TypeError unless ``value`` is a floating-point tensor."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")


def check_optional_tensor(value, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    """Raise unless ``value`` is None or a floating tensor of ``shape`` and ``dtype``."""
    if value is None:
        return
    check_tensor(value, name)
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(value.shape)}")
    if value.dtype != dtype:
        raise TypeError(f"{name} must have the input's dtype {dtype}, got {value.dtype}")


def check_min_dim(input: torch.Tensor, min_dim: int, what: str) -> None:
    """Raise ValueError when ``input`` has fewer than ``min_dim`` dimensions."""
    if input.dim() < min_dim:
        raise ValueError(
            f"input must have at least {min_dim} dimensions for {what}, "
            f"got shape {tuple(input.shape)}"
        )


def as_shape(normalized_shape, name: str = "normalized_shape") -> tuple[int, ...]:
    """Turn an int or a sequence of ints into a shape tuple, rejecting anything else."""
    if isinstance(normalized_shape, bool):
        raise TypeError(f"{name} must be an int or a sequence of ints, got bool")
    if isinstance(normalized_shape, int):
        shape = (normalized_shape,)
    elif isinstance(normalized_shape, (Sequence, torch.Size)) and not isinstance(normalized_shape, str):
        shape = tuple(normalized_shape)
    else:
        raise TypeError(
            f"{name} must be an int or a sequence of ints, got {type(normalized_shape).__name__}"
        )
    if len(shape) == 0:
        raise ValueError(f"{name} must have at least one dimension, got ()")
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"{name} must hold positive ints, got {shape}")
    return shape


def check_trailing_shape(input: torch.Tensor, normalized_shape: tuple[int, ...]) -> None:
    """Raise ValueError unless the last dimensions of ``input`` equal ``normalized_shape``."""
    k = len(normalized_shape)
    if input.dim() < k or tuple(input.shape[-k:]) != normalized_shape:
        raise ValueError(
            f"normalized_shape {normalized_shape} must match the trailing dimensions of input, "
            f"got input of shape {tuple(input.shape)}"
        )


def check_eps(eps, name: str = "eps") -> None:
    """Raise ValueError unless ``eps`` is a non-negative number."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"{name} must be a non-negative float, got {eps!r}")


def check_momentum(momentum, name: str = "momentum", allow_none: bool = False) -> None:
    """Raise ValueError unless ``momentum`` lies in [0, 1] (or is None where allowed)."""
    if momentum is None and allow_none:
        return
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
        expected = "a float in [0, 1] or None" if allow_none else "a float in [0, 1]"
        raise ValueError(f"{name} must be {expected}, got {momentum!r}")


def check_positive_int(value, name: str) -> None:
    """Raise ValueError unless ``value`` is a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_nonnegative_int(value, name: str) -> None:
    """Raise ValueError unless ``value`` is an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def check_positive_number(value, name: str) -> None:
    """Raise ValueError unless ``value`` is a positive real number (int or float, not bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_one_of(value, allowed, name: str) -> None:
    """Raise ValueError unless ``value`` is one of ``allowed``."""
    if value not in tuple(allowed):
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def check_module(value, name: str = "model") -> None:
    """Raise TypeError unless ``value`` is a ``torch.nn.Module``."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")


def check_generator(value, name: str = "generator") -> None:
    """Raise TypeError unless ``value`` is a ``torch.Generator`` or None."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(value).__name__}")


def check_data(X, y=None, *, labels: bool = True, x_name: str = "X", y_name: str = "y") -> None:
    """Raise unless ``X`` is a floating tensor and ``y`` (if given) a 1-D int64 tensor of labels with
    one entry per row of ``X`` (``labels=False``: any tensor with one row per row of ``X``)."""
    check_tensor(X, x_name)
    if y is None:
        return
    if not labels:
        if not isinstance(y, torch.Tensor) or y.shape[:1] != X.shape[:1]:
            raise ValueError(f"{y_name} must be a tensor with one row per row of {x_name} "
                             f"({X.shape[0]}), got {type(y).__name__} "
                             f"{tuple(y.shape) if isinstance(y, torch.Tensor) else ''}")
        return
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        raise TypeError(f"{y_name} must be a torch.Tensor of int64 class labels")
    if tuple(y.shape) != (X.shape[0],):
        raise ValueError(f"{y_name} must have shape ({X.shape[0]},) to match {x_name}, got {tuple(y.shape)}")


def to_numpy(value, name: str, dtype=None):
    """``value`` (a tensor, array or nested sequence) as a NumPy array, detached from any graph.

    The one place the package converts torch to NumPy, so every function accepts either.
    """
    import numpy as np
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(value).__name__}") from err


def check_labels(value, name: str, min_len: int = 0) -> list:
    """Return ``value`` as a list of strings; raise TypeError unless it is a sequence of strings
    (a single string is rejected, so ``"BN"`` is not read as ``["B", "N"]``), and ValueError when
    it holds fewer than ``min_len`` of them."""
    if isinstance(value, str) or not isinstance(value, Sequence) \
            or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a list of strings, got {value!r}")
    if len(value) < min_len:
        raise ValueError(f"{name} must hold at least {min_len} label(s), got {len(value)}")
    return list(value)
