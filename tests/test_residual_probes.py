"""Tests for normres.probes.residual and the residual blocks appended to normres.bench.models."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from normres.probes import residual as rp
from normres.bench.models import MLP, PostNormBlock, PreActBlock, ResidualMLP
from normres.probes.activations import weight_grad_norms
from normres.bench.train import evaluate


def _data(n=64, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


# --- models: where the norm sits --------------------------------------------------------------

def test_post_act_residual_mlp_is_the_residual_mlp():
    torch.manual_seed(0)
    a = MLP(6, 8, 3, 3, norm="batch", residual=True)
    torch.manual_seed(0)
    b = ResidualMLP(6, 8, 3, 3, norm="batch", placement="post-act")
    assert list(a.state_dict()) == list(b.state_dict())
    X, _ = _data()
    assert torch.equal(a(X), b(X))


def test_pre_act_block_jacobian_is_identity_plus_branch():
    torch.manual_seed(0)
    block = PreActBlock(5, norm="layer").double()
    x = torch.randn(5, dtype=torch.float64)
    J = jacobian(lambda v: block(v[None])[0], x)
    J_F = jacobian(lambda v: block.body(v[None])[0], x)
    assert torch.allclose(J, torch.eye(5, dtype=torch.float64) + J_F, atol=1e-12)


def test_post_norm_block_jacobian_has_norm_on_the_skip_path():
    torch.manual_seed(0)
    block = PostNormBlock(5, norm="layer").double()
    x = torch.randn(5, dtype=torch.float64)
    u = x + block.body(x[None])[0]
    J = jacobian(lambda v: block(v[None])[0], x)
    J_N = jacobian(lambda v: block.norm(v[None])[0], u)
    J_F = jacobian(lambda v: block.body(v[None])[0], x)
    assert torch.allclose(J, J_N @ (torch.eye(5, dtype=torch.float64) + J_F), atol=1e-12)
    # layer norm's output has zero mean, so the constant direction is lost on the skip path
    assert torch.allclose(J_N @ torch.ones(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64),
                          atol=1e-10)


@pytest.mark.parametrize("placement", ["post-act", "pre-act", "post-norm"])
def test_residual_mlp_shapes(placement):
    model = ResidualMLP(6, 8, 2, 3, norm="layer", placement=placement)
    X, _ = _data()
    assert model(X).shape == (64, 3)
    assert len(model.blocks) == 2
    assert len(model.features(X)) == 3


def test_residual_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="placement"):
        ResidualMLP(6, 8, 2, 3, placement="middle")
    with pytest.raises(ValueError, match="num_blocks"):
        ResidualMLP(6, 8, -1, 3)
    with pytest.raises(ValueError, match="layers_per_block"):
        PreActBlock(4, layers_per_block=0)
    with pytest.raises(ValueError, match="layers_per_block"):
        PostNormBlock(4, layers_per_block=0)


# --- gradient profile -------------------------------------------------------------------------

def test_gradient_profile_matches_weight_grad_norms():
    torch.manual_seed(0)
    model = MLP(6, 8, 2, 3, residual=True)
    X, y = _data()
    prof = rp.gradient_profile(model, X, y)
    expected = weight_grad_norms(model, nn.functional.cross_entropy(model(X), y))
    assert prof.shape == (6,)  # stem + 2 blocks x 2 layers + head
    np.testing.assert_allclose(prof, expected, rtol=1e-6)


def test_gradient_profile_vanishes_in_deep_plain_net_but_not_residual():
    X, y = _data(n=128)
    torch.manual_seed(0)
    plain = rp.gradient_profile(MLP(6, 32, 8, 3, residual=False), X, y)
    torch.manual_seed(0)
    res = rp.gradient_profile(MLP(6, 32, 8, 3, residual=True), X, y)
    assert plain[0] / plain[-2] < 1e-2
    assert 0.1 < res[0] / res[-2] < 100


def test_gradient_profile_rejects_bad_labels():
    model = MLP(6, 8, 1, 3)
    X, y = _data()
    with pytest.raises(ValueError, match="y must have shape"):
        rp.gradient_profile(model, X, y[:10])
    with pytest.raises(TypeError, match="y must"):
        rp.gradient_profile(model, X, y.float())
    with pytest.raises(TypeError, match="X must"):
        rp.gradient_profile(model, X.numpy(), y)


# --- responses --------------------------------------------------------------------------------

def test_response_std_is_gamma_after_calibration():
    torch.manual_seed(0)
    model = MLP(6, 8, 3, 3, norm="batch", residual=True)
    for k, block in enumerate(model.blocks):
        block.body[-1].weight.data.fill_(0.5 * (k + 1))
    X, _ = _data(n=200)
    rp.calibrate_batch_norm(model, X)
    model.train()
    stds = rp.response_std(model, X)
    assert model.training  # flag restored
    np.testing.assert_allclose(stds, 0.5 * np.arange(1, 4), rtol=1e-3)


def test_response_std_custom_modules_and_images():
    conv = nn.Conv2d(1, 3, 3, padding=1)
    model = MLP(6, 8, 1, 3)
    X = torch.randn(10, 6)
    out = rp.response_std(model, X, modules=[model.stem[0]])
    with torch.no_grad():
        expected = model.stem[0](X).std(dim=0, correction=0).mean().item()
    assert out.shape == (1,) and out[0] == pytest.approx(expected, rel=1e-6)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([conv])

        def forward(self, x):
            return conv(x)

    imgs = torch.randn(4, 1, 5, 5)
    with torch.no_grad():
        r = conv(imgs)
    expected = r.transpose(0, 1).reshape(3, -1).std(dim=1, correction=0).mean().item()
    assert rp.response_std(Wrap(), imgs, modules=[conv])[0] == pytest.approx(expected, rel=1e-6)


def test_response_std_needs_blocks():
    with pytest.raises(ValueError, match="blocks"):
        rp.response_std(nn.Linear(3, 3), torch.randn(4, 3))


# --- batch-norm calibration and 1-D input gradients -------------------------------------------

@pytest.mark.parametrize("torch_bn", [False, True])
def test_calibrate_batch_norm_makes_eval_match_train(torch_bn):
    torch.manual_seed(0)
    model = MLP(6, 16, 2, 3, norm="batch", residual=True)
    if torch_bn:
        model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16, momentum=0.3), nn.ReLU(),
                              nn.Linear(16, 3))
    X, _ = _data(n=1000)
    with torch.no_grad():
        model.train()
        # a training-mode forward without touching the running stats, for comparison
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        train_out = model(X)
        model.load_state_dict(saved)
        model.eval()
        rp.calibrate_batch_norm(model, X)
        assert not model.training
        eval_out = model(X)
    assert torch.allclose(eval_out, train_out, atol=1e-4)
    bns = [m for m in model.modules() if getattr(m, "running_mean", None) is not None]
    assert bns and all(m.momentum == (0.3 if torch_bn else 0.1) for m in bns)


def test_input_gradients_1d_linear_and_finite_differences():
    lin = nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 7)
    g = rp.input_gradients_1d(lin, x)
    assert g.shape == (7,)
    assert torch.allclose(g, lin.weight.detach().reshape(()).expand(7))

    torch.manual_seed(0)
    model = MLP(1, 8, 2, 1, activation="tanh", residual=True).double()
    x = torch.linspace(-2, 2, 11, dtype=torch.float64)
    g = rp.input_gradients_1d(model, x[:, None])
    h = 1e-6
    with torch.no_grad():
        fd = (model((x + h)[:, None]) - model((x - h)[:, None])).reshape(-1) / (2 * h)
    assert torch.allclose(g, fd, atol=1e-7)


def test_input_gradients_1d_rejects_bad_shapes():
    with pytest.raises(ValueError, match="x must have shape"):
        rp.input_gradients_1d(nn.Linear(2, 1), torch.randn(5, 2))
    with pytest.raises(ValueError, match="model must map"):
        rp.input_gradients_1d(nn.Linear(1, 2), torch.randn(5))


def test_lagged_correlation():
    t = torch.linspace(0, 1, 50)
    assert rp.lagged_correlation(t) == pytest.approx(1.0)
    alt = np.array([1.0, -1.0] * 25)
    assert rp.lagged_correlation(alt) == pytest.approx(-1.0)
    assert rp.lagged_correlation(alt, lag=2) == pytest.approx(1.0)
    noise = torch.randn(20000, generator=torch.Generator().manual_seed(0))
    assert abs(rp.lagged_correlation(noise)) < 0.03
    with pytest.raises(ValueError, match="lag"):
        rp.lagged_correlation(t, lag=0)
    with pytest.raises(ValueError, match="lag"):
        rp.lagged_correlation(t, lag=49)
    with pytest.raises(ValueError, match="one-dimensional"):
        rp.lagged_correlation(torch.zeros(3, 3))


# --- lesions ----------------------------------------------------------------------------------

def test_lesion_skips_the_block_and_restores_it():
    torch.manual_seed(0)
    model = MLP(6, 8, 3, 3, residual=True)
    X, _ = _data()
    before = model(X)
    blocks = list(model.blocks)
    with rp.lesion(model, 1):
        out = model(X)
        assert isinstance(model.blocks[1], nn.Identity)
    expected = model.head(model.blocks[2](model.blocks[0](model.stem(X))))
    assert torch.allclose(out, expected)
    assert all(a is b for a, b in zip(model.blocks, blocks))
    assert torch.equal(model(X), before)
    with rp.lesion(model, [0, 1, 2]):
        assert torch.allclose(model(X), model.head(model.stem(X)))
    with pytest.raises(RuntimeError):
        with rp.lesion(model, -1):
            raise RuntimeError("boom")
    assert all(a is b for a, b in zip(model.blocks, blocks))


def test_lesion_rejects_bad_indices():
    model = MLP(6, 8, 2, 3)
    with pytest.raises(ValueError, match="indices"):
        with rp.lesion(model, 2):
            pass
    with pytest.raises(ValueError, match="indices"):
        with rp.lesion(model, [0.5]):
            pass


def test_lesion_accuracies():
    torch.manual_seed(0)
    model = MLP(6, 8, 3, 3, norm="batch", residual=True)
    X, y = _data()
    accs = rp.lesion_accuracies(model, X, y)
    assert accs.shape == (3,)
    for k in range(3):
        with rp.lesion(model, k):
            assert accs[k] == evaluate(model, X, y)[1]


def test_gradient_profile_leaves_batch_norm_buffers_untouched():
    torch.manual_seed(0)
    model = MLP(6, 8, 2, 3, norm="batch").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rp.gradient_profile(model, torch.randn(16, 6), torch.randint(0, 3, (16,)))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed"


# --- stream_gradients: the backward signal between blocks ------------------------------------

def test_stream_gradients_match_autograd_on_the_block_outputs():
    torch.manual_seed(0)
    model = MLP(6, 8, 3, 3, norm="batch", residual=True)
    X, y = _data()
    got = rp.stream_gradients(model, X, y)
    assert got.shape == (4,)
    h = model.stem(X)
    outs = [h]
    for block in model.blocks:
        h = block(h)
        outs.append(h)
    for o in outs:
        o.retain_grad()
    nn.functional.cross_entropy(model.head(h), y).backward()
    np.testing.assert_allclose(got, [o.grad.norm().item() for o in outs], rtol=1e-6)


def test_stream_gradients_vanish_in_a_deep_plain_net_at_default_init():
    # default init: each bias-free ReLU layer shrinks the backward signal by about sqrt(1/6)
    torch.manual_seed(0)
    X, y = _data(n=256, d=16, classes=4)
    plain = rp.stream_gradients(MLP(16, 32, 6, 4, residual=False), X, y)
    torch.manual_seed(0)
    res = rp.stream_gradients(MLP(16, 32, 6, 4, residual=True), X, y)
    assert plain[0] / plain[-1] < 1e-3
    assert 0.3 < res[0] / res[-1] < 3


def test_stream_gradients_leave_buffers_and_grads_untouched():
    torch.manual_seed(0)
    model = MLP(6, 8, 2, 3, norm="batch", residual=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rp.stream_gradients(model, *_data())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_stream_gradients_reject_bad_input():
    with pytest.raises(ValueError, match="blocks"):
        rp.stream_gradients(nn.Linear(6, 3), *_data())
    with pytest.raises(TypeError, match="y"):
        rp.stream_gradients(MLP(6, 8, 1, 3), _data()[0], torch.zeros(64))
