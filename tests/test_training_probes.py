"""Plumbing appended for the batch-norm chapters: ActivationTracker, distribution_path_length and
median_excursion (normres.probes.activations), init_weights_ (normres.bench.models), steps_to_target (normres.bench.train)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from normres import nn as N
from normres.bench.models import MLP, init_weights_
from normres.probes.activations import ActivationTracker, distribution_path_length, median_excursion
from normres.bench.train import steps_to_target, train


def data(gen, n=64):
    X = torch.randn(n, 6, generator=gen)
    y = (X[:, 0] > 0).long()
    return X, y


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_tracker_records_without_changing_training(gen, mode):
    X, y = data(gen)
    runs = []
    for track in (False, True):
        torch.manual_seed(0)
        model = MLP(6, 8, 1, 2, norm="batch")
        N.add_batch_norm_noise(model)  # noise draws would shift the RNG if the tracker leaked
        tracker = ActivationTracker(model.blocks[0].body, X[:20], every=3, mode=mode, eval_data=(X, y))
        if track:
            tracker(0, model)
        train(model, (X, y), epochs=3, batch_size=16, lr=0.1, seed=0,
              on_step=tracker if track else None)
        runs.append((model.state_dict(), tracker))
    (a, _), (b, tracker) = runs
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert tracker.steps == [0, 3, 6, 9, 12]
    assert tracker.acts.shape == (5, 20, 8)
    assert len(tracker.accuracy) == 5 and all(0 <= v <= 1 for v in tracker.accuracy)


def test_tracker_modes_differ_and_units_select_columns(gen):
    X, _ = data(gen)
    torch.manual_seed(0)
    model = MLP(6, 8, 1, 2, norm="batch")
    for _ in range(3):
        model(X * 3 + 1)  # running statistics now differ from the probe's batch statistics
    ev = ActivationTracker(model.blocks[0].body, X, mode="eval", units=[1, 4])
    tr = ActivationTracker(model.blocks[0].body, X, mode="train")
    ev(0, model), tr(0, model)
    assert ev.acts.shape == (1, 64, 2)
    torch.testing.assert_close(tr.acts[0].mean(0), torch.zeros(8), atol=1e-5, rtol=0)  # BN, train mode
    assert not torch.allclose(ev.acts[0], tr.acts[0][:, [1, 4]])
    tr(5, model)  # not a multiple of every=10: ignored
    assert tr.steps == [0]


def test_tracker_bad_input():
    with pytest.raises(ValueError, match="mode"):
        ActivationTracker(nn.Identity(), torch.zeros(2, 2), mode="test")
    with pytest.raises(ValueError, match="every"):
        ActivationTracker(nn.Identity(), torch.zeros(2, 2), every=0)
    with pytest.raises(TypeError, match="module"):
        ActivationTracker("layer", torch.zeros(2, 2))
    with pytest.raises(ValueError, match="nothing recorded"):
        ActivationTracker(nn.Identity(), torch.zeros(2, 2)).acts


def test_distribution_path_length_of_known_shifts(gen):
    base = torch.randn(500, 3, generator=gen, dtype=torch.float64)
    # unit 0 never moves; unit 1 shifts by 0.5 then back; unit 2 doubles its spread once
    snaps = torch.stack([base, base + torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64),
                         base * torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64)])
    D = distribution_path_length(snaps)
    std = base.std(0, correction=0)
    assert D[0].item() == 0
    assert D[1].item() == pytest.approx(1.0 / std[1].item(), rel=1e-6)
    # W1 between x and 2x (same centre) is mean |x_sorted - mean| = mean abs deviation
    mad = (base[:, 2] - base[:, 2].mean()).abs().mean().item()
    assert D[2].item() == pytest.approx(mad / (std[2].item() * 4 / 3), rel=1e-2)
    assert D[2].item() == pytest.approx(distribution_path_length(snaps * 7)[2].item())  # scale-free


def test_median_excursion_matches_numpy(gen):
    acts = torch.randn(6, 101, 4, generator=gen) + torch.arange(6.0).reshape(6, 1, 1) * 0.1
    q = np.percentile(acts.numpy().astype(np.float64), [15, 50, 85], axis=1)
    expected = (q[1].max(0) - q[1].min(0)) / (q[2] - q[0]).mean(0)
    np.testing.assert_allclose(median_excursion(acts).numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="acts must have shape"):
        median_excursion(torch.zeros(1, 5, 2))
    with pytest.raises(ValueError, match="acts must have shape"):
        distribution_path_length(torch.zeros(3, 5))


def test_init_weights_he_and_gaussian():
    torch.manual_seed(0)
    model = MLP(400, 400, 1, 10, norm=None)
    init_weights_(model)
    w = model.blocks[0].body[0].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert all(torch.all(m.bias == 0) for m in model.modules() if isinstance(m, nn.Linear))
    init_weights_(model, std=0.01)
    assert model.stem[0].weight.std().item() == pytest.approx(0.01, rel=0.02)
    with pytest.raises(ValueError, match="std"):
        init_weights_(model, std=0)


def test_steps_to_target():
    assert steps_to_target([0.2, 0.5, 0.95, 0.8], 0.9, [16, 32, 48, 64]) == 48
    assert steps_to_target([0.2, 0.5], 0.9, [16, 32]) == math.inf
    with pytest.raises(ValueError, match="equally long"):
        steps_to_target([0.1], 0.5, [1, 2])


def test_lr_sweep_trains_fresh_models_and_calls_probes(gen):
    from normres.bench.train import lr_sweep
    X, y = data(gen)
    calls = []

    def make_probes(lr, seed, model):
        return [lambda step, model, loss: calls.append((lr, seed, step))] if lr == 0.1 else []

    out = lr_sweep(lambda: MLP(6, 8, 1, 2), (X, y), lrs=[0.1, 0.5], seeds=[3, 4], epochs=2,
                   batch_size=16, val_data=(X, y), make_probes=make_probes)
    assert list(out) == [0.1, 0.5] and all(len(v) == 2 for v in out.values())
    assert len(out[0.1][0].val_acc) == 2
    # the same seed and lr give the same run as a plain train() call
    torch.manual_seed(3)
    ref = train(MLP(6, 8, 1, 2), (X, y), epochs=2, batch_size=16, lr=0.5, val_data=(X, y), seed=3)
    assert ref.step_loss == out[0.5][0].step_loss
    assert [c for c in calls if c[1] == 3] == [(0.1, 3, s) for s in range(0, 9)]
    with pytest.raises(ValueError, match="lrs"):
        lr_sweep(lambda: MLP(6, 8, 1, 2), (X, y), lrs=[-1], seeds=[0], epochs=1, batch_size=16)
    with pytest.raises(TypeError, match="build"):
        lr_sweep(None, (X, y), lrs=[0.1], seeds=[0], epochs=1, batch_size=16)
