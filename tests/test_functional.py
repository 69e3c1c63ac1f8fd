"""normres.functional against torch.nn.functional: forward, gradients and running statistics over
random shapes, both float dtypes, affine on and off, several eps values; gradcheck of the hand
backward passes; the gradient's structure; and every bad input."""

import itertools

import pytest
import torch
import torch.nn.functional as TF

from normres import functional as F
from normres.backward import BatchNormFunction, LayerNormFunction

from tolerances import TOL

DTYPES = [torch.float32, torch.float64]
EPS = [1e-5, 1e-3, 0.1]


def rand(gen, *shape, dtype=torch.float64, scale=1.0, shift=0.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + shift).to(dtype)


def affine(gen, shape, dtype, on):
    if not on:
        return None, None
    w = rand(gen, *shape, dtype=dtype).requires_grad_(True)
    b = rand(gen, *shape, dtype=dtype).requires_grad_(True)
    return w, b


def compare_with_grads(ours, theirs, inputs, dtype):
    """Forward outputs equal and gradients of a random projection of the output equal."""
    y1, y2 = ours(*inputs), theirs(*inputs)
    torch.testing.assert_close(y1, y2, **TOL[dtype])
    proj = torch.randn(y1.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(dtype)
    needs = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    g1 = torch.autograd.grad((y1 * proj).sum(), needs)
    g2 = torch.autograd.grad((y2 * proj).sum(), needs)
    for a, b in zip(g1, g2):
        # gradients pass through 1/sigma and sums over the reduced axes: allow 10x the forward tolerance
        torch.testing.assert_close(a, b, atol=10 * TOL[dtype]["atol"], rtol=10 * TOL[dtype]["rtol"])


LN_SHAPES = [((3, 7), (7,)), ((2, 5, 6), (6,)), ((2, 5, 6), (5, 6)), ((4, 3, 2, 5), (2, 5)), ((1, 9), (9,))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", LN_SHAPES)
@pytest.mark.parametrize("affine_on", [True, False])
@pytest.mark.parametrize("eps", EPS)
def test_layer_norm_matches_torch(gen, dtype, shapes, affine_on, eps):
    shape, norm_shape = shapes
    x = rand(gen, *shape, dtype=dtype, scale=3.0, shift=2.0).requires_grad_(True)
    w, b = affine(gen, norm_shape, dtype, affine_on)
    compare_with_grads(lambda x, w, b: F.layer_norm(x, norm_shape, w, b, eps),
                       lambda x, w, b: TF.layer_norm(x, norm_shape, w, b, eps), (x, w, b), dtype)


def test_layer_norm_accepts_int_shape_and_weight_without_bias(gen):
    x = rand(gen, 4, 6)
    w = rand(gen, 6)
    torch.testing.assert_close(F.layer_norm(x, 6, w), TF.layer_norm(x, (6,), w))


BN_SHAPES = [(8, 3), (5, 4, 7), (4, 3, 5, 6), (2, 2, 3, 3, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine_on", [True, False])
@pytest.mark.parametrize("eps", EPS)
def test_batch_norm_training_matches_torch(gen, dtype, shape, affine_on, eps):
    x = rand(gen, *shape, dtype=dtype, scale=2.0, shift=-1.0).requires_grad_(True)
    w, b = affine(gen, (shape[1],), dtype, affine_on)
    rm1, rv1 = rand(gen, shape[1], dtype=dtype), rand(gen, shape[1], dtype=dtype).abs() + 0.5
    rm2, rv2 = rm1.clone(), rv1.clone()
    y1 = F.batch_norm(x, rm1, rv1, w, b, True, 0.3, eps)
    y2 = TF.batch_norm(x, rm2, rv2, w, b, True, 0.3, eps)
    torch.testing.assert_close(y1, y2, **TOL[dtype])
    torch.testing.assert_close(rm1, rm2, **TOL[dtype])
    torch.testing.assert_close(rv1, rv2, **TOL[dtype])
    compare_with_grads(lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, eps),
                       lambda x, w, b: TF.batch_norm(x, None, None, w, b, True, 0.1, eps), (x, w, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_eval_matches_torch(gen, dtype, shape):
    x = rand(gen, *shape, dtype=dtype).requires_grad_(True)
    w, b = affine(gen, (shape[1],), dtype, True)
    rm, rv = rand(gen, shape[1], dtype=dtype), rand(gen, shape[1], dtype=dtype).abs() + 0.5
    rm_before = rm.clone()
    compare_with_grads(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, False),
                       lambda x, w, b: TF.batch_norm(x, rm, rv, w, b, False), (x, w, b), dtype)
    assert torch.equal(rm, rm_before), "evaluation must not touch the running statistics"


def test_batch_norm_running_stats_over_many_steps(gen):
    rm1, rv1 = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    rm2, rv2 = rm1.clone(), rv1.clone()
    for step in range(50):
        x = rand(gen, 6, 4, 3, scale=1 + step / 10, shift=step / 5)
        F.batch_norm(x, rm1, rv1, training=True, momentum=0.1)
        TF.batch_norm(x, rm2, rv2, training=True, momentum=0.1)
    torch.testing.assert_close(rm1, rm2, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(rv1, rv2, atol=1e-12, rtol=1e-12)
    assert not torch.allclose(rm1, torch.zeros(4, dtype=torch.float64)), "running mean never moved"


def test_running_var_is_unbiased_and_normalization_is_biased(gen):
    x = rand(gen, 5, 2)
    rm, rv = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    y = F.batch_norm(x, rm, rv, training=True, momentum=1.0, eps=0.0)
    torch.testing.assert_close(rv, x.var(0, unbiased=True))
    torch.testing.assert_close(y.var(0, unbiased=False), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((3, 4, 3, 3), 2), ((2, 4, 3, 3), 4), ((2, 4, 3, 3), 1), ((5, 6), 2)])
@pytest.mark.parametrize("affine_on", [True, False])
@pytest.mark.parametrize("eps", EPS)
def test_group_norm_matches_torch(gen, dtype, shape, groups, affine_on, eps):
    x = rand(gen, *shape, dtype=dtype, scale=2.0, shift=1.0).requires_grad_(True)
    w, b = affine(gen, (shape[1],), dtype, affine_on)
    compare_with_grads(lambda x, w, b: F.group_norm(x, groups, w, b, eps),
                       lambda x, w, b: TF.group_norm(x, groups, w, b, eps), (x, w, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 2, 4, 4)])
@pytest.mark.parametrize("affine_on", [True, False])
@pytest.mark.parametrize("eps", EPS)
def test_instance_norm_matches_torch(gen, dtype, shape, affine_on, eps):
    x = rand(gen, *shape, dtype=dtype, scale=2.0).requires_grad_(True)
    w, b = affine(gen, (shape[1],), dtype, affine_on)
    compare_with_grads(lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=eps),
                       lambda x, w, b: TF.instance_norm(x, weight=w, bias=b, eps=eps), (x, w, b), dtype)
    rm1, rv1 = torch.zeros(shape[1], dtype=dtype), torch.ones(shape[1], dtype=dtype)
    rm2, rv2 = rm1.clone(), rv1.clone()
    for _ in range(3):
        F.instance_norm(x.detach(), rm1, rv1, momentum=0.2, eps=eps)
        TF.instance_norm(x.detach(), rm2, rv2, momentum=0.2, eps=eps)
    torch.testing.assert_close(rm1, rm2, **TOL[dtype])
    torch.testing.assert_close(rv1, rv2, **TOL[dtype])
    torch.testing.assert_close(F.instance_norm(x, rm1, rv1, use_input_stats=False),
                               TF.instance_norm(x, rm2, rv2, use_input_stats=False), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", LN_SHAPES)
@pytest.mark.parametrize("affine_on", [True, False])
@pytest.mark.parametrize("eps", [None, 1e-6, 0.1])
def test_rms_norm_matches_torch(gen, dtype, shapes, affine_on, eps):
    shape, norm_shape = shapes
    x = rand(gen, *shape, dtype=dtype, scale=3.0, shift=1.0).requires_grad_(True)
    w = rand(gen, *norm_shape, dtype=dtype).requires_grad_(True) if affine_on else None
    compare_with_grads(lambda x, w: F.rms_norm(x, norm_shape, w, eps),
                       lambda x, w: TF.rms_norm(x, norm_shape, w, eps), (x, w), dtype)


def test_ops_do_not_call_torch_normalization_kernels(gen, monkeypatch):
    """Built from primitives: poisoning torch's own kernels must not change our results."""
    def poisoned(*args, **kwargs):
        raise AssertionError("a torch normalization op was called")
    for name in ("batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm"):
        monkeypatch.setattr(torch, name, poisoned, raising=False)
        monkeypatch.setattr(TF, name, poisoned)
        monkeypatch.setattr(torch.nn.functional, name, poisoned)
    x = rand(gen, 4, 6, 5)
    F.batch_norm(x, None, None, training=True)
    F.layer_norm(x, (5,))
    F.group_norm(x, 3)
    F.instance_norm(x)
    F.rms_norm(x, (5,))


# --- hand-derived backward passes -------------------------------------------------------------

@pytest.mark.parametrize("shape,norm_shape", [((3, 5), (5,)), ((2, 3, 4), (3, 4))])
def test_layer_norm_function_gradcheck(gen, shape, norm_shape):
    x = rand(gen, *shape, scale=2.0).requires_grad_(True)
    w = rand(gen, *norm_shape).requires_grad_(True)
    b = rand(gen, *norm_shape).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w, b: LayerNormFunction.apply(x, w, b, norm_shape, 1e-5), (x, w, b))
    assert torch.autograd.gradcheck(lambda x: LayerNormFunction.apply(x, None, None, norm_shape, 1e-5), (x,))


@pytest.mark.parametrize("shape", [(6, 3), (4, 2, 5), (3, 2, 2, 3)])
def test_batch_norm_function_gradcheck(gen, shape):
    x = rand(gen, *shape, scale=2.0).requires_grad_(True)
    w = rand(gen, shape[1]).requires_grad_(True)
    b = rand(gen, shape[1]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w, b: BatchNormFunction.apply(x, w, b, 1e-5)[0], (x, w, b))
    assert torch.autograd.gradcheck(lambda x: BatchNormFunction.apply(x, None, None, 1e-5)[0], (x,))


def test_hand_backward_matches_autograd_of_the_formula(gen):
    x = rand(gen, 4, 7, scale=3.0).requires_grad_(True)
    w = rand(gen, 7).requires_grad_(True)
    b = rand(gen, 7).requires_grad_(True)
    dy = rand(gen, 4, 7)

    def formula(x, w, b):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5) * w + b

    g_ours = torch.autograd.grad(LayerNormFunction.apply(x, w, b, (7,), 1e-5), (x, w, b), dy)
    g_ref = torch.autograd.grad(formula(x, w, b), (x, w, b), dy)
    for a, r in zip(g_ours, g_ref):
        torch.testing.assert_close(a, r, atol=1e-12, rtol=1e-10)


def test_layer_norm_input_gradient_is_orthogonal_to_ones_and_xhat(gen):
    # exact with eps=0; a positive eps leaves a component along xhat of relative size eps/var
    x = rand(gen, 5, 8, scale=4.0, shift=3.0).requires_grad_(True)
    w = rand(gen, 8)
    (gx,) = torch.autograd.grad(F.layer_norm(x, (8,), w, eps=0.0), x, rand(gen, 5, 8))
    xhat = F.layer_norm(x.detach(), (8,), eps=0.0)
    assert gx.abs().max() > 1e-3, "the gradient should not vanish altogether"
    torch.testing.assert_close(gx.sum(-1), torch.zeros(5, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close((gx * xhat).sum(-1), torch.zeros(5, dtype=torch.float64), atol=1e-12, rtol=0)


def test_hand_backward_is_once_differentiable(gen):
    x = rand(gen, 3, 4).requires_grad_(True)
    (g,) = torch.autograd.grad(F.layer_norm(x, (4,)).pow(3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


# --- bad input ---------------------------------------------------------------------------------

def test_layer_norm_rejects_mismatched_normalized_shape(gen):
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(rand(gen, 3, 5), (4,))
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(rand(gen, 5), (2, 5))
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm(rand(gen, 3, 5), "5")
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(rand(gen, 3, 5), ())


def test_layer_norm_rejects_bad_weight(gen):
    with pytest.raises(ValueError, match="weight"):
        F.layer_norm(rand(gen, 3, 5), (5,), rand(gen, 4))
    with pytest.raises(TypeError, match="weight"):
        F.layer_norm(rand(gen, 3, 5), (5,), torch.ones(5, dtype=torch.float32))


@pytest.mark.parametrize("op", [
    lambda x: F.layer_norm(x, (3,)), lambda x: F.batch_norm(x, None, None, training=True),
    lambda x: F.group_norm(x, 1), lambda x: F.rms_norm(x, (3,))])
def test_integer_input_is_rejected(op):
    with pytest.raises(TypeError, match="input must be a floating-point tensor"):
        op(torch.ones(4, 3, dtype=torch.long))


def test_non_tensor_input_is_rejected():
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        F.layer_norm([[1.0, 2.0]], (2,))


def test_group_norm_rejects_indivisible_channels(gen):
    with pytest.raises(ValueError, match="num_groups"):
        F.group_norm(rand(gen, 2, 6, 3), 4)
    with pytest.raises(ValueError, match="num_groups"):
        F.group_norm(rand(gen, 2, 6, 3), 0)


def test_batch_norm_rejects_one_value_per_channel(gen):
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(rand(gen, 1, 4), None, None, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(rand(gen, 1, 4, 1), None, None, training=True)
    # one example is fine in evaluation: running statistics do not need a batch
    F.batch_norm(rand(gen, 1, 4), torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))


def test_batch_norm_rejects_wrong_dimensions_and_buffers(gen):
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.batch_norm(rand(gen, 5), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(rand(gen, 5, 3), torch.zeros(4, dtype=torch.float64), torch.ones(3, dtype=torch.float64), training=True)
    with pytest.raises(ValueError, match="running_mean and running_var must be given"):
        F.batch_norm(rand(gen, 5, 3), None, None, training=False)
    with pytest.raises(ValueError, match="momentum"):
        F.batch_norm(rand(gen, 5, 3), None, None, training=True, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        F.batch_norm(rand(gen, 5, 3), None, None, training=True, eps=-1.0)


def test_instance_norm_rejects_single_position(gen):
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(rand(gen, 2, 3, 1))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        F.instance_norm(rand(gen, 2, 3))
