"""normres: normalization layers and residual networks from scratch, shared by the chapters of
*Normalization and Residual Connections*.

The layout follows the book's architecture:

- **The layers being taught.** :mod:`normres.functional` (``batch_norm``, ``layer_norm``,
  ``group_norm``, ``instance_norm``, ``rms_norm`` with the signatures of ``torch.nn.functional``,
  plus ``masked_batch_norm``); :mod:`normres.backward` (hand-derived backward passes for layer
  norm and batch norm); :mod:`normres.nn` (modules with the parameters, buffers and ``state_dict``
  keys of their ``torch.nn`` namesakes).
- **The bench they are tried on.** :mod:`normres.bench`: ``data`` (the digits), ``models`` (plain
  and residual MLPs and conv nets), ``train`` (training loop and sweeps), ``seeding``,
  ``sequences`` (padded token batches), ``ensemble`` (a whole learning-rate x seed sweep of small
  MLPs trained as one vectorized model).
- **The instruments that measure.** :mod:`normres.probes`: ``activations``, ``residual``,
  ``landscape``, ``smoothness``, ``conditioning``, ``benchmark``, ``numerics`` (one-pass, two-pass
  and Welford variances in low precision).
- **Part III.** :mod:`normres.transformer`: a small Transformer encoder (attention with a padding
  mask, feed-forward, blocks with a choice of norm position and kind, token tasks, training).
- :mod:`normres.plotting` (the book's figure style and block diagrams), :mod:`normres.interactive`
  (figures a reader can scrub or turn, offline) and :mod:`normres.claims` (every experimental claim
  of the book, asserted with its sentence and threshold).
"""

from . import functional, nn
from .bench.seeding import current_seed, seed_everything, seeds
from . import bench, claims, probes  # noqa: E402  (after the layers they build on)

__all__ = ["functional", "nn", "bench", "probes", "claims",
           "seed_everything", "current_seed", "seeds"]
__version__ = "0.2.0"
