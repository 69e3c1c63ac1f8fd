"""The instruments that measure: what a network's activations, gradients and loss surface do.

- :mod:`normres.probes.activations`: hooks recording activations and per-layer gradient norms;
  the drift of a layer's input distribution over training.
- :mod:`normres.probes.residual`: gradient and response probes for plain versus residual networks.
- :mod:`normres.probes.landscape`: filter-normalized directions, loss slices and their roughness.
- :mod:`normres.probes.smoothness`: how the loss and gradient change along the gradient direction.
- :mod:`normres.probes.conditioning`: gradient descent on least squares and condition numbers.
- :mod:`normres.probes.numerics`: one-pass, two-pass and Welford variances in any float dtype.
- :mod:`normres.probes.benchmark`: the operators a call runs; best-of-n timing (reported, never
  asserted).

Submodules are imported on demand (``from normres.probes.landscape import ...``).
"""
