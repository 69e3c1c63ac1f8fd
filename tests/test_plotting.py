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


# --- draw_residual_block -----------------------------------------------------------------------

def test_residual_block_diagram_draws_branch_addition_and_identity_path():
    from normres.plotting import COLORS, draw_residual_block
    fig, ax = plt.subplots()
    parts = draw_residual_block(ax, ["Linear", "BN", "ReLU", "Linear", "BN"], ["ReLU"])
    assert parts["labels"] == ["Linear", "BN", "ReLU", "Linear", "BN", "ReLU"]
    assert len(parts["boxes"]) == 6
    # boxes stacked bottom to top, the addition between the branch and what follows it
    ys = [b.get_y() for b in parts["boxes"]]
    assert ys == sorted(ys)
    assert ys[4] < parts["add"].center[1] < ys[5]
    # the identity path is drawn in the residual colour and ends at the addition's height
    skip = parts["skip"]
    assert matplotlib.colors.same_color(skip.get_color(), COLORS["residual"])
    assert skip.get_ydata()[-1] == parts["add"].center[1]
    texts = [t.get_text() for t in ax.texts]
    assert "+" in texts and "identity" in texts
    plt.close(fig)


def test_plain_block_diagram_has_no_addition_and_names_the_output():
    from normres.plotting import draw_residual_block
    fig, ax = plt.subplots()
    parts = draw_residual_block(ax, ["Linear", "ReLU", "Linear"], residual=False)
    assert parts["add"] is None and parts["skip"] is None
    assert "$y = F(x)$" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_residual_block_diagram_rejects_bad_labels():
    from normres.plotting import draw_residual_block
    fig, ax = plt.subplots()
    with pytest.raises(TypeError, match="branch"):
        draw_residual_block(ax, "Linear")
    with pytest.raises(ValueError, match="branch"):
        draw_residual_block(ax, [])
    with pytest.raises(TypeError, match="after"):
        draw_residual_block(ax, ["Linear"], [1])
    with pytest.raises(TypeError, match="ax"):
        draw_residual_block(None, ["Linear"])
    plt.close(fig)
