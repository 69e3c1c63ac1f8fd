"""normres.transformer.task and training: labels by brute force, padding conventions,
reproducibility from a seeded generator, bad arguments; the tagger trains."""

import pytest
import torch

import normres
from normres.transformer import (IGNORE_INDEX, PAD_ID, TokenTask, TransformerEncoder, evaluate_tagger,
                                 train_tagger, warmup_factor)


def brute_labels(kind, sentence, max_count):
    s = sentence.tolist()
    if kind == "count":
        return [min(s.count(v), max_count) - 1 for v in s]
    if kind == "above_mean":
        return [int(v > sum(s) / len(s)) for v in s]
    if kind == "sort":
        return sorted(s)
    return s[::-1]


@pytest.mark.parametrize("kind", ["count", "above_mean", "sort", "reverse"])
def test_labels_match_brute_force(kind):
    task = TokenTask(kind, vocab_size=6, min_len=2, max_len=11, max_count=3)
    tokens, pad, labels = task.sample(50, torch.Generator().manual_seed(0))
    assert tokens.dtype == torch.long and pad.dtype == torch.bool and labels.dtype == torch.long
    assert (tokens[pad] == PAD_ID).all() and (labels[pad] == IGNORE_INDEX).all()
    assert (tokens[~pad] >= 1).all() and (tokens[~pad] < 6).all()
    assert tokens.shape[1] == int((~pad).sum(1).max())       # padded to the longest sentence
    for i in range(50):
        L = int((~pad[i]).sum())
        assert not pad[i, :L].any() and pad[i, L:].all()      # right padding
        assert labels[i, :L].tolist() == brute_labels(kind, tokens[i, :L], 3)
    assert (labels[~pad] >= 0).all() and (labels[~pad] < task.n_classes).all()


def test_lengths_vary_and_pad_to():
    task = TokenTask(min_len=3, max_len=9)
    _, pad, _ = task.sample(200, torch.Generator().manual_seed(1), pad_to=12)
    lengths = (~pad).sum(1)
    assert pad.shape[1] == 12
    assert set(lengths.tolist()) == set(range(3, 10))
    _, pad, _ = task.sample(20, torch.Generator().manual_seed(1), min_len=20, max_len=24)
    assert (~pad).sum(1).min() >= 20


def test_seeded_generator_reproduces():
    task = TokenTask("sort")
    a = task.sample(8, torch.Generator().manual_seed(3))
    b = task.sample(8, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    torch.manual_seed(7)
    c = task.sample(8)
    torch.manual_seed(7)
    d = task.sample(8)
    assert all(torch.equal(x, y) for x, y in zip(c, d))


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(kind="copy"), ValueError, "kind"),
    (dict(vocab_size=1), ValueError, "vocab_size"),
    (dict(min_len=5, max_len=4), ValueError, "max_len must be >= min_len"),
    (dict(min_len=0), ValueError, "min_len"),
    (dict(max_count=0), ValueError, "max_count"),
])
def test_bad_task_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        TokenTask(**kwargs)


def test_bad_sample_arguments():
    task = TokenTask(max_len=10)
    with pytest.raises(ValueError, match="batch_size"):
        task.sample(0)
    with pytest.raises(TypeError, match="generator"):
        task.sample(4, generator=3)
    with pytest.raises(ValueError, match="pad_to"):
        task.sample(50, torch.Generator().manual_seed(0), pad_to=5)


def test_warmup_factor():
    assert warmup_factor(1, 0) == 1.0
    assert warmup_factor(5, 10) == 0.5
    assert warmup_factor(20, 10) == 1.0


def test_tagger_learns_count_task_in_a_few_hundred_steps():
    # far above chance after 200 steps (about a second of CPU on one thread)
    normres.seed_everything(0)
    task = TokenTask("count", vocab_size=6, min_len=4, max_len=12, max_count=3)
    m = TransformerEncoder(task.vocab_size, task.n_classes, d_model=32, n_heads=2, d_ff=64, n_layers=1,
                           max_len=12, norm_position="pre", positions="none")
    test = task.sample(256, torch.Generator().manual_seed(99))
    _, acc0 = evaluate_tagger(m, test)
    hist = train_tagger(m, task, steps=200, batch_size=32, lr=3e-3, seed=0)
    _, acc = evaluate_tagger(m, test)
    assert not hist.diverged and len(hist.step_loss) == 200
    assert acc > acc0 + 0.2 and acc > 0.6, (acc0, acc)


def test_train_tagger_reproducible_and_checks():
    task = TokenTask(vocab_size=5, max_len=8)

    def run():
        torch.manual_seed(0)
        m = TransformerEncoder(5, task.n_classes, 16, 2, 32, 1, 8)
        return train_tagger(m, task, steps=5, batch_size=8, lr=1e-3, warmup_steps=3, seed=1).step_loss

    assert run() == run()
    m = TransformerEncoder(5, task.n_classes, 16, 2, 32, 1, 8)
    with pytest.raises(ValueError, match="steps"):
        train_tagger(m, task, steps=0, batch_size=8, lr=1e-3)
    with pytest.raises(ValueError, match="lr"):
        train_tagger(m, task, steps=1, batch_size=8, lr=-1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        train_tagger(m, task, steps=1, batch_size=8, lr=1e-3, warmup_steps=-1)
    with pytest.raises(ValueError, match="optimizer"):
        train_tagger(m, task, steps=1, batch_size=8, lr=1e-3, optimizer="lion")
    with pytest.raises(TypeError, match="task"):
        train_tagger(m, "count", steps=1, batch_size=8, lr=1e-3)


def test_evaluate_in_training_mode_restores_running_stats():
    task = TokenTask(vocab_size=5, max_len=8)
    m = TransformerEncoder(5, task.n_classes, 16, 2, 32, 1, 8, norm="batch", norm_position="post")
    m.eval()
    before = m.blocks[0].norm1.running_mean.clone()
    evaluate_tagger(m, task.sample(8, torch.Generator().manual_seed(0)), training_mode=True)
    assert torch.equal(before, m.blocks[0].norm1.running_mean) and not m.training


def test_select_padded_to_and_concat():
    from normres.transformer import concat_batches
    task = TokenTask(min_len=3, max_len=8)
    a = task.sample(4, torch.Generator().manual_seed(0))
    b = task.sample(3, torch.Generator().manual_seed(1), min_len=9, max_len=12)
    wide = a.padded_to(20)
    assert wide.tokens.shape == (4, 20) and wide.key_padding_mask[:, a.tokens.shape[1]:].all()
    assert (wide.labels[:, a.tokens.shape[1]:] == IGNORE_INDEX).all()
    assert torch.equal(wide.padded_to(a.tokens.shape[1]).tokens, a.tokens)
    with pytest.raises(ValueError, match="length"):
        a.padded_to(2)
    both = concat_batches(a, b)
    assert both.tokens.shape == (7, b.tokens.shape[1])
    assert torch.equal(both.select(slice(4, 7)).tokens, b.tokens)
    assert torch.equal(both.select(0).padded_to(a.tokens.shape[1]).tokens, a.tokens[:1])
    with pytest.raises(TypeError, match="TokenBatch"):
        concat_batches(a.tokens)
