"""Padded token batches, masked batch norm and per-position batch norm (normres.bench.sequences)."""

import pytest
import torch
import torch.nn.functional as F

from normres.bench.sequences import (PAD_ID, embedding_table, pad_batch, random_lengths,
                                     random_sentences, sinusoidal_positions)
from normres.functional import masked_batch_norm
from normres.nn import MaskedBatchNorm1d, PerPositionBatchNorm


def _batch(gen, lengths, pad_to=None, dim=6):
    table = embedding_table(30, dim, generator=gen)
    sents = random_sentences(lengths, 30, generator=gen)
    ids, mask = pad_batch(sents, pad_to)
    return table[ids], mask, sents, table


# --- synthesis ---------------------------------------------------------------------------------

def test_embedding_table_pad_row_is_zero_and_real_rows_are_offset(gen):
    table = embedding_table(2000, 4, offset=3.0, generator=gen)
    assert table.shape == (2000, 4)
    assert torch.equal(table[PAD_ID], torch.zeros(4))
    # the shared offset makes the per-feature mean of real rows far from 0 (|3a| >> 1/sqrt(2000))
    std_real = table[1:].std(dim=0)
    assert torch.allclose(std_real, torch.ones(4), atol=0.1)
    assert table[1:].mean(dim=0).abs().max() > 0.3


def test_random_sentences_have_the_lengths_and_no_padding(gen):
    lengths = random_lengths(50, 2, 7, generator=gen)
    assert lengths.min() >= 2 and lengths.max() <= 7 and lengths.dtype == torch.long
    sents = random_sentences(lengths, 5, generator=gen)
    assert [s.numel() for s in sents] == lengths.tolist()
    assert all(((s >= 1) & (s < 5)).all() for s in sents)


def test_pad_batch_right_pads_and_masks(gen):
    sents = [torch.tensor([3, 4, 5]), torch.tensor([7])]
    ids, mask = pad_batch(sents)
    assert torch.equal(ids, torch.tensor([[3, 4, 5], [7, 0, 0]]))
    assert torch.equal(mask, torch.tensor([[True, True, True], [True, False, False]]))
    ids, mask = pad_batch(sents, pad_to=5)
    assert ids.shape == (2, 5) and int(mask.sum()) == 4
    with pytest.raises(ValueError, match="pad_to"):
        pad_batch(sents, pad_to=2)
    with pytest.raises(TypeError, match="sentences"):
        pad_batch([[1, 2]])


def test_sinusoidal_positions_match_the_formula():
    pe = sinusoidal_positions(7, 6)
    t, i = 5, 1
    assert pe.shape == (7, 6)
    assert torch.isclose(pe[t, 2 * i], torch.tensor(t / 10000 ** (2 * i / 6)).sin())
    assert torch.isclose(pe[t, 2 * i + 1], torch.tensor(t / 10000 ** (2 * i / 6)).cos())
    assert sinusoidal_positions(3, 5).shape == (3, 5)  # odd dim works


def test_bad_arguments_name_themselves(gen):
    with pytest.raises(ValueError, match="vocab_size"):
        embedding_table(1, 4)
    with pytest.raises(ValueError, match="max_len"):
        random_lengths(3, 5, 2)
    with pytest.raises(TypeError, match="generator"):
        random_lengths(3, 1, 2, generator=0)
    with pytest.raises(ValueError, match="lengths"):
        random_sentences([2, 0], 5)


# --- masked batch norm -------------------------------------------------------------------------

def test_masked_batch_norm_without_padding_is_batch_norm_over_tokens(gen):
    x = torch.randn(4, 5, 3, generator=gen, dtype=torch.float64)
    mask = torch.ones(4, 5, dtype=torch.bool)
    w, b = torch.rand(3, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64)
    ours = masked_batch_norm(x, mask, weight=w, bias=b)
    ref = F.batch_norm(x.reshape(-1, 3), None, None, w, b, training=True).reshape(x.shape)
    assert torch.allclose(ours, ref, atol=1e-10)


def test_masked_batch_norm_uses_real_tokens_only(gen):
    x, mask, _, _ = _batch(gen, [4, 2, 6, 3], dim=5)
    y = masked_batch_norm(x, mask)
    real = x[mask]                                       # (n, D)
    ref = F.batch_norm(real, None, None, training=True)
    assert torch.allclose(y[mask], ref, atol=1e-5)
    assert torch.equal(y[~mask], torch.zeros_like(y[~mask]))
    # more padding changes nothing at real tokens
    x2, mask2 = F.pad(x, (0, 0, 0, 7)), F.pad(mask, (0, 7))
    assert torch.allclose(masked_batch_norm(x2, mask2)[:, :x.shape[1]], y, atol=1e-6)


def test_masked_batch_norm_running_statistics_and_eval(gen):
    x, mask, _, _ = _batch(gen, [4, 2, 6, 3], dim=5)
    rm, rv = torch.zeros(5), torch.ones(5)
    masked_batch_norm(x, mask, rm, rv, training=True, momentum=0.5)
    real = x[mask]
    assert torch.allclose(rm, 0.5 * real.mean(0), atol=1e-6)
    assert torch.allclose(rv, 0.5 + 0.5 * real.var(0, unbiased=True), atol=1e-5)
    y = masked_batch_norm(x, mask, rm, rv, training=False)
    assert torch.allclose(y[mask], (real - rm) / torch.sqrt(rv + 1e-5), atol=1e-6)
    with pytest.raises(ValueError, match="running_mean"):
        masked_batch_norm(x, mask, training=False)


def test_masked_batch_norm_gradient_ignores_padding(gen):
    x, mask, _, _ = _batch(gen, [4, 2, 6], dim=3)
    x = x.double().requires_grad_(True)
    masked_batch_norm(x, mask).pow(3).sum().backward()
    assert torch.equal(x.grad[~mask], torch.zeros_like(x.grad[~mask]))
    assert torch.autograd.gradcheck(lambda t: masked_batch_norm(t, mask), (x.detach().requires_grad_(),))


def test_masked_batch_norm_rejects_bad_masks(gen):
    x = torch.randn(2, 3, 4)
    with pytest.raises(TypeError, match="mask"):
        masked_batch_norm(x, torch.ones(2, 3))
    with pytest.raises(ValueError, match="mask"):
        masked_batch_norm(x, torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="input"):
        masked_batch_norm(torch.randn(2, 3), torch.ones(2, 3, dtype=torch.bool))
    one_token = torch.zeros(2, 3, dtype=torch.bool)
    one_token[0, 0] = True
    with pytest.raises(ValueError, match="real token"):
        masked_batch_norm(x, one_token)


# --- per-position batch norm -------------------------------------------------------------------

def test_per_position_is_batch_norm_at_each_position(gen):
    x = torch.randn(5, 4, 3, generator=gen)
    layer = PerPositionBatchNorm(3, max_len=6)
    y = layer(x)
    for t in range(4):
        assert torch.allclose(y[:, t], F.batch_norm(x[:, t], None, None, training=True), atol=1e-5)
    assert torch.equal(layer.num_batches_tracked, torch.tensor([1, 1, 1, 1, 0, 0]))
    assert torch.allclose(layer.running_mean[:4], 0.1 * x.mean(0), atol=1e-6)
    assert torch.allclose(layer.running_var[:4], 0.9 + 0.1 * x.var(0, unbiased=True), atol=1e-6)
    assert torch.equal(layer.running_mean[4:], torch.zeros(2, 3))


def test_per_position_with_padding(gen):
    x, mask, _, _ = _batch(gen, [5, 2, 3, 1], dim=3)
    layer = PerPositionBatchNorm(3, max_len=8)
    y = layer(x, mask)
    # position 1: sentences 0, 1, 2 are real
    rows = mask[:, 1]
    assert torch.allclose(y[rows, 1], F.batch_norm(x[rows, 1], None, None, training=True), atol=1e-5)
    # position 4: only sentence 0 is real -> zero variance, output beta (= 0), no running update
    assert torch.equal(y[0, 4], torch.zeros(3))
    assert torch.equal(layer.num_batches_tracked, torch.tensor([1, 1, 1, 0, 0, 0, 0, 0]))
    assert torch.equal(y[~mask], torch.zeros_like(y[~mask]))


def test_per_position_eval_refuses_unseen_positions(gen):
    layer = PerPositionBatchNorm(3, max_len=10)
    layer(torch.randn(4, 6, 3, generator=gen))
    layer.eval()
    y = layer(torch.randn(2, 6, 3, generator=gen))
    assert y.shape == (2, 6, 3)
    with pytest.raises(ValueError, match=r"positions 6\.\.7"):
        layer(torch.randn(2, 8, 3, generator=gen))
    # padding at unseen positions is fine
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[:, :6] = True
    layer(torch.randn(2, 8, 3, generator=gen), mask)
    with pytest.raises(ValueError, match="max_len=10"):
        layer(torch.randn(2, 11, 3, generator=gen))


def test_per_position_rejects_wrong_features():
    with pytest.raises(ValueError, match="features"):
        PerPositionBatchNorm(3, max_len=4)(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="max_len"):
        PerPositionBatchNorm(3, max_len=0)


def test_masked_batch_norm_module_matches_functional_and_torch_names(gen):
    x = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    layer = MaskedBatchNorm1d(4).double()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5, generator=gen)
        layer.bias.uniform_(-0.5, 0.5, generator=gen)
    rm, rv = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    expected = masked_batch_norm(x, mask, rm, rv, layer.weight, layer.bias, training=True)
    torch.testing.assert_close(layer(x, mask), expected)
    torch.testing.assert_close(layer.running_mean, rm)
    torch.testing.assert_close(layer.running_var, rv)
    assert int(layer.num_batches_tracked) == 1
    assert set(layer.state_dict()) == set(torch.nn.BatchNorm1d(4).state_dict())
    layer.eval()
    torch.testing.assert_close(layer(x, mask), masked_batch_norm(x, mask, rm, rv, layer.weight,
                                                                 layer.bias, training=False))


def test_masked_batch_norm_module_ignores_padding_content(gen):
    x = torch.randn(2, 4, 3, generator=gen)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    y1 = MaskedBatchNorm1d(3)(x, mask)
    x2 = x.clone()
    x2[~mask] = 1e3
    y2 = MaskedBatchNorm1d(3)(x2, mask)
    torch.testing.assert_close(y1, y2)
    assert torch.all(y1[~mask] == 0)


def test_masked_batch_norm_module_rejects_bad_mask():
    with pytest.raises(ValueError, match="mask must have shape"):
        MaskedBatchNorm1d(3)(torch.randn(2, 4, 3), torch.ones(2, 5, dtype=torch.bool))
