"""normres.nn.NoisyBatchNorm1d and add_batch_norm_noise: the noise's form and range, fresh noise at
every training step, none in eval mode, state_dict compatibility with BatchNorm1d, bad input."""

import pytest
import torch
from torch import nn

from normres import nn as N
from normres.bench.models import MLP


def test_training_output_is_a_per_unit_affine_map_of_batch_norm(gen):
    x = torch.randn(32, 6, generator=gen) * 3 + 2
    noisy = N.NoisyBatchNorm1d(6, shift_noise=0.5, scale_noise=0.4)
    plain = N.BatchNorm1d(6)
    y, z = noisy(x), plain(x)
    # y = s * z + m per unit: recover s and m by least squares and check the fit is exact
    s = ((y - y.mean(0)) * (z - z.mean(0))).sum(0) / ((z - z.mean(0)) ** 2).sum(0)
    m = y.mean(0) - s * z.mean(0)
    torch.testing.assert_close(y, z * s + m, atol=1e-5, rtol=1e-5)
    assert torch.all((s > 0.6 - 1e-6) & (s < 1.4 + 1e-6))
    assert torch.all(m.abs() <= 0.5 + 1e-6)
    torch.testing.assert_close(noisy.running_mean, plain.running_mean)
    torch.testing.assert_close(noisy.running_var, plain.running_var)


def test_noise_is_fresh_every_step_and_absent_in_eval(gen):
    x = torch.randn(16, 5, 3, generator=gen)
    noisy = N.NoisyBatchNorm1d(5)
    a, b = noisy(x), noisy(x)
    assert not torch.allclose(a, b)
    noisy.eval()
    plain = N.BatchNorm1d(5)
    plain.load_state_dict(noisy.state_dict())
    plain.eval()
    torch.testing.assert_close(noisy(x), plain(x))
    torch.testing.assert_close(noisy(x), noisy(x))


def test_noise_statistics_over_many_draws(gen):
    torch.manual_seed(0)
    noisy = N.NoisyBatchNorm1d(2000, shift_noise=0.5, scale_noise=0.5, affine=False)
    x = torch.randn(64, 2000, generator=gen)
    z = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
    y = noisy(x)
    shift = y.mean(0) - z.mean(0)
    scale = y.std(0) / z.std(0)
    # uniform on (-0.5, 0.5): mean 0, variance 1/12; scale uniform on (0.5, 1.5)
    assert abs(shift.mean().item()) < 0.03 and abs(shift.var().item() - 1 / 12) < 0.01
    assert abs(scale.mean().item() - 1.0) < 0.03
    assert scale.min().item() > 0.5 - 1e-4 and scale.max().item() < 1.5 + 1e-4


def test_add_batch_norm_noise_keeps_state_and_function(gen):
    torch.manual_seed(0)
    model = MLP(8, 16, 2, 3, norm="batch")
    x = torch.randn(10, 8, generator=gen)
    model(x)  # move the running statistics
    model.eval()
    before = model(x)
    keys = list(model.state_dict())
    N.add_batch_norm_noise(model, shift_noise=0.3, scale_noise=0.2)
    layers = [m for m in model.modules() if isinstance(m, N.BatchNorm1d)]
    assert len(layers) == 5 and all(isinstance(m, N.NoisyBatchNorm1d) for m in layers)
    assert all(m.shift_noise == 0.3 and m.scale_noise == 0.2 for m in layers)
    assert list(model.state_dict()) == keys
    assert not model.training
    torch.testing.assert_close(model(x), before)
    torch_model = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
    N.add_batch_norm_noise(torch_model)
    assert isinstance(torch_model[1], N.NoisyBatchNorm1d)


@pytest.mark.parametrize("kwargs,match", [
    ({"shift_noise": -0.1}, "shift_noise"), ({"scale_noise": 1.0}, "scale_noise"),
    ({"scale_noise": "big"}, "scale_noise"),
])
def test_bad_noise_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        N.NoisyBatchNorm1d(4, **kwargs)
    with pytest.raises(ValueError, match=match):
        N.add_batch_norm_noise(MLP(4, 4, 0, 2, norm="batch"), **kwargs)


def test_model_without_batch_norm_is_rejected():
    with pytest.raises(ValueError, match="no BatchNorm1d"):
        N.add_batch_norm_noise(MLP(4, 4, 1, 2))
    with pytest.raises(TypeError, match="model must be"):
        N.add_batch_norm_noise("mlp")
