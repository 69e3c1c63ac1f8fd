"""Plain and residual networks of configurable depth, with a choice of normalization.

The same building block serves both families, so an experiment can remove the skip connection and
change nothing else (He et al.'s plain-vs-residual comparison):

- a **block** applies ``layers_per_block`` (default 2) layers ``Linear -> norm``, with the activation
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

from .. import _checks
from .. import nn as nrnn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
MLP_NORMS = (None, "batch", "layer", "group", "rms")
CONV_NORMS = (None, "batch", "group", "layer", "instance")


def _activation(name: str) -> nn.Module:
    _checks.check_one_of(name, sorted(ACTIVATIONS), "activation")
    return ACTIVATIONS[name]()


def _weight_layer(n_in: int, n_out: int, conv: bool, bias: bool) -> nn.Module:
    """``Linear(n_in, n_out)`` or, with ``conv=True``, a 3x3 ``Conv2d`` that keeps the spatial size."""
    if conv:
        return nn.Conv2d(n_in, n_out, 3, padding=1, bias=bias)
    return nn.Linear(n_in, n_out, bias=bias)


def make_stem(in_features: int, width: int, norm: str | None, activation: str | None, *,
              conv: bool = False, bias: bool | None = None) -> nn.Module:
    """The stem every network here starts with: ``layer -> norm -> act``, mapping the input to the
    network's width.

    ``layer`` is ``Linear(in_features, width)`` or, with ``conv=True``, a 3x3 ``Conv2d``; its bias is
    dropped when a norm follows (the norm's shift makes it redundant) unless ``bias`` says otherwise.
    ``norm=None`` puts an ``Identity`` in the norm's place (so module indices do not depend on the
    norm) and ``activation=None`` leaves out the activation; with neither, the stem is the bare
    layer. Input ``(N, in_features)`` or ``(N, in_features, H, W)``; output width ``width``.
    """
    layer = _weight_layer(in_features, width, conv, norm is None if bias is None else bias)
    if norm is None and activation is None:
        return layer
    parts = [layer, make_norm(norm, width, conv=conv)]
    if activation is not None:
        parts.append(_activation(activation))
    return nn.Sequential(*parts)


def make_norm(norm: str | None, num_features: int, conv: bool = False, num_groups: int = 4) -> nn.Module:
    """The normalization layer named ``norm`` for ``num_features`` features (or channels).

    For vectors ``(N, D)``: batch -> ``BatchNorm1d``, layer -> ``LayerNorm``, rms -> ``RMSNorm``,
    group -> ``GroupNorm(num_groups, D)``. For images ``(N, C, H, W)`` (``conv=True``):
    batch -> ``BatchNorm2d``, group -> ``GroupNorm(num_groups, C)``, layer -> ``GroupNorm(1, C)``,
    instance -> ``GroupNorm(C, C)``. ``None`` gives ``nn.Identity``.
    """
    _checks.check_one_of(norm, CONV_NORMS if conv else MLP_NORMS, "norm")
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
    ``F = norm_k . layer_k . act . ... . act . norm_1 . layer_1`` over ``layers_per_block`` layers.

    ``layer`` is a ``Linear(width, width)`` or, with ``conv=True``, a 3x3 ``Conv2d`` that keeps the
    spatial size. Input and output shapes are equal: ``(N, width)`` or ``(N, width, H, W)``.
    """

    def __init__(self, width: int, norm: str | None = None, activation: str = "relu",
                 residual: bool = False, layers_per_block: int = 2, conv: bool = False):
        super().__init__()
        _checks.check_positive_int(layers_per_block, "layers_per_block")
        self.residual = residual
        layers: list[nn.Module] = []
        for i in range(layers_per_block):
            layers.append(_weight_layer(width, width, conv=conv, bias=norm is None))
            layers.append(make_norm(norm, width, conv=conv))
            if i < layers_per_block - 1:
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
        _checks.check_nonnegative_int(num_blocks, "num_blocks")
        self.stem = make_stem(in_features, width, norm, activation)
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
        _checks.check_nonnegative_int(num_blocks, "num_blocks")
        self.stem = make_stem(in_channels, width, norm, activation, conv=True)
        self.blocks = nn.ModuleList(
            Block(width, norm, activation, residual, layers_per_block, conv=True)
            for _ in range(num_blocks))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


# --- Where the normalization sits in a residual block (residual-connections chapter) -----------

PLACEMENTS = ("post-act", "pre-act", "post-norm")


class PreActBlock(nn.Module):
    r"""The pre-activation residual block of He et al. (2016, "Identity mappings"):
    ``y = x + F(x)`` with ``F = layer_k . act . norm_k . ... . layer_1 . act . norm_1``.

    Nothing follows the addition, so the skip path is an exact identity and
    :math:`\partial y/\partial x = I + \partial F/\partial x`. ``layer`` is ``Linear(width, width)``;
    input and output ``(N, width)``. ``body`` holds ``F``.
    """

    def __init__(self, width: int, norm: str | None = None, activation: str = "relu",
                 layers_per_block: int = 2):
        super().__init__()
        _checks.check_positive_int(layers_per_block, "layers_per_block")
        layers: list[nn.Module] = []
        for _ in range(layers_per_block):
            layers += [make_norm(norm, width), _activation(activation), nn.Linear(width, width)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PostNormBlock(nn.Module):
    r"""The post-norm block of the original Transformer ("Post-LN"): ``y = norm(x + F(x))`` with
    ``F = layer_k . act . ... . act . layer_1`` (biases on, no norm inside ``F``).

    The normalization sits on the skip path itself, so
    :math:`\partial y/\partial x = J_{\mathrm{norm}}\,(I + \partial F/\partial x)`. Input and
    output ``(N, width)``. ``body`` holds ``F`` and ``norm`` the normalization (default none, as
    everywhere in this module: pass ``norm="layer"`` for Post-LN).
    """

    def __init__(self, width: int, norm: str | None = None, activation: str = "relu",
                 layers_per_block: int = 2):
        super().__init__()
        _checks.check_positive_int(layers_per_block, "layers_per_block")
        layers: list[nn.Module] = []
        for i in range(layers_per_block):
            layers.append(nn.Linear(width, width))
            if i < layers_per_block - 1:
                layers.append(_activation(activation))
        self.body = nn.Sequential(*layers)
        self.norm = make_norm(norm, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.body(x))


class ResidualMLP(_Network):
    """A residual MLP whose blocks place the normalization in one of three ways (``placement``):

    - ``'post-act'`` (ResNet v1, He et al. 2016a): :class:`Block`, ``act(x + F(x))`` with ``F``
      ending in a norm; stem ``Linear -> norm -> act``; head ``Linear``. Same modules, in the same
      order, as ``MLP(..., residual=True)``, so one seed gives one network.
    - ``'pre-act'`` (He et al. 2016b, and Pre-LN Transformers): :class:`PreActBlock`,
      ``x + F(x)`` with ``F`` starting with norm and activation; stem ``Linear``; head
      ``norm -> act -> Linear`` (the final normalization these networks need).
    - ``'post-norm'`` (Post-LN Transformers): :class:`PostNormBlock`, ``norm(x + F(x))``; stem
      ``Linear -> norm``; head ``Linear``.

    Input ``(N, in_features)``, output logits ``(N, out_features)``.
    """

    def __init__(self, in_features: int, width: int, num_blocks: int, out_features: int,
                 norm: str | None = None, activation: str = "relu", placement: str = "post-act",
                 layers_per_block: int = 2):
        super().__init__()
        _checks.check_one_of(placement, PLACEMENTS, "placement")
        _checks.check_nonnegative_int(num_blocks, "num_blocks")
        self.placement = placement
        if placement == "post-act":
            self.stem = make_stem(in_features, width, norm, activation)
            blocks = (Block(width, norm, activation, True, layers_per_block) for _ in range(num_blocks))
            self.blocks = nn.ModuleList(blocks)
            self.head = nn.Linear(width, out_features)
        elif placement == "pre-act":
            self.stem = make_stem(in_features, width, None, None, bias=True)
            self.blocks = nn.ModuleList(
                PreActBlock(width, norm, activation, layers_per_block) for _ in range(num_blocks))
            self.head = nn.Sequential(make_norm(norm, width), _activation(activation),
                                      nn.Linear(width, out_features))
        else:
            self.stem = make_stem(in_features, width, norm, None, bias=True)
            self.blocks = nn.ModuleList(
                PostNormBlock(width, norm, activation, layers_per_block) for _ in range(num_blocks))
            self.head = nn.Linear(width, out_features)


def init_weights_(model: nn.Module, std: float | None = None) -> nn.Module:
    r"""Re-initialize every ``Linear`` and ``Conv2d`` of ``model`` in place and return ``model``.

    Weights are drawn from :math:`\mathcal N(0, \sigma^2)` with :math:`\sigma` = ``std`` if given,
    else He et al.'s :math:`\sigma = \sqrt{2/\text{fan\_in}}` (which keeps the scale of ReLU
    activations constant with depth); biases are set to zero. Normalization layers are untouched.
    """
    if std is not None:
        _checks.check_positive_number(std, "std")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            if std is None:
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            else:
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
