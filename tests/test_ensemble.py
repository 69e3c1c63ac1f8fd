"""normres.bench.ensemble: G MLPs trained as one vectorized ensemble behave like G separate runs."""

import math

import pytest
import torch
from torch import nn

from normres import nn as nrnn
from normres.bench.ensemble import EnsembleMLP, ensemble_lr_sweep
from normres.bench.models import MLP, init_weights_
from normres.bench.train import lr_sweep


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    return X, y


def _build(norm=None, noisy=False, activation="relu"):
    def build():
        m = init_weights_(MLP(6, 8, 2, 3, norm=norm, activation=activation, layers_per_block=2))
        return nrnn.add_batch_norm_noise(m) if noisy else m
    return build


@pytest.mark.parametrize("norm", [None, "batch"])
def test_forward_equals_each_member(norm):
    models = []
    for s in range(3):
        torch.manual_seed(s)
        models.append(_build(norm)())
    ens = EnsembleMLP(models)
    x = torch.randn(3, 10, 6)
    for mode in ("train", "eval"):
        ens.train(mode == "train")
        out = ens(x)
        for g, m in enumerate(models):
            m.train(mode == "train")
            torch.testing.assert_close(out[g], m(x[g]), rtol=1e-5, atol=1e-5)
    # running statistics were updated per member, exactly like each model's own
    for g, m in enumerate(models):
        back = ens.member(g)
        for (k, a), b in zip(back.state_dict().items(), m.state_dict().values()):
            if k.endswith("num_batches_tracked"):
                continue
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm", [None, "batch"])
def test_sweep_matches_lr_sweep(norm):
    X, y = _data()
    kw = dict(lrs=[0.01, 0.05], seeds=[1, 2], epochs=3, batch_size=16, val_data=(X, y))
    ref = lr_sweep(_build(norm), (X, y), **kw)
    out = ensemble_lr_sweep(_build(norm), (X, y), **kw)
    for lr in kw["lrs"]:
        for a, b in zip(ref[lr], out[lr]):
            assert len(a.step_loss) == len(b.step_loss) == 3 * (96 // 16)
            assert a.diverged == b.diverged is False
            torch.testing.assert_close(torch.tensor(b.step_loss), torch.tensor(a.step_loss),
                                       rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(torch.tensor(b.val_loss), torch.tensor(a.val_loss),
                                       rtol=1e-4, atol=1e-5)
            assert len(b.train_acc) == 3


def test_divergent_member_is_frozen_and_others_go_on():
    X, y = _data()
    X = X * 1e3   # a huge learning rate on huge inputs overflows quickly
    out, models = ensemble_lr_sweep(_build(), (X, y), lrs=[1e-6, 1e6], seeds=[0], epochs=4,
                                    batch_size=16, val_data=(X, y), return_models=True)
    good, bad = out[1e-6][0], out[1e6][0]
    assert not good.diverged and len(good.val_acc) == 4
    assert bad.diverged and not math.isfinite(bad.step_loss[-1]) and len(bad.val_acc) <= 4
    assert all(torch.isfinite(p).all() for p in models[1e-6][0].parameters())


def test_probes_see_the_member_and_record_train_switch():
    X, y = _data()
    seen = []

    def make_probes(lr, s, model):
        if lr != 0.05:
            return []

        def probe(step, m, loss):
            seen.append((s, step, m(X[:4]).detach()))
        return [probe]

    out, models = ensemble_lr_sweep(_build("batch"), (X, y), lrs=[0.01, 0.05], seeds=[3], epochs=1,
                                    batch_size=32, make_probes=make_probes, record_train=False,
                                    return_models=True)
    assert [step for _, step, _ in seen] == [0, 1, 2, 3]
    assert out[0.05][0].train_acc == [] and out[0.05][0].val_acc == []
    m = models[0.05][0].train()
    torch.testing.assert_close(seen[-1][2], m(X[:4]).detach())


def test_noisy_batch_norm_and_sigmoid_are_supported():
    X, y = _data()
    out = ensemble_lr_sweep(_build("batch", noisy=True, activation="sigmoid"), (X, y), lrs=[0.1],
                            seeds=[0, 1], epochs=1, batch_size=32, val_data=(X, y))
    assert [len(h.val_acc) for h in out[0.1]] == [1, 1]


def test_rejects_what_it_cannot_vectorize():
    with pytest.raises(ValueError, match="plain"):
        EnsembleMLP([MLP(6, 8, 1, 3, residual=True)])
    with pytest.raises(ValueError, match="cannot vectorize"):
        EnsembleMLP([MLP(6, 8, 1, 3, norm="layer")])
    with pytest.raises(TypeError, match="MLP"):
        EnsembleMLP([nn.Linear(6, 3)])
    with pytest.raises(ValueError, match="architecture"):
        EnsembleMLP([MLP(6, 8, 1, 3), MLP(6, 8, 2, 3)])
    X, y = _data()
    with pytest.raises(ValueError, match="lrs"):
        ensemble_lr_sweep(_build(), (X, y), lrs=[0.0], seeds=[0], epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        ensemble_lr_sweep(_build(), (X, y), lrs=[0.1], seeds=[0], epochs=1, batch_size=1000)
