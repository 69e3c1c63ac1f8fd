"""normres: normalization layers and residual networks from scratch, shared by the chapters of
*Normalization and Residual Connections*.

Submodules:

- :mod:`normres.functional`: ``batch_norm``, ``layer_norm``, ``group_norm``, ``instance_norm``,
  ``rms_norm`` with the signatures of ``torch.nn.functional``.
- :mod:`normres.backward`: hand-derived backward passes for layer norm and batch norm.
- :mod:`normres.nn`: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm``.
- :mod:`normres.data`: the scikit-learn digits, split and standardized.
- :mod:`normres.models`: plain and residual MLPs and small conv nets with a choice of normalization.
- :mod:`normres.train`: a small deterministic training loop returning a history.
- :mod:`normres.probes`: hooks recording activations and per-layer gradient norms.
- :mod:`normres.plotting`: the book's figure style and the shared-statistics drawings.
- :mod:`normres.conditioning`: gradient descent on least squares, condition numbers (why normalize).
- :mod:`normres.smoothness`: how the loss and gradient change along the gradient direction.
- :mod:`normres.sequences`: padded token batches, masks and masked batch norm.
- :mod:`normres.residual_probes`: gradient and response probes for plain versus residual networks.
- :mod:`normres.landscape`: filter-normalized directions and loss slices.
- :mod:`normres.benchmark`: the operators a call runs; best-of-n timing (reported, never asserted).
"""

from . import functional, nn
from .seeding import current_seed, seed_everything, seeds
from . import data, models, probes, train  # noqa: E402  (after the layers they build on)

__all__ = ["functional", "nn", "data", "models", "probes", "train",
           "seed_everything", "current_seed", "seeds"]
__version__ = "0.1.0"
