"""The book's figure style and the drawings that several chapters share.

Call :func:`use_style` once in a notebook's setup cell. Colors for methods come from
:data:`COLORS` so "batch norm" has the same color in every chapter. :func:`draw_residual_block`
draws a residual (or plain) block as a flow diagram, for any placement of the normalization.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib import patches as mpatches
from matplotlib import ticker

from . import _checks

# Okabe-Ito: distinguishable with the common forms of color blindness.
COLORS = {
    "none": "#000000",
    "batch": "#E69F00",
    "layer": "#0072B2",
    "group": "#009E73",
    "instance": "#CC79A7",
    "rms": "#D55E00",
    "plain": "#999999",
    "residual": "#0072B2",
}


def use_style() -> None:
    """Set the book's matplotlib defaults: readable fonts, light grid, no top/right spines,
    a fixed figure DPI so stored images look the same on every machine."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "axes.prop_cycle": mpl.cycler(color=list(COLORS.values())[1:] + ["#56B4E9", "#F0E442"]),
    })


def label_log_axis(axis, subs: Sequence[float] = (1, 2, 5)) -> None:
    """Put plain-number labels (2, 5, 10, 20, ...) on a log-scale ``axis`` (``ax.xaxis``/``ax.yaxis``).

    Major ticks go at ``subs`` times each power of ten and read like ``%g``; minor tick labels are
    removed. Matplotlib's default labels only the powers of ten, which leaves an axis spanning less
    than a decade with one label or none.
    """
    if not isinstance(axis, mpl.axis.Axis):
        raise TypeError(f"axis must be a matplotlib Axis such as ax.yaxis, got {type(axis).__name__}")
    axis.set_major_locator(ticker.LogLocator(base=10, subs=tuple(subs)))
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())


def shared_statistics_mask(shape: Sequence[int], reduce_axes: Sequence[int],
                           index: Sequence[int] | None = None,
                           group: tuple[int, int] | None = None) -> np.ndarray:
    """Boolean mask of the elements that share normalization statistics with element ``index``.

    Two elements share statistics when they agree on every axis *not* in ``reduce_axes``. With
    ``group=(axis, size)`` that axis is reduced within consecutive groups of ``size`` (group norm).
    ``index`` defaults to the first element.
    """
    shape = tuple(shape)
    index = tuple(index) if index is not None else (0,) * len(shape)
    grids = np.indices(shape)
    mask = np.ones(shape, dtype=bool)
    for axis in range(len(shape)):
        if group is not None and axis == group[0]:
            mask &= grids[axis] // group[1] == index[axis] // group[1]
        elif axis not in reduce_axes:
            mask &= grids[axis] == index[axis]
    return mask


def draw_statistics_cube(ax, mask: np.ndarray, axis_labels: Sequence[str], title: str = "",
                         color: str = COLORS["layer"]) -> None:
    """Draw a 3-D block of cells on a 3-D axes ``ax``, filling the cells where ``mask`` is True.

    ``mask`` has three axes; they are drawn as depth (axis 0), height (axis 1) and width (axis 2),
    labelled by ``axis_labels``. The filled cells are one group that shares a mean and a variance.
    """
    if mask.ndim != 3:
        raise ValueError(f"mask must have 3 axes, got shape {mask.shape}")
    # voxels are indexed (x, y, z): put axis 2 along x, axis 0 along y (depth), axis 1 along z
    # flipped so index 0 is at the top.
    vox = np.transpose(mask[:, ::-1, :], (2, 0, 1))
    faces = np.where(vox, color, "#FFFFFF")
    ax.voxels(np.ones_like(vox), facecolors=faces, edgecolors="#555555", linewidth=0.4, alpha=0.9)
    ax.set_xlabel(axis_labels[2], labelpad=-12)
    ax.set_ylabel(axis_labels[0], labelpad=-12)
    ax.set_zlabel(axis_labels[1], labelpad=-12)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    ax.set_box_aspect(vox.shape)
    ax.grid(False)
    ax.view_init(elev=20, azim=-60)
    if title:
        ax.set_title(title)


def _tint(color: str, amount: float = 0.55) -> tuple[float, float, float]:
    """``color`` mixed with white (``amount`` = share of white), for box fills that keep black
    text readable."""
    r, g, b = mpl.colors.to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def _box_color(label: str):
    """Fill of a block-diagram box, chosen from its label: batch norm, layer norm, activation."""
    low = label.lower()
    if low.startswith("bn") or "batch" in low:
        return _tint(COLORS["batch"])
    if low.startswith("ln") or "layer norm" in low:
        return _tint(COLORS["layer"])
    if low.startswith(("relu", "gelu", "tanh", "act")):
        return "#E4E4E4"
    return "#FFFFFF"


def draw_residual_block(ax, branch: Sequence[str], after: Sequence[str] = (), *,
                        residual: bool = True, title: str = "", input_label: str = "$x$",
                        output_label: str | None = None, skip_label: str = "identity") -> dict:
    r"""Draw a block as a flow diagram on ``ax``, input at the bottom, output at the top.

    ``branch`` lists the layers of the branch :math:`F` from bottom to top (for example
    ``["Linear", "BN", "ReLU", "Linear", "BN"]``); ``after`` the layers that follow the addition
    on the main path (``["ReLU"]`` for a ResNet v1 block, ``["LN"]`` for a Post-LN block). With
    ``residual=True`` the identity path leaves below the branch, runs up on the right in the
    residual colour and joins the branch at a :math:`\oplus`, so the drawing shows
    ``after(x + F(x))``; with ``residual=False`` there is no identity path and no addition (the plain
    block ``after(F(x))``). Boxes are filled by label: ``BN...`` batch-norm colour, ``LN...``
    layer-norm colour, activations grey, the rest white. The axes is switched off and drawn to
    equal scale; ``output_label`` defaults to :math:`y = x + F(x)` for a residual block with
    nothing after the addition, :math:`y = F(x)` for a plain one, else :math:`y`.

    Returns a dict: ``"boxes"`` (the box patches, branch then after), ``"labels"`` (their texts),
    ``"add"`` (the :math:`\oplus` circle, None if plain) and ``"skip"`` (the identity path's line,
    None if plain).
    """
    branch = _checks.check_labels(branch, "branch", min_len=1)
    after = _checks.check_labels(after, "after")
    if not hasattr(ax, "add_patch"):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    w, h, gap, r = 1.6, 0.55, 0.35, 0.17     # box width and height, vertical gap, circle radius
    x0, skip_x = 0.0, 1.35                   # main column, identity column
    ink = "#333333"
    arrow = dict(arrowstyle="-|>", mutation_scale=10, shrinkA=0, shrinkB=0, color=ink, lw=1.2)
    boxes: list = []

    def up(y_from, y_to):
        ax.add_patch(mpatches.FancyArrowPatch((x0, y_from), (x0, y_to), **arrow))

    def stack(labels, bottom):
        for label in labels:
            up(bottom, bottom + gap)
            patch = mpatches.FancyBboxPatch((x0 - w / 2, bottom + gap), w, h, lw=1.0, ec=ink,
                                            fc=_box_color(label),
                                            boxstyle="round,pad=0.02,rounding_size=0.08")
            ax.add_patch(patch)
            ax.text(x0, bottom + gap + h / 2, label, ha="center", va="center", fontsize=9.5)
            boxes.append(patch)
            bottom += gap + h
        return bottom

    ax.text(x0, 0.0, input_label, ha="center", va="top", fontsize=11)
    y_split = 0.3
    ax.plot([x0, x0], [0.0, y_split], color=ink, lw=1.2)
    top = stack(branch, y_split)
    add = skip = None
    if residual:
        y_add = top + gap + r
        up(top, y_add - r)
        add = mpatches.Circle((x0, y_add), r, fc="white", ec=ink, lw=1.2)
        ax.add_patch(add)
        ax.text(x0, y_add, "+", ha="center", va="center", fontsize=12)
        color = COLORS["residual"]
        (skip,) = ax.plot([x0, skip_x, skip_x], [y_split, y_split, y_add], color=color, lw=2.2)
        ax.add_patch(mpatches.FancyArrowPatch((skip_x, y_add), (x0 + r, y_add),
                                              **{**arrow, "color": color, "lw": 2.2}))
        ax.plot([x0], [y_split], "o", color=color, ms=4)
        ax.text(skip_x + 0.08, (y_split + y_add) / 2, skip_label, rotation=90, ha="left",
                va="center", color=color, fontsize=9)
        top = y_add + r
    top = stack(after, top)
    up(top, top + gap)
    top += gap
    if output_label is None:
        output_label = "$y$" if after else ("$y = x + F(x)$" if residual else "$y = F(x)$")
    ax.text(x0, top + 0.05, output_label, ha="center", va="bottom", fontsize=11)
    ax.set_xlim(x0 - w / 2 - 0.3, skip_x + 0.55)
    ax.set_ylim(-0.35, top + 0.45)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return {"boxes": boxes, "labels": branch + after, "add": add, "skip": skip}
