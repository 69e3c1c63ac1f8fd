"""The plumbing every chapter imports: seeding, data, models, the training loop and probes."""

import numpy as np
import pytest
import torch
from torch import nn

import normres
from normres import nn as N
from normres.bench.data import load_digits
from normres.bench.models import MLP, Block, ConvNet, make_norm
from normres.probes.activations import input_gradient, record_outputs, weight_grad_norms, weight_layers
from normres.bench.train import evaluate, train


# --- seeding -----------------------------------------------------------------------------------

def test_seed_everything_makes_draws_repeat(monkeypatch):
    monkeypatch.delenv("NORMRES_SEED", raising=False)
    assert normres.seed_everything(3) == 3
    a = (torch.rand(3), np.random.rand(3))
    normres.seed_everything(3)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    normres.seed_everything(4)
    assert not torch.equal(torch.rand(3), a[0])


def test_seed_everything_uses_one_thread(monkeypatch):
    monkeypatch.delenv("NORMRES_SEED", raising=False)
    torch.set_num_threads(2)
    normres.seed_everything(0)
    assert torch.get_num_threads() == 1


def test_environment_overrides_the_seed(monkeypatch):
    monkeypatch.setenv("NORMRES_SEED", "7")
    assert normres.seed_everything(0) == 7
    assert normres.current_seed() == 7
    assert normres.seeds(3) == [7000, 7001, 7002]
    monkeypatch.setenv("NORMRES_SEED", "seven")
    with pytest.raises(ValueError, match="NORMRES_SEED"):
        normres.seed_everything(0)


def test_seeds_differ_between_base_seeds(monkeypatch):
    monkeypatch.delenv("NORMRES_SEED", raising=False)
    normres.seed_everything(1)
    first = normres.seeds(4)
    normres.seed_everything(2)
    assert not set(first) & set(normres.seeds(4))
    with pytest.raises(ValueError, match="n must be a positive int"):
        normres.seeds(0)


# --- data --------------------------------------------------------------------------------------

def test_digits_split_is_fixed_stratified_and_standardized():
    d = load_digits()
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1078, 359, 360)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.long
    assert torch.allclose(d.X_train.mean(0), torch.zeros(64), atol=1e-5)
    std = d.X_train.std(0, unbiased=False)
    constant = load_digits(standardize=False).X_train.std(0) == 0
    assert torch.allclose(std[~constant], torch.ones(int((~constant).sum())), atol=1e-4)
    assert torch.all(std[constant] == 0) and int(constant.sum()) <= 4
    for y in (d.y_train, d.y_val, d.y_test):
        assert torch.bincount(y, minlength=10).min() >= 30, "every class in every split"
    normres.seed_everything(5)
    again = load_digits()
    assert torch.equal(again.X_val, d.X_val), "the split must not depend on the seed"


def test_digits_raw_and_images():
    raw = load_digits(standardize=False)
    assert raw.X_train.min() == 0 and raw.X_train.max() == 16
    img = load_digits(images=True)
    assert img.X_train.shape == (1078, 1, 8, 8)
    assert torch.equal(img.X_train.reshape(1078, 64), load_digits().X_train)


# --- models ------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", [None, "batch", "layer", "group", "rms"])
@pytest.mark.parametrize("residual", [False, True])
def test_mlp_shapes_and_norm_layers(norm, residual):
    m = MLP(64, 16, 3, 10, norm=norm, residual=residual)
    assert m(torch.randn(5, 64)).shape == (5, 10)
    assert len(weight_layers(m)) == 1 + 3 * 2 + 1
    kinds = {type(x) for x in m.modules()}
    expected = {None: set(), "batch": {N.BatchNorm1d}, "layer": {N.LayerNorm},
                "group": {N.GroupNorm}, "rms": {N.RMSNorm}}[norm]
    assert expected <= kinds


@pytest.mark.parametrize("norm", [None, "batch", "group", "layer", "instance"])
def test_convnet_shapes(norm):
    m = ConvNet(1, 8, 2, 10, norm=norm, residual=True)
    assert m(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_residual_block_is_identity_when_its_branch_is_zero():
    block = Block(6, norm=None, activation="relu", residual=True)
    for p in block.parameters():
        nn.init.zeros_(p)
    x = torch.rand(4, 6)  # non-negative, so the final ReLU keeps it
    assert torch.equal(block(x), x)
    plain = Block(6, norm=None, activation="relu", residual=False)
    for p in plain.parameters():
        nn.init.zeros_(p)
    assert torch.equal(plain(x), torch.zeros(4, 6))


def test_model_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match="norm must be one of"):
        make_norm("batchnorm", 4)
    with pytest.raises(ValueError, match="norm must be one of"):
        make_norm("rms", 4, conv=True)
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP(4, 4, 1, 2, activation="swish")
    with pytest.raises(ValueError, match="num_blocks"):
        MLP(4, 4, -1, 2)


# --- training ----------------------------------------------------------------------------------

def small_run(seed, **kw):
    d = load_digits()
    torch.manual_seed(seed)
    model = MLP(64, 32, 1, 10, norm=kw.pop("norm", None))
    args = dict(epochs=3, batch_size=32, lr=0.05, val_data=d.val, seed=seed)
    args.update(kw)
    return model, train(model, d.train, **args)


def test_training_learns_the_digits():
    model, hist = small_run(0)
    assert len(hist.train_loss) == 3 and len(hist.val_acc) == 3
    assert len(hist.step_loss) == 3 * (1078 // 32)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.final_val_acc > 0.85, "a 3-epoch MLP reaches well above chance (0.1)"
    assert not hist.diverged


def test_training_is_deterministic_given_the_seed():
    _, a = small_run(1)
    _, b = small_run(1)
    _, c = small_run(2)
    assert a.step_loss == b.step_loss
    assert a.step_loss != c.step_loss


def test_training_stops_when_the_loss_diverges():
    _, hist = small_run(0, lr=1e6, momentum=0.0)
    assert hist.diverged
    assert not np.isfinite(hist.step_loss[-1])
    assert len(hist.step_loss) < 3 * (1078 // 32)


def test_max_steps_and_on_step():
    seen = []
    _, hist = small_run(0, max_steps=5, on_step=lambda step, model, loss: seen.append(step))
    assert seen == [1, 2, 3, 4, 5] and len(hist.step_loss) == 5 and len(hist.val_acc) == 1


def test_evaluate_uses_eval_mode_and_restores_it():
    model, _ = small_run(0, norm="batch", epochs=1)
    model.train()
    before = model.stem[1].running_mean.clone()
    loss, acc = evaluate(model, *load_digits().val)
    assert model.training and torch.equal(before, model.stem[1].running_mean)
    assert 0.0 <= acc <= 1.0 and loss > 0


def test_train_rejects_bad_arguments():
    d = load_digits()
    model = MLP(64, 8, 0, 10)
    with pytest.raises(ValueError, match="batch_size"):
        train(model, d.train, epochs=1, batch_size=0, lr=0.1)
    with pytest.raises(ValueError, match="epochs"):
        train(model, d.train, epochs=0, batch_size=8, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        train(model, d.train, epochs=1, batch_size=8, lr=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        train(model, d.train, epochs=1, batch_size=8, lr=0.1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="train_data"):
        train(model, (d.X_train, d.y_val), epochs=1, batch_size=8, lr=0.1)


# --- probes ------------------------------------------------------------------------------------

def test_record_outputs_and_removes_its_hooks():
    m = MLP(8, 4, 1, 3)
    with record_outputs({"stem": m.stem, "head": m.head}) as rec:
        m(torch.randn(5, 8))
        m(torch.randn(2, 8))
    assert [t.shape for t in rec["head"]] == [(5, 3), (2, 3)]
    m(torch.randn(1, 8))
    assert len(rec["stem"]) == 2, "hooks must be removed on exit"


def test_weight_grad_norms_match_manual_backward():
    torch.manual_seed(0)
    m = MLP(8, 4, 1, 3)
    x, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    norms = weight_grad_norms(m, nn.functional.cross_entropy(m(x), y))
    m.zero_grad()
    nn.functional.cross_entropy(m(x), y).backward()
    assert norms == [layer.weight.grad.norm().item() for _, layer in weight_layers(m)]
    assert len(norms) == 4 and all(v > 0 for v in norms)


def test_input_gradient_of_a_linear_map_is_its_weight():
    lin = nn.Linear(3, 1)
    g = input_gradient(lin, torch.randn(4, 3))
    assert torch.allclose(g, lin.weight.detach().expand(4, 3))
