"""normres.nn modules against their torch.nn namesakes: constructor arguments, parameters, buffers,
state_dict keys, running statistics over many steps, eval mode, state_dict round trips, bad input."""

import pytest
import torch
from torch import nn

import normres.nn as N

from tolerances import TOL

PAIRS = [
    (lambda **k: N.BatchNorm1d(5, **k), lambda **k: nn.BatchNorm1d(5, **k), (8, 5)),
    (lambda **k: N.BatchNorm1d(5, **k), lambda **k: nn.BatchNorm1d(5, **k), (6, 5, 4)),
    (lambda **k: N.BatchNorm2d(3, **k), lambda **k: nn.BatchNorm2d(3, **k), (4, 3, 5, 5)),
]
PER_EXAMPLE = [
    (lambda: N.LayerNorm(6), lambda: nn.LayerNorm(6), (4, 3, 6)),
    (lambda: N.LayerNorm((3, 6), eps=1e-3), lambda: nn.LayerNorm((3, 6), eps=1e-3), (4, 3, 6)),
    (lambda: N.LayerNorm(6, bias=False), lambda: nn.LayerNorm(6, bias=False), (4, 6)),
    (lambda: N.LayerNorm(6, elementwise_affine=False), lambda: nn.LayerNorm(6, elementwise_affine=False), (4, 6)),
    (lambda: N.GroupNorm(2, 6), lambda: nn.GroupNorm(2, 6), (4, 6, 3, 3)),
    (lambda: N.GroupNorm(3, 6, affine=False), lambda: nn.GroupNorm(3, 6, affine=False), (4, 6, 5)),
    (lambda: N.GroupNorm(3, 6, bias=False), lambda: nn.GroupNorm(3, 6, bias=False), (4, 6, 5)),
    (lambda: N.RMSNorm(6), lambda: nn.RMSNorm(6), (4, 3, 6)),
    (lambda: N.RMSNorm(6, eps=1e-4, elementwise_affine=False), lambda: nn.RMSNorm(6, eps=1e-4, elementwise_affine=False), (4, 6)),
]


def randomize(ours, theirs, gen):
    """Give both modules the same non-trivial parameters, so a missed gamma/beta would show."""
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    ours.load_state_dict(theirs.state_dict())


def same_structure(ours, theirs):
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (n, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert a.shape == b.shape and a.dtype == b.dtype, n
        assert torch.equal(a, b), f"initial value of {n} differs"


@pytest.mark.parametrize("ours,theirs,shape", PER_EXAMPLE)
def test_per_example_modules_match_torch(ours, theirs, shape, gen):
    a, b = ours(), theirs()
    same_structure(a, b)
    randomize(a, b, gen)
    x = torch.randn(shape, generator=gen)
    torch.testing.assert_close(a(x), b(x), **TOL[torch.float32])
    a.eval(), b.eval()
    torch.testing.assert_close(a(x), b(x), **TOL[torch.float32])


@pytest.mark.parametrize("ours,theirs,shape", PAIRS)
@pytest.mark.parametrize("kwargs", [
    {}, {"momentum": 0.3}, {"momentum": None}, {"affine": False}, {"track_running_stats": False},
    {"eps": 1e-2, "momentum": 0.05}, {"bias": False},
])
def test_batch_norm_modules_match_torch_over_many_steps(ours, theirs, shape, kwargs, gen):
    a, b = ours(**kwargs), theirs(**kwargs)
    same_structure(a, b)
    randomize(a, b, gen)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1) if list(a.parameters()) else None
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1) if list(b.parameters()) else None
    for step in range(30):
        x = torch.randn(shape, generator=gen) * (1 + step / 10) + step / 7
        ya, yb = a(x), b(x)
        torch.testing.assert_close(ya, yb, **TOL[torch.float32])
        if opt_a is not None:
            # a loss that is not invariant to gamma and beta, so the parameters really move
            (torch.sin(ya) * ya).mean().backward()
            (torch.sin(yb) * yb).mean().backward()
            opt_a.step(), opt_b.step(), opt_a.zero_grad(), opt_b.zero_grad()
    for (n, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(va, vb, atol=1e-5, rtol=1e-5, msg=f"{n} differs after training")
    a.eval(), b.eval()
    x = torch.randn(shape, generator=gen)
    torch.testing.assert_close(a(x), b(x), **TOL[torch.float32])


def test_eval_uses_running_statistics(gen):
    bn = N.BatchNorm1d(3)
    for _ in range(20):
        bn(torch.randn(16, 3, generator=gen) * 2 + 5)
    bn.eval()
    x = torch.randn(1, 3, generator=gen)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(bn(x), expected)
    assert int(bn.num_batches_tracked) == 20
    before = bn.running_mean.clone()
    bn(torch.randn(8, 3, generator=gen))
    assert torch.equal(bn.running_mean, before) and int(bn.num_batches_tracked) == 20


def test_momentum_none_is_cumulative_average(gen):
    bn = N.BatchNorm1d(2, momentum=None)
    batches = [torch.randn(10, 2, generator=gen) + i for i in range(5)]
    for x in batches:
        bn(x)
    torch.testing.assert_close(bn.running_mean, torch.stack([x.mean(0) for x in batches]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([x.var(0) for x in batches]).mean(0))


def test_untracked_batch_norm_uses_batch_statistics_in_eval(gen):
    bn = N.BatchNorm1d(3, track_running_stats=False, affine=False)
    assert bn.running_mean is None and "running_mean" not in bn.state_dict()
    bn.eval()
    x = torch.randn(7, 3, generator=gen) * 3 + 1
    torch.testing.assert_close(bn(x), (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5))


@pytest.mark.parametrize("ours,theirs,shape", PAIRS[:1] + PAIRS[2:])
def test_state_dict_round_trip_between_torch_and_normres(ours, theirs, shape, gen):
    t = theirs()
    for _ in range(5):
        t(torch.randn(shape, generator=gen) * 2 + 1)
    randomize_params = torch.randn(t.weight.shape, generator=gen)
    with torch.no_grad():
        t.weight.copy_(randomize_params)
    o = ours()
    o.load_state_dict(t.state_dict())
    t2 = theirs()
    t2.load_state_dict(o.state_dict())
    for m in (t, o, t2):
        m.eval()
    x = torch.randn(shape, generator=gen)
    torch.testing.assert_close(o(x), t(x), **TOL[torch.float32])
    torch.testing.assert_close(t2(x), t(x), atol=0, rtol=0)
    assert int(o.num_batches_tracked) == 5


def test_layer_norm_state_dict_round_trip(gen):
    t = nn.LayerNorm((2, 3))
    with torch.no_grad():
        t.weight.normal_(generator=gen), t.bias.normal_(generator=gen)
    o = N.LayerNorm((2, 3))
    o.load_state_dict(t.state_dict())
    x = torch.randn(4, 2, 3, generator=gen)
    torch.testing.assert_close(o(x), t(x), **TOL[torch.float32])


def test_float64_modules(gen):
    o = N.LayerNorm(4, dtype=torch.float64)
    t = nn.LayerNorm(4, dtype=torch.float64)
    x = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(o(x), t(x), **TOL[torch.float64])
    assert o.weight.dtype == torch.float64


def test_repr_mirrors_torch():
    assert repr(N.BatchNorm1d(4)) == repr(nn.BatchNorm1d(4))
    assert repr(N.LayerNorm(4)) == repr(nn.LayerNorm(4))
    assert repr(N.GroupNorm(2, 4)) == repr(nn.GroupNorm(2, 4))
    assert repr(N.RMSNorm(4)) == repr(nn.RMSNorm(4))
    assert repr(N.BatchNorm2d(4, bias=False)) == repr(nn.BatchNorm2d(4, bias=False))


# --- bad input ---------------------------------------------------------------------------------

def test_batch_norm_module_rejects_wrong_rank_and_channels():
    with pytest.raises(ValueError, match="BatchNorm1d expects 2D or 3D input"):
        N.BatchNorm1d(3)(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="BatchNorm2d expects 4D input"):
        N.BatchNorm2d(3)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="expects 3 channels"):
        N.BatchNorm1d(3)(torch.randn(4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        N.BatchNorm1d(3)(torch.randn(1, 3))
    with pytest.raises(TypeError, match="floating-point"):
        N.BatchNorm1d(3)(torch.ones(4, 3, dtype=torch.int32))


def test_constructors_reject_bad_arguments():
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        N.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="num_features"):
        N.BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum"):
        N.BatchNorm1d(3, momentum=2.0)
    with pytest.raises(ValueError, match="normalized_shape"):
        N.LayerNorm(-3)
    with pytest.raises(ValueError, match="eps"):
        N.LayerNorm(3, eps=-1e-5)


def test_per_example_modules_reject_mismatched_input():
    with pytest.raises(ValueError, match="normalized_shape"):
        N.LayerNorm(5)(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"GroupNorm expects input of shape \(N, 6, \*\)"):
        N.GroupNorm(2, 6)(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="normalized_shape"):
        N.RMSNorm(5)(torch.randn(2, 4))
