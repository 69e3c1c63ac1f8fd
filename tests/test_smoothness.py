"""normres.probes.smoothness.gradient_walk: losses and gradients along the gradient step against a
hand computation, invariance of the model afterwards, identical noise at every point, bad input."""

import copy

import pytest
import torch
from torch import nn

from normres import nn as N
from normres.probes.smoothness import GradientWalk, gradient_walk


def quadratic_model():
    """A linear regression whose loss is an exact quadratic: grad changes linearly along the step."""
    model = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    return model


def mse(out, y):
    return 0.5 * ((out.squeeze(1) - y) ** 2).mean()


def test_quadratic_losses_and_beta_match_closed_form(gen):
    X = torch.randn(50, 3, generator=gen, dtype=torch.float32)
    y = torch.randn(50, generator=gen)
    model = quadratic_model()
    walk = gradient_walk(model, X, y, [0.1, 0.5], loss_fn=mse)
    w = model.weight.detach().reshape(-1)
    H = X.T @ X / 50
    g = H @ w - X.T @ y / 50

    def L(v):
        return 0.5 * ((X @ v - y) ** 2).mean().item()

    assert walk.loss0 == pytest.approx(L(w), rel=1e-5)
    assert walk.grad_norm == pytest.approx(g.norm().item(), rel=1e-5)
    for eta, loss, change in zip(walk.step_sizes, walk.losses, walk.grad_changes):
        assert loss == pytest.approx(L(w - eta * g), rel=1e-4)
        assert change == pytest.approx((eta * H @ g).norm().item(), rel=1e-4)
    # for a quadratic, ||H g|| / ||g|| at every eta: lies between the extreme eigenvalues
    lam = torch.linalg.eigvalsh(H)
    assert lam[0].item() - 1e-4 <= walk.beta <= lam[-1].item() + 1e-4
    assert walk.loss_range == pytest.approx(max((walk.loss0,) + walk.losses) - min((walk.loss0,) + walk.losses))


def test_model_state_and_rng_are_restored(gen):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), N.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model.eval()
    before = copy.deepcopy(model.state_dict())
    X = torch.randn(16, 4, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    rng = torch.get_rng_state()
    walk = gradient_walk(model, X, y, [0.01, 0.1, 1.0])
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(torch.get_rng_state(), rng)
    assert isinstance(walk, GradientWalk) and len(walk.losses) == 3
    assert all(c > 0 for c in walk.grad_changes)


def test_noise_is_the_same_at_every_point(gen):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), N.NoisyBatchNorm1d(8, shift_noise=2.0, scale_noise=0.9),
                          nn.ReLU(), nn.Linear(8, 3))
    X = torch.randn(16, 4, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    # as eta -> 0 the loss and gradient must approach the starting point's: only true if the
    # noise drawn at theta - eta g equals the noise drawn at theta
    walk = gradient_walk(model, X, y, [1e-6])
    assert abs(walk.losses[0] - walk.loss0) < 1e-4
    assert walk.grad_changes[0] < 1e-3 * walk.grad_norm


@pytest.mark.parametrize("args,err,match", [
    ((nn.Linear(3, 2), torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), []), ValueError, "step_sizes"),
    ((nn.Linear(3, 2), torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), [0.1, -1]), ValueError, "step_sizes"),
    ((nn.Linear(3, 2), torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), [0.1]), ValueError, "one row per row of X"),
    (("model", torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), [0.1]), TypeError, "model must be"),
    ((nn.Linear(3, 2), [[0.0]], torch.zeros(4, dtype=torch.long), [0.1]), TypeError, "X must be a torch.Tensor"),
])
def test_bad_input_is_named(args, err, match):
    with pytest.raises(err, match=match):
        gradient_walk(*args)


def test_walk_recorder_records_every_k_steps_without_changing_training(gen):
    from normres.probes.smoothness import WalkRecorder
    from normres.bench.train import train
    X = torch.randn(48, 4, generator=gen)
    y = (X[:, 0] > 0).long()
    states = []
    for record in (False, True):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), N.NoisyBatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        rec = WalkRecorder(X[:16], y[:16], [0.1, 1.0], every=4)
        if record:
            rec(0, model)
        train(model, (X, y), epochs=2, batch_size=8, lr=0.1, seed=0, on_step=rec if record else None)
        states.append(model.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
    assert rec.steps == [0, 4, 8, 12] and len(rec.walks) == 4
    assert all(w.step_sizes == (0.1, 1.0) for w in rec.walks)
    with pytest.raises(ValueError, match="every"):
        WalkRecorder(X, y, [0.1], every=0)
