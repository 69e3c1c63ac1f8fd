"""The digits data set that ships with scikit-learn, split and standardized once for the whole book.

1,797 grey-scale images of 8x8 pixels (values 0..16) with labels 0..9. No download is needed: the
file is inside the scikit-learn wheel. The split is fixed (stratified, 60/20/20, independent of the
notebook's seed) so every chapter and every seed sees the same examples; the seed only changes
initialization and the order of mini-batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

SPLIT_SEED = 0  # fixed on purpose: the data split is part of the book, not of an experiment


@dataclass(frozen=True)
class Digits:
    """Train/validation/test tensors. ``X_*`` are float32 ``(n, 64)`` (or ``(n, 1, 8, 8)`` as
    images), ``y_*`` are int64 ``(n,)``."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X_train, self.y_train

    @property
    def val(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X_val, self.y_val

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X_test, self.y_test

    @property
    def num_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))

    num_classes: int = 10


@lru_cache(maxsize=None)
def _split() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=SPLIT_SEED)
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=SPLIT_SEED)
    return X_train, y_train, X_val, y_val, X_test, y_test


def load_digits(standardize: bool = True, images: bool = False) -> Digits:
    """The digits, split 1078/359/360 into train/validation/test.

    Args:
        standardize: subtract the per-pixel mean of the training set and divide by its standard
            deviation (pixels that are constant in training, such as some corners, are only
            centred). When False, the raw pixel values 0..16 are returned as floats.
        images: return inputs shaped ``(n, 1, 8, 8)`` for conv nets instead of ``(n, 64)``.
    """
    X_train, y_train, X_val, y_val, X_test, y_test = _split()
    if standardize:
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        X_train, X_val, X_test = ((X - mean) / std for X in (X_train, X_val, X_test))

    def as_x(X):
        t = torch.tensor(X, dtype=torch.float32)
        return t.reshape(-1, 1, 8, 8) if images else t

    def as_y(y):
        return torch.tensor(y, dtype=torch.long)

    return Digits(as_x(X_train), as_y(y_train), as_x(X_val), as_y(y_val), as_x(X_test), as_y(y_test))
