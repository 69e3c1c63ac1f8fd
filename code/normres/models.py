"""Plain and residual networks of configurable depth, with a choice of normalization.

The same building block serves both families, so an experiment can remove the skip connection and
change nothing else (He et al.'s plain-vs-residual comparison):

- a **block** applies ``n_layers`` (default 2) layers ``Linear -> norm``, with the activation
  between them, and then the activation after the (optional) addition:
  ``y = act(F(x) + x)`` for a residual block, ``y = act(F(x))`` for a plain one;
- a **stem** maps the input to the network's width, ``act(norm(W x))``;
- a **head** maps the width to the class logits.

``MLP`` works on flat vectors, ``ConvNet`` on ``(N, C, H, W)`` images with 3x3 convolutions and a
global average pool before the head. ``norm`` is one of ``None``, ``'batch'``, ``'layer'``,
``'group'``, ``'rms'`` (MLP) or ``None``, ``'batch'``, ``'group'``, ``'layer'``, ``'instance'``
(ConvNet), each built from :mod:`normres.nn`.
"""

from __future__ import annotations

import torch
from torch import nn

from . import nn as nrnn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
MLP_NORMS = (None, "batch", "layer", "group", "rms")
CONV_NORMS = (None, "batch", "group", "layer", "instance")


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def make_norm(norm: str | None, num_features: int, conv: bool = False, num_groups: int = 4) -> nn.Module:
    """The normalization layer named ``norm`` for ``num_features`` features (or channels).

    For vectors ``(N, D)``: batch -> ``BatchNorm1d``, layer -> ``LayerNorm``, rms -> ``RMSNorm``,
    group -> ``GroupNorm(num_groups, D)``. For images ``(N, C, H, W)`` (``conv=True``):
    batch -> ``BatchNorm2d``, group -> ``GroupNorm(num_groups, C)``, layer -> ``GroupNorm(1, C)``,
    instance -> ``GroupNorm(C, C)``. ``None`` gives ``nn.Identity``.
    """
    allowed = CONV_NORMS if conv else MLP_NORMS
    if norm not in allowed:
        raise ValueError(f"norm must be one of {allowed}, got {norm!r}")
    if norm is None:
        return nn.Identity()
    if norm == "batch":
        return nrnn.BatchNorm2d(num_features) if conv else nrnn.BatchNorm1d(num_features)
    if norm == "group":
        return nrnn.GroupNorm(num_groups, num_features)
    if conv:
        groups = 1 if norm == "layer" else num_features
        return nrnn.GroupNorm(groups, num_features)
    return nrnn.LayerNorm(num_features) if norm == "layer" else nrnn.RMSNorm(num_features)


class Block(nn.Module):
    """``act(F(x) + x)`` (residual) or ``act(F(x))`` (plain), with
    ``F = norm_k . layer_k . act . ... . act . norm_1 . layer_1`` over ``n_layers`` layers.

    ``layer`` is a ``Linear(width, width)`` or, with ``conv=True``, a 3x3 ``Conv2d`` that keeps the
    spatial size. Input and output shapes are equal: ``(N, width)`` or ``(N, width, H, W)``.
    """

    def __init__(self, width: int, norm: str | None = None, activation: str = "relu",
                 residual: bool = True, n_layers: int = 2, conv: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        self.residual = residual
        layers: list[nn.Module] = []
        for i in range(n_layers):
            if conv:
                layers.append(nn.Conv2d(width, width, 3, padding=1, bias=norm is None))
            else:
                layers.append(nn.Linear(width, width, bias=norm is None))
            layers.append(make_norm(norm, width, conv=conv))
            if i < n_layers - 1:
                layers.append(_activation(activation))
        self.body = nn.Sequential(*layers)
        self.act = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.residual:
            out = out + x
        return self.act(out)


class _Network(nn.Module):
    """stem -> blocks -> head; ``blocks`` is an ``nn.ModuleList`` so probes and lesion studies can
    reach each block by index."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the stem and of every block, in order (for activation probes)."""
        outs = [self.stem(x)]
        for block in self.blocks:
            outs.append(block(outs[-1]))
        return outs


class MLP(_Network):
    """A fully connected classifier: ``Linear(in, width) -> norm -> act``, then ``num_blocks``
    blocks (see :class:`Block`), then ``Linear(width, out)``.

    Input ``(N, in_features)``, output logits ``(N, out_features)``. It has
    ``1 + num_blocks * layers_per_block`` hidden layers. ``num_blocks=0`` gives a one-hidden-layer MLP.
    """

    def __init__(self, in_features: int, width: int, num_blocks: int, out_features: int,
                 norm: str | None = None, activation: str = "relu", residual: bool = False,
                 layers_per_block: int = 2):
        super().__init__()
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0, got {num_blocks}")
        self.stem = nn.Sequential(nn.Linear(in_features, width, bias=norm is None),
                                  make_norm(norm, width), _activation(activation))
        self.blocks = nn.ModuleList(
            Block(width, norm, activation, residual, layers_per_block) for _ in range(num_blocks))
        self.head = nn.Linear(width, out_features)


class ConvNet(_Network):
    """A small conv classifier for ``(N, in_channels, H, W)`` images: a 3x3 conv stem to ``width``
    channels, ``num_blocks`` conv blocks (see :class:`Block`), global average pooling, and a linear
    head to ``num_classes`` logits."""

    def __init__(self, in_channels: int, width: int, num_blocks: int, num_classes: int,
                 norm: str | None = None, activation: str = "relu", residual: bool = False,
                 layers_per_block: int = 2):
        super().__init__()
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0, got {num_blocks}")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=norm is None),
                                  make_norm(norm, width, conv=True), _activation(activation))
        self.blocks = nn.ModuleList(
            Block(width, norm, activation, residual, layers_per_block, conv=True)
            for _ in range(num_blocks))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
