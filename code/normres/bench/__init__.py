"""The bench the layers are tried on: data, models, training, seeding and padded sequences.

- :mod:`normres.bench.data`: the scikit-learn digits, split and standardized.
- :mod:`normres.bench.models`: plain and residual MLPs and small conv nets with a choice of
  normalization, built from one stem, one block and one head convention.
- :mod:`normres.bench.train`: a small deterministic training loop returning a history; learning-
  rate and batch-size sweeps.
- :mod:`normres.bench.seeding`: one place where randomness starts (``NORMRES_SEED``).
- :mod:`normres.bench.sequences`: synthetic padded token batches, masks and positions.
- :mod:`normres.bench.ensemble`: a learning-rate x seed sweep of plain MLPs trained as one
  vectorized model (a drop-in for ``train.lr_sweep``).
"""

from . import data, models, seeding, sequences, train

__all__ = ["data", "models", "seeding", "sequences", "train"]
