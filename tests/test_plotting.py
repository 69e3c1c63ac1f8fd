"""normres.plotting: the statistics masks behind the "who shares statistics" figures, and log-axis labels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from normres.plotting import label_log_axis, shared_statistics_mask  # noqa: E402


def test_masks_of_the_named_methods_on_nchw():
    shape = (2, 4, 3, 3)
    assert shared_statistics_mask(shape, (0, 2, 3)).sum() == 2 * 3 * 3      # batch norm
    assert shared_statistics_mask(shape, (1, 2, 3)).sum() == 4 * 3 * 3      # layer norm
    assert shared_statistics_mask(shape, (2, 3)).sum() == 3 * 3             # instance norm
    group = shared_statistics_mask(shape, (1, 2, 3), group=(1, 2))          # group norm, 2 groups
    assert group.sum() == 2 * 3 * 3
    assert group[0, :2].all() and not group[0, 2:].any() and not group[1].any()


def test_mask_follows_the_chosen_element():
    mask = shared_statistics_mask((3, 4), (1,), index=(2, 0))
    assert mask[2].all() and mask.sum() == 4


def test_label_log_axis_gives_plain_numbers_inside_a_decade():
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    ax.set_ylim(2, 60)
    label_log_axis(ax.yaxis)
    fig.canvas.draw()
    shown = [(loc, label.get_text()) for loc, label
             in zip(ax.yaxis.get_majorticklocs(), ax.yaxis.get_ticklabels()) if 2 <= loc <= 60]
    assert np.allclose([loc for loc, _ in shown], [2, 5, 10, 20, 50])
    assert [text for _, text in shown] == ["2", "5", "10", "20", "50"]
    plt.close(fig)


def test_label_log_axis_names_a_wrong_argument():
    fig, ax = plt.subplots()
    with pytest.raises(TypeError, match="axis must be a matplotlib Axis"):
        label_log_axis(ax)
    plt.close(fig)
