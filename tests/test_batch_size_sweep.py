"""normres.bench.train.batch_size_sweep: one fresh model per (batch size, seed), linear lr scaling."""

import pytest
import torch
from torch import nn

from normres.bench.models import MLP
from normres.bench.train import batch_size_sweep, train


def _data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 5, generator=g)
    y = (X[:, 0] > 0).long()
    return X, y


def test_sweep_equals_separate_train_calls_with_scaled_lr():
    X, y = _data()
    build = lambda: MLP(5, 8, 0, 2, norm="batch")  # noqa: E731
    runs = batch_size_sweep(build, (X, y), batch_sizes=[16, 4], seeds=[3, 4], epochs=2, lr=0.2,
                            base_batch_size=16, val_data=(X, y))
    assert list(runs) == [16, 4] and [len(v) for v in runs.values()] == [2, 2]
    # the run for batch size 4 and seed 4 is exactly train() with lr 0.2 * 4/16 after manual_seed(4)
    torch.manual_seed(4)
    model = build()
    ref = train(model, (X, y), epochs=2, batch_size=4, lr=0.05, val_data=(X, y), seed=4)
    swept_model, hist = runs[4][1]
    assert hist.step_loss == ref.step_loss and hist.val_acc == ref.val_acc
    assert len(hist.step_loss) == 2 * 64 // 4
    for p, q in zip(swept_model.parameters(), model.parameters()):
        assert torch.equal(p, q)


def test_sweep_without_scaling_keeps_lr():
    X, y = _data()
    build = lambda: MLP(5, 8, 0, 2)  # noqa: E731
    runs = batch_size_sweep(build, (X, y), batch_sizes=[8], seeds=[1], epochs=1, lr=0.1,
                            scale_lr=False, optimizer="adam")
    torch.manual_seed(1)
    ref = train(build(), (X, y), epochs=1, batch_size=8, lr=0.1, seed=1, optimizer="adam")
    assert runs[8][0][1].step_loss == ref.step_loss


def test_sweep_rejects_bad_arguments():
    X, y = _data()
    with pytest.raises(TypeError, match="build"):
        batch_size_sweep(nn.Linear(5, 2), (X, y), batch_sizes=[4], seeds=[0], epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="batch_sizes"):
        batch_size_sweep(lambda: nn.Linear(5, 2), (X, y), batch_sizes=[0], seeds=[0], epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="seeds"):
        batch_size_sweep(lambda: nn.Linear(5, 2), (X, y), batch_sizes=[4], seeds=[], epochs=1, lr=0.1)


def test_equal_steps_protocol_gives_every_batch_size_the_same_steps():
    X, y = _data()   # 64 examples
    build = lambda: MLP(5, 8, 0, 2, norm="layer")  # noqa: E731
    runs = batch_size_sweep(build, (X, y), batch_sizes=[32, 8, 2], seeds=[0], steps=10, lr=0.1,
                            scale_lr=False, val_data=(X, y))
    for b in (32, 8, 2):
        hist = runs[b][0][1]
        assert len(hist.step_loss) == 10
    # with 32 examples per batch, 10 steps are 5 epochs; with 2 per batch, 10 steps end inside
    # the first epoch and are evaluated once at the stop
    assert len(runs[32][0][1].val_acc) == 5 and len(runs[2][0][1].val_acc) == 1
    # the same as train() with max_steps and the unscaled learning rate
    torch.manual_seed(0)
    ref = train(build(), (X, y), epochs=2, batch_size=8, lr=0.1, val_data=(X, y), seed=0,
                max_steps=10)
    assert runs[8][0][1].step_loss == ref.step_loss


def test_sweep_needs_exactly_one_budget():
    X, y = _data()
    with pytest.raises(ValueError, match="exactly one"):
        batch_size_sweep(lambda: nn.Linear(5, 2), (X, y), batch_sizes=[4], seeds=[0], lr=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        batch_size_sweep(lambda: nn.Linear(5, 2), (X, y), batch_sizes=[4], seeds=[0], lr=0.1,
                         epochs=1, steps=3)
