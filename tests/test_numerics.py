"""normres.probes.numerics: one-pass, two-pass and Welford variances in several dtypes."""

import pytest
import torch

from normres.probes.numerics import (offset_ratio, one_pass_error_scale, relative_error,
                                     sequential_mean, variance_one_pass, variance_two_pass,
                                     variance_welford)

METHODS = [variance_one_pass, variance_two_pass, variance_welford]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_methods_match_torch_in_float64(method, dim):
    x = torch.randn(5, 7, 3, dtype=torch.float64) * 2 + 1
    torch.testing.assert_close(method(x, dim=dim), x.var(dim=dim, unbiased=False))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_result_keeps_dtype_and_shape(method, dtype):
    x = torch.randn(4, 6).to(dtype)
    v = method(x)
    assert v.dtype == dtype and v.shape == (4,)


def test_one_pass_cancels_where_two_pass_and_welford_do_not():
    torch.manual_seed(0)
    x = (torch.randn(200, 128, dtype=torch.float64) + 1e4).float()
    ref = x.double().var(-1, unbiased=False)
    one = relative_error(variance_one_pass(x), ref)
    assert (variance_one_pass(x) < 0).any()          # negative variances
    assert one.median() > 0.5
    assert relative_error(variance_two_pass(x), ref).max() < 1e-5
    assert relative_error(variance_welford(x), ref).max() < 1e-2


def test_float16_square_overflows_in_one_pass_only():
    x = torch.full((2, 8), 300.0, dtype=torch.float16)
    x[:, 0] = 301.0
    assert not torch.isfinite(variance_one_pass(x)).any()   # inf - inf = nan
    assert torch.isfinite(variance_two_pass(x)).all()


def test_welford_accumulator_dtype_helps_float16():
    torch.manual_seed(0)
    x = (torch.randn(100, 256, dtype=torch.float64) + 100).half()
    ref = x.double().var(-1, unbiased=False)
    err16 = relative_error(variance_welford(x), ref).median()
    err32 = relative_error(variance_welford(x, acc_dtype=torch.float32), ref).median()
    assert err32 < 1e-3 < err16
    assert variance_welford(x, acc_dtype=torch.float32).dtype == torch.float16


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dim", [0, -1])
def test_explicit_accumulator_matches_torch_in_float64(method, dim):
    x = torch.randn(6, 9, dtype=torch.float64) * 3 - 2
    v = method(x.float(), dim=dim, acc_dtype=torch.float64)
    assert v.dtype == torch.float32
    torch.testing.assert_close(v.double(), x.float().double().var(dim=dim, unbiased=False))


def test_sequential_mean_rounds_every_addition():
    # 1 + 2^-11 + ... in float16: each small term is below half the spacing near 1 (2^-10), so a
    # float16 running sum never moves, while torch.mean (float32 inside) and a float32 sum do
    x = torch.full((1, 65), 2.0 ** -11, dtype=torch.float16)
    x[0, 0] = 1.0
    assert sequential_mean(x).item() == pytest.approx(1 / 65, rel=1e-3)
    assert sequential_mean(x, acc_dtype=torch.float32).item() == pytest.approx((1 + 64 / 2048) / 65, rel=1e-6)
    assert x.mean().item() == pytest.approx((1 + 64 / 2048) / 65, rel=1e-3)
    assert sequential_mean(x).dtype == torch.float16
    assert sequential_mean(x, acc_dtype=torch.float32).dtype == torch.float32


def test_16bit_accumulators_overflow_the_two_pass_sum_not_welford():
    torch.manual_seed(0)
    x = (torch.randn(50, 256, dtype=torch.float64) + 300).half()   # 256 * 300 > 65504
    ref = x.double().var(-1, unbiased=False)
    assert not torch.isfinite(variance_two_pass(x, acc_dtype=torch.float16)).any()
    assert torch.isfinite(variance_two_pass(x)).all()          # torch.mean sums in float32
    assert relative_error(variance_welford(x), ref).median() < 0.1
    wide = variance_two_pass(x, acc_dtype=torch.float32)
    assert relative_error(wide, ref).median() < 1e-3


def test_bfloat16_accumulator_stagnates_at_mean_zero():
    torch.manual_seed(0)
    x = torch.randn(200, 256, dtype=torch.float64).bfloat16()
    ref = x.double().var(-1, unbiased=False)
    for method in METHODS:
        short = relative_error(method(x, acc_dtype=torch.bfloat16), ref).median()
        wide = relative_error(method(x, acc_dtype=torch.float32), ref).median()
        assert short > 5 * wide


def test_offset_ratio():
    x = torch.tensor([[1.0, 3.0], [-4.0, -2.0], [0.0, 2.0]])
    torch.testing.assert_close(offset_ratio(x), torch.tensor([2.0, 3.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(offset_ratio(x.T, dim=0), offset_ratio(x))
    assert offset_ratio(x).dtype == torch.float64


def test_error_scale():
    assert one_pass_error_scale(0.0, 1.0, torch.float32) == torch.finfo(torch.float32).eps
    assert one_pass_error_scale(100.0, 1.0, torch.float16) == pytest.approx(
        torch.finfo(torch.float16).eps * 10001)


def test_bad_arguments():
    with pytest.raises(TypeError, match="x must be"):
        variance_one_pass(torch.arange(5))
    with pytest.raises(TypeError, match="x must be"):
        variance_two_pass([1.0, 2.0])
    with pytest.raises(ValueError, match="dim"):
        variance_two_pass(torch.randn(3, 4), dim=2)
    with pytest.raises(ValueError, match="0-d"):
        variance_welford(torch.tensor(1.0))
    with pytest.raises(TypeError, match="acc_dtype"):
        variance_welford(torch.randn(3), acc_dtype=torch.int32)
    with pytest.raises(TypeError, match="acc_dtype"):
        variance_one_pass(torch.randn(3), acc_dtype=torch.int64)
    with pytest.raises(TypeError, match="acc_dtype"):
        variance_two_pass(torch.randn(3), acc_dtype="float32")
    with pytest.raises(TypeError, match="acc_dtype"):
        sequential_mean(torch.randn(3), acc_dtype=torch.int32)
    with pytest.raises(ValueError, match="dim"):
        sequential_mean(torch.randn(3, 4), dim=-3)
    with pytest.raises(ValueError, match="at least 2"):
        offset_ratio(torch.randn(3, 1))
    with pytest.raises(TypeError, match="x must be"):
        offset_ratio(torch.arange(4))
    with pytest.raises(ValueError, match="same shape"):
        relative_error(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="std"):
        one_pass_error_scale(1.0, 0.0, torch.float32)
    with pytest.raises(TypeError, match="dtype"):
        one_pass_error_scale(1.0, 1.0, torch.int64)
