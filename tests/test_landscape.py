"""Tests for normres.probes.landscape: filter-normalized directions, loss slices and the roughness score."""

import numpy as np
import pytest
import torch
from torch import nn

from normres.probes import landscape as LS
from normres.bench import models
from normres.bench.train import evaluate


def _mlp(norm="layer", residual=True, seed=0):
    torch.manual_seed(seed)
    return models.MLP(6, 8, 2, 3, norm=norm, residual=residual)


def _data(n=20, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


# ---------------------------------------------------------------- filter_normalize

def test_filter_normalize_matches_filter_norms_linear_and_conv():
    torch.manual_seed(0)
    weights = [torch.randn(5, 7), torch.randn(4, 3, 3, 3) * 3.0, torch.randn(5), torch.randn(4)]
    direction = [torch.randn_like(w) for w in weights]
    out = LS.filter_normalize(direction, weights)
    for d, w in zip(out[:2], weights[:2]):
        torch.testing.assert_close(d.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1),
                                   rtol=1e-6, atol=0)
    assert all(torch.equal(d, torch.zeros_like(d)) for d in out[2:])


def test_filter_normalize_keeps_each_filter_direction_and_inputs():
    torch.manual_seed(0)
    weights = [torch.randn(3, 4)]
    direction = [torch.randn(3, 4)]
    before = direction[0].clone()
    out = LS.filter_normalize(direction, weights)[0]
    assert torch.equal(direction[0], before)  # input untouched
    cos = nn.functional.cosine_similarity(out, before, dim=1)
    torch.testing.assert_close(cos, torch.ones(3))  # only rescaled, never turned


def test_filter_normalize_zero_filter_stays_zero():
    w = torch.ones(2, 3)
    d = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    out = LS.filter_normalize([d], [w])[0]
    assert torch.equal(out[0], torch.zeros(3))
    torch.testing.assert_close(out[1], torch.tensor([3.0 ** 0.5, 0.0, 0.0]))


def test_filter_normalize_is_scale_equivariant():
    # Multiplying a layer's weights by c multiplies its normalized direction by c.
    torch.manual_seed(0)
    w, d = torch.randn(4, 5), torch.randn(4, 5)
    a = LS.filter_normalize([d], [w])[0]
    b = LS.filter_normalize([d], [10.0 * w])[0]
    torch.testing.assert_close(b, 10.0 * a)


def test_filter_normalize_rejects_bad_input():
    with pytest.raises(ValueError, match="direction"):
        LS.filter_normalize([torch.zeros(2, 2)], [torch.zeros(2, 3)])
    with pytest.raises(ValueError, match="direction"):
        LS.filter_normalize([torch.zeros(2, 2)], [torch.zeros(2, 2), torch.zeros(2)])
    with pytest.raises(TypeError, match="direction"):
        LS.filter_normalize(torch.zeros(2, 2), [torch.zeros(2, 2)])
    with pytest.raises(TypeError, match="weights"):
        LS.filter_normalize([torch.zeros(2, 2)], torch.zeros(2, 2))


# ---------------------------------------------------------------- random_direction

def test_random_direction_shapes_norms_and_biasbn():
    model = _mlp()
    d = LS.random_direction(model, torch.Generator().manual_seed(3))
    params = list(model.parameters())
    assert [t.shape for t in d] == [p.shape for p in params]
    for t, p in zip(d, params):
        if p.dim() <= 1:
            assert torch.count_nonzero(t) == 0
        else:
            torch.testing.assert_close(t.norm(dim=1), p.detach().norm(dim=1), rtol=1e-6, atol=0)


def test_random_direction_conv_filters():
    torch.manual_seed(0)
    model = models.ConvNet(1, 4, 1, 3, norm="batch")
    d = LS.random_direction(model, torch.Generator().manual_seed(0))
    for t, p in zip(d, model.parameters()):
        if p.dim() == 4:
            torch.testing.assert_close(t.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1),
                                       rtol=1e-6, atol=0)


def test_random_direction_reproducible_and_leaves_global_rng_alone():
    model = _mlp()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = LS.random_direction(model, torch.Generator().manual_seed(7))
    assert torch.equal(torch.rand(3), expected_next)
    b = LS.random_direction(model, torch.Generator().manual_seed(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    c = LS.random_direction(model, torch.Generator().manual_seed(8))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_random_direction_unnormalized_is_standard_gaussian():
    model = models.MLP(50, 200, 0, 10)
    d = LS.random_direction(model, torch.Generator().manual_seed(0), normalize=False)
    flat = torch.cat([t.flatten() for t in d])
    assert abs(flat.mean().item()) < 0.02 and abs(flat.std().item() - 1.0) < 0.02
    assert all(torch.count_nonzero(t) == t.numel() for t in d)  # biases not zeroed


def test_random_direction_rejects_bad_input():
    with pytest.raises(TypeError, match="model"):
        LS.random_direction("not a model")
    with pytest.raises(TypeError, match="generator"):
        LS.random_direction(_mlp(), generator=0)
    with pytest.raises(ValueError, match="model"):
        LS.random_direction(nn.ReLU())


# ---------------------------------------------------------------- loss_along

def test_zero_step_gives_trained_loss_and_matches_evaluate():
    model = _mlp(norm="batch")
    X, y = _data()
    model.train()
    model(X)  # move the running statistics away from their initial values
    d = LS.random_direction(model, torch.Generator().manual_seed(0))
    out = LS.loss_along(model, [d], [0.0], (X, y))
    loss, _ = evaluate(model, X, y)
    assert out.shape == (1,)
    assert out[0] == pytest.approx(loss, abs=1e-6)
    zero = [torch.zeros_like(t) for t in d]
    flat = LS.loss_along(model, [zero, zero], np.linspace(-1, 1, 3), (X, y))
    np.testing.assert_allclose(flat, np.full((3, 3), loss), atol=1e-6)


def test_parameters_buffers_and_mode_are_restored():
    model = _mlp(norm="batch")
    X, y = _data()
    model.train()
    model(X)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    d1, d2 = LS.random_direction(model, g), LS.random_direction(model, g)
    LS.loss_along(model, [d1, d2], np.linspace(-1, 1, 4), (X, y))
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # bit for bit, running statistics included


def test_parameters_restored_after_an_error():
    model = _mlp()
    before = [p.detach().clone() for p in model.parameters()]
    d = LS.random_direction(model, torch.Generator().manual_seed(0))

    def failing_loss(logits, y):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        LS.loss_along(model, [d], [0.5], _data(), loss_fn=failing_loss)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert model.training


def test_loss_along_evaluates_the_shifted_parameters():
    # Compare one grid point with a copy of the model whose parameters were moved by hand.
    import copy
    model = _mlp()
    X, y = _data()
    g = torch.Generator().manual_seed(0)
    d1, d2 = LS.random_direction(model, g), LS.random_direction(model, g)
    a, b = np.array([-0.5, 0.25]), np.array([0.1, 0.3, 0.7])
    grid = LS.loss_along(model, [d1, d2], [a, b], (X, y))
    assert grid.shape == (2, 3)
    moved = copy.deepcopy(model).eval()
    with torch.no_grad():
        for p, u, v in zip(moved.parameters(), d1, d2):
            p.add_(a[1] * u + b[2] * v)
        expected = nn.functional.cross_entropy(moved(X), y).item()
    assert grid[1, 2] == pytest.approx(expected, abs=1e-5)
    line = LS.loss_along(model, [d1], a, (X, y))
    np.testing.assert_allclose(line, LS.loss_along(model, [d1, [torch.zeros_like(t) for t in d2]],
                                                   [a, [0.0]], (X, y))[:, 0], atol=1e-7)


def test_loss_along_linear_model_is_exact_parabola():
    # For f(x) = w.x with squared error, L(w + a d) is a parabola in a with known coefficients.
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    X = torch.randn(10, 3)
    t = torch.randn(10, 1)
    d = [torch.randn(1, 3)]
    alphas = np.linspace(-2, 2, 9)
    out = LS.loss_along(model, [d], alphas, (X, t), loss_fn=nn.functional.mse_loss)
    with torch.no_grad():
        r = (X @ model.weight.T - t).double()
        s = (X @ d[0].T).double()
        expected = [((r + a * s) ** 2).mean().item() for a in alphas]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_loss_along_rejects_bad_input():
    model = _mlp()
    data = _data()
    d = LS.random_direction(model)
    with pytest.raises(TypeError, match="directions"):
        LS.loss_along(model, d, [0.0], data)  # a bare direction, not wrapped in a list
    with pytest.raises(ValueError, match="directions"):
        LS.loss_along(model, [d, d, d], [0.0], data)
    with pytest.raises(ValueError, match=r"directions\[0\]"):
        LS.loss_along(model, [d[:-1]], [0.0], data)
    with pytest.raises(ValueError, match="alphas"):
        LS.loss_along(model, [d, d], [[0.0], [1.0], [2.0]], data)
    with pytest.raises(ValueError, match="alphas"):
        LS.loss_along(model, [d], np.zeros((2, 2)), data)
    with pytest.raises(ValueError, match="alphas"):
        LS.loss_along(model, [d], [np.nan], data)
    with pytest.raises(TypeError, match="data"):
        LS.loss_along(model, [d], [0.0], data[0])
    with pytest.raises(TypeError, match="model"):
        LS.loss_along(None, [d], [0.0], data)


# ---------------------------------------------------------------- roughness

def test_roughness_zero_for_valleys():
    a = np.linspace(-1, 1, 21)
    assert LS.roughness(a ** 2) == 0.0
    assert LS.roughness(np.exp(a)) == 0.0  # monotone counts as one (one-sided) valley
    A, B = np.meshgrid(a, a, indexing="ij")
    assert LS.roughness(A ** 2 + 3 * B ** 2 + A * B) == 0.0
    assert LS.roughness(np.zeros((5, 5))) == 0.0


def test_roughness_known_value_and_bumps():
    # TV = 2 + 1 + 2 = 5, valley part V = (0 - 0) + (3 - 0) = 3, so R = 1 - 3/5.
    assert LS.roughness([0.0, 2.0, 1.0, 3.0]) == pytest.approx(0.4)
    a = np.linspace(-1, 1, 41)
    smooth, bumpy = a ** 2, a ** 2 + 0.2 * np.sin(25 * a)
    assert LS.roughness(bumpy) > 0.2 > LS.roughness(smooth)


def test_roughness_pools_rows_and_columns_and_is_affine_invariant():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(6, 7))
    r = LS.roughness(f)
    assert 0.0 < r < 1.0
    assert LS.roughness(f.T) == pytest.approx(r)
    assert LS.roughness(3.0 * f + 5.0) == pytest.approx(r)
    tv = np.abs(np.diff(f, axis=0)).sum() + np.abs(np.diff(f, axis=1)).sum()
    v = (f[0] + f[-1] - 2 * f.min(0)).sum() + (f[:, 0] + f[:, -1] - 2 * f.min(1)).sum()
    assert r == pytest.approx(1 - v / tv)
    assert LS.roughness(torch.tensor(f)) == pytest.approx(r)


def test_roughness_rejects_bad_input():
    with pytest.raises(ValueError, match="losses"):
        LS.roughness(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="losses"):
        LS.roughness(np.zeros(1))
    with pytest.raises(ValueError, match="losses"):
        LS.roughness([0.0, np.inf, 1.0])


def test_climb_is_the_rise_above_the_centre():
    alphas = np.linspace(-1, 1, 5)
    f = np.array([[5.0, 2.0, 1.0, 3.0, 9.0], [1.0, 1.0, 0.5, 1.0, 2.0]])
    rise = LS.climb(f, alphas)
    assert np.allclose(rise, [[4, 1, 0, 2, 8], [0.5, 0.5, 0, 0.5, 1.5]])
    assert np.allclose(LS.climb(torch.tensor(f[0]), alphas), rise[0])   # one slice, a tensor


def test_climb_rejects_bad_input():
    with pytest.raises(ValueError, match="alphas must contain 0"):
        LS.climb(np.ones(4), np.linspace(-1, 1, 4))                     # even count: no 0
    with pytest.raises(ValueError, match="losses must have shape"):
        LS.climb(np.ones(5), np.linspace(-1, 1, 7))
    with pytest.raises(ValueError, match="losses must have shape"):
        LS.climb(np.ones((2, 2, 5)), np.linspace(-1, 1, 5))
