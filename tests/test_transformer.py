"""normres.transformer: blocks equal torch's TransformerEncoderLayer (float64, with a key padding
mask), padding independence for per-token norms, batch-norm companion dependence, ReZero identity,
DeepNorm constants, shapes, gradients, bad arguments."""

import pytest
import torch
from torch import nn

import normres.nn as N
from normres.transformer import (MultiHeadSelfAttention, FeedForward, TransformerBlock,
                                 TransformerEncoder, TokenTask, copy_from_torch, deepnorm_constants,
                                 deepnorm_init_, make_norm, xavier_init_, NORM_KINDS)

D, H, F = 16, 4, 32


def padded_input(gen, B=4, T=7, dtype=torch.float64):
    x = torch.randn(B, T, D, generator=gen, dtype=dtype)
    pad = torch.zeros(B, T, dtype=torch.bool)
    pad[1, 5:] = True
    pad[2, 2:] = True
    pad[3, 6:] = True
    return x, pad


@pytest.mark.parametrize("norm_position", ["post", "pre"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_block_equals_torch_encoder_layer(gen, norm_position, activation):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(D, H, F, dropout=0.0, batch_first=True,
                                        norm_first=norm_position == "pre", activation=activation).double()
    with torch.no_grad():   # non-trivial norm parameters and biases, so a missed one would show
        for p in theirs.parameters():
            if p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5 + (1.0 if p.shape[0] == D else 0.0))
    ours = copy_from_torch(TransformerBlock(D, H, F, norm_position=norm_position,
                                            activation=activation).double(), theirs)
    x, pad = padded_input(gen)
    theirs.train()   # training mode with dropout 0: the reference path, not the nested-tensor fast path
    expected = theirs(x, src_key_padding_mask=pad)
    got = ours(x, pad)
    real = ~pad
    torch.testing.assert_close(got[real], expected[real], atol=1e-10, rtol=1e-10)
    assert torch.isfinite(got).all()
    # and without a mask
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-10, rtol=1e-10)


def test_attention_equals_torch_multihead_attention(gen):
    torch.manual_seed(1)
    theirs = nn.MultiheadAttention(D, H, batch_first=True).double()
    ours = MultiHeadSelfAttention(D, H).double()
    with torch.no_grad():
        ours.in_proj.weight.copy_(theirs.in_proj_weight)
        ours.in_proj.bias.copy_(torch.randn(3 * D, generator=gen, dtype=torch.float64))
        theirs.in_proj_bias.copy_(ours.in_proj.bias)
        ours.out_proj.load_state_dict(theirs.out_proj.state_dict())
    x, pad = padded_input(gen)
    out, w = ours(x, pad, return_weights=True)
    out_t, w_t = theirs(x, x, x, key_padding_mask=pad, average_attn_weights=False)
    torch.testing.assert_close(out[~pad], out_t[~pad], atol=1e-10, rtol=1e-10)
    assert torch.isfinite(out).all()
    assert (w.masked_select(pad[:, None, None, :].expand_as(w)) == 0).all()   # padded keys get weight 0
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))


def test_padded_query_rows_do_not_affect_real_tokens(gen):
    attn = MultiHeadSelfAttention(D, H).double()
    x, pad = padded_input(gen)
    x2 = x.clone()
    x2[pad] = 1e3 * torch.randn(int(pad.sum()), D, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(attn(x, pad)[~pad], attn(x2, pad)[~pad], atol=1e-12, rtol=0)


def model(norm, norm_position="post", **kw):
    torch.manual_seed(0)
    return TransformerEncoder(vocab_size=8, n_classes=4, d_model=D, n_heads=H, d_ff=F, n_layers=2,
                              max_len=20, norm_position=norm_position, norm=norm, **kw).double()


def sentence_logits(m, batch, i):
    tokens, pad, _ = batch
    return m(tokens, pad)[i][~pad[i]]


@pytest.mark.parametrize("norm", ["layer", "rms", "masked_batch", "none", "dyt"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_padding_and_companion_independence(norm, mode):
    task = TokenTask(vocab_size=8, min_len=3, max_len=12)
    g = torch.Generator().manual_seed(5)
    m = model(norm)
    m.train(mode == "train")
    a = task.sample(6, g)
    b = task.sample(6, g, pad_to=18)   # other companions, more padding
    # put sentence 0 of batch a into batch b (padded to b's length)
    tokens_b, pad_b, labels_b = (t.clone() for t in b)
    L = int((~a.key_padding_mask[0]).sum())
    tokens_b[0] = 0
    tokens_b[0, :L] = a.tokens[0, :L]
    pad_b[0] = True
    pad_b[0, :L] = False
    ours = sentence_logits(m, a, 0)
    with torch.no_grad():
        theirs = m(tokens_b, pad_b)[0, :L]
    if norm == "masked_batch" and mode == "train":
        # masked batch norm ignores padding but still shares statistics with the companions
        assert (ours - theirs).abs().max() > 1e-6
        # ... and with the same companions, more padding changes nothing
        tokens_w = torch.cat([a.tokens, torch.zeros(6, 5, dtype=torch.long)], 1)
        pad_w = torch.cat([a.key_padding_mask, torch.ones(6, 5, dtype=torch.bool)], 1)
        torch.testing.assert_close(m(tokens_w, pad_w)[:, :a.tokens.shape[1]][~a.key_padding_mask],
                                   m(a.tokens, a.key_padding_mask)[~a.key_padding_mask], atol=1e-10, rtol=0)
    else:
        torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=1e-10)


def test_batch_norm_depends_on_padding_in_training_mode():
    task = TokenTask(vocab_size=8, min_len=3, max_len=12)
    a = task.sample(6, torch.Generator().manual_seed(5))
    m = model("batch")
    m.train()
    base = m(a.tokens, a.key_padding_mask)[~a.key_padding_mask]
    tokens_w = torch.cat([a.tokens, torch.zeros(6, 5, dtype=torch.long)], 1)
    pad_w = torch.cat([a.key_padding_mask, torch.ones(6, 5, dtype=torch.bool)], 1)
    wider = m(tokens_w, pad_w)[:, :a.tokens.shape[1]][~a.key_padding_mask]
    assert (base - wider).abs().max() > 1e-3    # only padding was added
    m.eval()
    base = m(a.tokens, a.key_padding_mask)[~a.key_padding_mask]
    wider = m(tokens_w, pad_w)[:, :a.tokens.shape[1]][~a.key_padding_mask]
    torch.testing.assert_close(base, wider, atol=1e-10, rtol=0)   # running statistics: per token


def test_token_batch_norm_is_batchnorm1d_over_tokens(gen):
    x, _ = padded_input(gen)
    ours = make_norm("batch", D).double()
    ref = nn.BatchNorm1d(D).double()
    torch.testing.assert_close(ours(x), ref(x.reshape(-1, D)).reshape(x.shape), atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ours.running_var, ref.running_var, atol=1e-12, rtol=0)


def test_masked_batch_norm_zero_at_padding(gen):
    x, pad = padded_input(gen)
    m = model("masked_batch")
    from normres.transformer import apply_norm
    y = apply_norm(m.blocks[0].norm1, x, pad)
    assert (y[pad] == 0).all()


def test_rezero_block_is_identity_at_init(gen):
    block = TransformerBlock(D, H, F, norm_position="rezero").double()
    assert block.resweight.item() == 0.0
    x, pad = padded_input(gen)
    torch.testing.assert_close(block(x, pad), x, atol=0, rtol=0)
    J = torch.autograd.functional.jacobian(lambda z: block(z), x[:1, :3])
    torch.testing.assert_close(J.reshape(3 * D, 3 * D), torch.eye(3 * D, dtype=torch.float64))
    with pytest.raises(ValueError, match="norm"):
        TransformerBlock(D, H, F, norm_position="rezero", norm="layer")


def test_deepnorm_constants_and_init(gen):
    a, b = deepnorm_constants(6)
    assert a == pytest.approx(12 ** 0.25) and b == pytest.approx(48 ** -0.25)
    torch.manual_seed(0)
    m1 = TransformerEncoder(8, 4, D, H, F, 6, 20, norm_position="deepnorm", deepnorm_init=False)
    torch.manual_seed(0)
    m2 = TransformerEncoder(8, 4, D, H, F, 6, 20, norm_position="deepnorm")
    blk1, blk2 = m1.blocks[0], m2.blocks[0]
    assert blk2.deepnorm_alpha == pytest.approx(a)
    torch.testing.assert_close(blk2.ffn.linear1.weight, b * blk1.ffn.linear1.weight)
    torch.testing.assert_close(blk2.self_attn.in_proj.weight[2 * D:], b * blk1.self_attn.in_proj.weight[2 * D:])
    torch.testing.assert_close(blk2.self_attn.in_proj.weight[:2 * D], blk1.self_attn.in_proj.weight[:2 * D])
    torch.testing.assert_close(blk2.self_attn.out_proj.weight, b * blk1.self_attn.out_proj.weight)
    # the block computes LN(alpha x + F(x))
    x, pad = padded_input(gen, dtype=torch.float32)
    h = blk2.norm1(a * x + blk2.self_attn(x, pad))
    expected = blk2.norm2(a * h + blk2.ffn(h))
    torch.testing.assert_close(blk2(x, pad), expected)
    with pytest.raises(ValueError, match="deepnorm_alpha"):
        TransformerBlock(D, H, F, norm_position="deepnorm")
    with pytest.raises(ValueError, match="deepnorm_alpha"):
        TransformerBlock(D, H, F, norm_position="post", deepnorm_alpha=2.0)
    with pytest.raises(ValueError, match="TransformerBlock"):
        deepnorm_init_(nn.Linear(3, 3), 4)


def test_xavier_init():
    torch.manual_seed(0)
    m = TransformerEncoder(8, 4, 64, 4, 256, 2, 20, init="xavier")
    lin = m.blocks[0].ffn.linear1
    assert (lin.bias == 0).all()
    assert lin.weight.std().item() == pytest.approx((2 / (64 + 256)) ** 0.5, rel=0.1)
    q = m.blocks[0].self_attn.in_proj.weight[:64]
    assert q.std().item() == pytest.approx((2 / 128) ** 0.5, rel=0.1)
    torch.manual_seed(0)
    m2 = TransformerEncoder(8, 4, 64, 4, 256, 2, 20, init="torch")
    assert not (m2.blocks[0].ffn.linear1.bias == 0).all()


@pytest.mark.parametrize("norm_position", ["post", "pre", "rezero", "deepnorm"])
@pytest.mark.parametrize("norm", list(NORM_KINDS))
def test_shapes_and_gradients_flow(norm_position, norm):
    if norm_position == "rezero" and norm != "none":
        pytest.skip("rezero has no norm")
    torch.manual_seed(0)
    m = TransformerEncoder(8, 5, D, H, F, 2, 20, norm_position=norm_position, norm=norm)
    batch = TokenTask(vocab_size=8).sample(4, torch.Generator().manual_seed(0))
    logits = m(batch.tokens, batch.key_padding_mask)
    assert logits.shape == (*batch.tokens.shape, 5)
    assert torch.isfinite(logits).all()
    logits[~batch.key_padding_mask].sum().backward()
    grads = [p.grad for n, p in m.named_parameters() if p.requires_grad and "tok_emb" not in n]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    ffn_grad = m.blocks[0].ffn.linear1.weight.grad
    if norm_position != "rezero":    # ReZero's resweight is 0 at init, so its sublayers get no gradient
        assert ffn_grad.abs().sum() > 0
    else:
        assert m.blocks[0].resweight.grad.abs().sum() > 0
    hs = m.residual_stream(batch.tokens, batch.key_padding_mask)
    assert len(hs) == 3 and all(h.shape == (*batch.tokens.shape, D) for h in hs)


def test_final_norm_defaults():
    assert isinstance(TransformerEncoder(8, 4, D, H, F, 2, 20, norm_position="pre").final_norm, N.LayerNorm)
    assert isinstance(TransformerEncoder(8, 4, D, H, F, 2, 20, norm_position="post").final_norm, nn.Identity)
    assert isinstance(TransformerEncoder(8, 4, D, H, F, 2, 20, norm_position="pre",
                                         final_norm=False).final_norm, nn.Identity)
    assert isinstance(make_norm("dyt", D), N.DynamicTanh)
    assert isinstance(make_norm("masked_batch", D), N.MaskedBatchNorm1d)
    assert isinstance(make_norm("none", D), nn.Identity)


def test_feedforward(gen):
    ff = FeedForward(D, F, activation="gelu").double()
    x = torch.randn(2, 3, D, generator=gen, dtype=torch.float64)
    expected = ff.linear2(nn.functional.gelu(ff.linear1(x)))
    torch.testing.assert_close(ff(x), expected)


def test_dynamic_tanh(gen):
    from normres.nn.dyt import DynamicTanh
    dyt = DynamicTanh(D)
    assert dyt.alpha.item() == 0.5
    x = torch.randn(2, 3, D, generator=gen)
    with torch.no_grad():
        dyt.weight.copy_(torch.randn(D, generator=gen))
        dyt.bias.copy_(torch.randn(D, generator=gen))
    torch.testing.assert_close(dyt(x), dyt.weight * torch.tanh(0.5 * x) + dyt.bias)
    assert [n for n, _ in dyt.named_parameters()] == ["alpha", "weight", "bias"]
    assert DynamicTanh(D, elementwise_affine=False).weight is None
    with pytest.raises(ValueError, match="alpha_init_value"):
        DynamicTanh(D, alpha_init_value=0.0)
    with pytest.raises(ValueError, match="normalized_shape"):
        dyt(torch.randn(2, D + 1))


@pytest.mark.parametrize("make, match", [
    (lambda: MultiHeadSelfAttention(10, 3), "n_heads must divide d_model"),
    (lambda: MultiHeadSelfAttention(0, 1), "d_model"),
    (lambda: FeedForward(D, F, activation="tanh"), "activation"),
    (lambda: TransformerBlock(D, H, F, norm_position="middle"), "norm_position"),
    (lambda: TransformerBlock(D, H, F, norm="group"), "norm"),
    (lambda: TransformerEncoder(8, 4, D, H, F, 2, 20, init="orthogonal"), "init"),
    (lambda: TransformerEncoder(8, 4, D, H, F, 2, 20, positions="rotary"), "positions"),
    (lambda: TransformerEncoder(8, 4, D, H, F, 0, 20), "n_layers"),
    (lambda: make_norm("batch", -1), "d_model"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_forward_arguments():
    m = TransformerEncoder(8, 4, D, H, F, 2, 10)
    tokens = torch.ones(2, 5, dtype=torch.long)
    with pytest.raises(TypeError, match="tokens"):
        m(tokens.float())
    with pytest.raises(ValueError, match="max_len"):
        m(torch.ones(2, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="tokens must hold ids"):
        m(torch.full((2, 5), 8, dtype=torch.long))
    with pytest.raises(TypeError, match="key_padding_mask"):
        m(tokens, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        m(tokens, torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one real token"):
        m(tokens, torch.tensor([[False] * 5, [True] * 5]))
    attn = MultiHeadSelfAttention(D, H)
    with pytest.raises(ValueError, match="x must have shape"):
        attn(torch.randn(2, 5, D + 1))
    with pytest.raises(ValueError, match="copy_from_torch"):
        copy_from_torch(TransformerBlock(D, H, F, norm="rms"), nn.TransformerEncoderLayer(D, H, F))


@pytest.mark.parametrize("norm_position", ["post", "pre"])
def test_bias_false_means_what_torch_means(gen, norm_position):
    """torch's TransformerEncoderLayer(bias=False) drops the linear maps' biases and the layer
    norms' shifts; ours does the same, has the same parameters and computes the same function."""
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(D, H, F, dropout=0.0, batch_first=True, bias=False,
                                        norm_first=norm_position == "pre").double()
    with torch.no_grad():
        for p in theirs.parameters():
            if p.dim() == 1:   # the norms' gains: away from 1, so a missed copy would show
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5 + 1.0)
    ours = TransformerBlock(D, H, F, norm_position=norm_position, bias=False).double()
    assert ours.norm1.bias is None and ours.norm2.bias is None
    assert ours.self_attn.in_proj.bias is None and ours.ffn.linear2.bias is None
    n_ours = sum(p.numel() for p in ours.parameters())
    n_theirs = sum(p.numel() for p in theirs.parameters())
    assert n_ours == n_theirs
    copy_from_torch(ours, theirs)
    x, pad = padded_input(gen)
    theirs.train()
    torch.testing.assert_close(ours(x, pad)[~pad], theirs(x, src_key_padding_mask=pad)[~pad],
                               atol=1e-10, rtol=1e-10)
    with pytest.raises(ValueError, match="disagree on biases"):
        copy_from_torch(TransformerBlock(D, H, F, norm_position=norm_position).double(), theirs)


@pytest.mark.parametrize("norm", ["layer", "batch", "masked_batch", "dyt", "power", "rms", "none"])
def test_bias_false_removes_every_shift(norm):
    m = TransformerEncoder(8, 4, D, H, F, 2, 20, norm_position="pre", norm=norm, bias=False)
    names = [n for n, _ in m.named_parameters()]
    assert not [n for n in names if n.endswith(".bias")], names
    with_bias = TransformerEncoder(8, 4, D, H, F, 2, 20, norm_position="pre", norm=norm)
    if norm in ("layer", "batch", "masked_batch", "dyt", "power"):
        assert with_bias.blocks[0].norm1.bias is not None and with_bias.final_norm.bias is not None
    batch = TokenTask(vocab_size=8).sample(3, torch.Generator().manual_seed(0))
    assert torch.isfinite(m(batch.tokens, batch.key_padding_mask)).all()
    with pytest.raises(ValueError, match="bias=False"):
        make_norm("position_batch", D, bias=False, max_len=8)
    with pytest.raises(TypeError, match="bias"):
        make_norm("layer", D, bias=0)


def test_position_batch_norm_in_the_encoder():
    from normres.nn import PerPositionBatchNorm
    task = TokenTask("above_mean", vocab_size=8, min_len=2, max_len=6)
    torch.manual_seed(0)
    m = TransformerEncoder(8, 2, D, H, F, 1, 12, norm_position="post", norm="position_batch",
                           positions="none")
    assert isinstance(m.blocks[0].norm1, PerPositionBatchNorm) and m.blocks[0].norm1.max_len == 12
    g = torch.Generator().manual_seed(1)
    m.train()
    for _ in range(3):
        b = task.sample(16, g)
        m(b.tokens, b.key_padding_mask)
    tracked = m.blocks[0].norm1.num_batches_tracked
    assert tracked[0] == 3 and tracked[6:].sum() == 0
    m.eval()
    short = task.sample(4, g)
    assert torch.isfinite(m(short.tokens, short.key_padding_mask)).all()
    long = task.sample(4, g, min_len=8, max_len=8)
    with pytest.raises(ValueError, match="no running statistics"):
        m(long.tokens, long.key_padding_mask)
    with pytest.raises(ValueError, match="max_len is required"):
        TransformerBlock(D, H, F, norm="position_batch")
    with pytest.raises(ValueError, match="max_len is only used"):
        TransformerBlock(D, H, F, max_len=8)


def test_power_norm(gen):
    from normres.transformer import PowerNorm
    x, pad = padded_input(gen)
    real = ~pad
    pn = PowerNorm(D, warmup_iters=2).double()
    with torch.no_grad():
        pn.weight.copy_(torch.randn(D, generator=gen, dtype=torch.float64))
        pn.bias.copy_(torch.randn(D, generator=gen, dtype=torch.float64))
    xs = x / torch.sqrt((x * x).mean(-1, keepdim=True) + pn.eps)        # each token's RMS scaling
    psi2 = (xs[real] ** 2).mean(0)
    # warm-up: the batch's quadratic mean over real tokens, no mean subtracted; 0 at padding
    y = pn(x, real)
    torch.testing.assert_close(y[real], (xs / torch.sqrt(psi2 + pn.eps) * pn.weight + pn.bias)[real])
    assert (y[pad] == 0).all()
    torch.testing.assert_close(pn.running_phi, psi2)
    # padding changes nothing, in training mode too
    x2 = x.clone()
    x2[pad] = 1e3
    pn2 = PowerNorm(D, warmup_iters=2).double()
    pn2.load_state_dict({**pn.state_dict(), "iters": torch.tensor(0), "running_phi": torch.ones(D, dtype=torch.float64)})
    torch.testing.assert_close(pn2(x2, real)[real], y[real])
    # after the warm-up the forward pass uses the running value, not the batch's
    pn(x, real)
    phi_before = pn.running_phi.clone()
    y3 = pn(x[:2], real[:2])                                            # step 3 > warmup_iters
    xs2 = xs[:2]
    torch.testing.assert_close(y3[real[:2]], (xs2 / torch.sqrt(phi_before + pn.eps) * pn.weight + pn.bias)[real[:2]])
    # the approximate backward: dL/dx_hat = (g - (1 - alpha_bkw) * ema_gz * z) / psi_B
    pn.group_scaling = False                   # feed x_hat directly, so the grad is dL/dx_hat
    xs_leaf = xs[:2].clone().requires_grad_(True)
    gz_before, phi_pre = pn.ema_gz.clone(), pn.running_phi.clone()
    out = pn(xs_leaf, real[:2])
    w = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (out * w).sum().backward()
    z = xs[:2] / torch.sqrt(phi_pre + pn.eps)
    psi_b = torch.sqrt((xs[:2][real[:2]] ** 2).mean(0) + pn.eps)
    g = w * pn.weight * real[:2].unsqueeze(-1)
    expected = (g - (1 - pn.alpha_bkw) * gz_before * z) / psi_b
    torch.testing.assert_close(xs_leaf.grad, expected)
    approx = (g - (1 - pn.alpha_bkw) * gz_before * z)[real[:2]]
    torch.testing.assert_close(pn.ema_gz, gz_before + (approx * z[real[:2]]).mean(0))
    # evaluation: the running value, per token
    pn.eval()
    torch.testing.assert_close(pn(xs[:1], real[:1])[real[:1]],
                               (xs[:1] / torch.sqrt(pn.running_phi + pn.eps) * pn.weight + pn.bias)[real[:1]])
    with pytest.raises(ValueError, match="alpha_fwd"):
        PowerNorm(D, alpha_fwd=1.0)
    with pytest.raises(ValueError, match="warmup_iters"):
        PowerNorm(D, warmup_iters=-1)

