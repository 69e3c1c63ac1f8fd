"""The book's figure style and the drawings that several chapters share.

Call :func:`use_style` once in a notebook's setup cell. Colors for methods come from
:data:`COLORS` so "batch norm" has the same color in every chapter.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib import ticker

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
