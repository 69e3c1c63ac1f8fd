"""normres.probes.benchmark: operator records, call counts and argument checks (no test here depends on
how fast anything is)."""

import pytest
import torch

from normres.probes.benchmark import RecordOps, best_time, compare


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def test_best_time_calls_warmup_plus_repeats_and_returns_seconds():
    fn = Counter()
    t = best_time(fn, warmup=2, repeats=5)
    assert fn.calls == 7
    assert isinstance(t, float) and t >= 0


def test_compare_interleaves_rounds_and_keeps_order():
    a, b = Counter(), Counter()
    result = compare({"a": a, "b": b}, rounds=3, warmup=1, repeats=2)
    assert list(result) == ["a", "b"]
    assert a.calls == b.calls == 3 * (1 + 2)
    assert all(v >= 0 for v in result.values())


@pytest.mark.parametrize("kwargs, word", [
    ({"repeats": 0}, "repeats"), ({"warmup": -1}, "warmup"), ({"repeats": 2.5}, "repeats"),
])
def test_best_time_rejects_bad_counts(kwargs, word):
    with pytest.raises(ValueError, match=word):
        best_time(Counter(), **kwargs)


def test_bad_functions_are_named():
    with pytest.raises(TypeError, match="fn must be callable"):
        best_time(42)
    with pytest.raises(ValueError, match="fns"):
        compare({})
    with pytest.raises(ValueError, match="rounds"):
        compare({"a": Counter()}, rounds=0)


def test_record_ops_lists_operators_and_result_sizes():
    x = torch.randn(4, 8)
    with RecordOps() as rec:
        y = (x * 2).sum(dim=1)
    assert [name for name, _ in rec.ops] == ["mul", "sum"]
    assert [numel for _, numel in rec.ops] == [32, 4]
    assert torch.equal(y, (x * 2).sum(dim=1))       # the recorded call still computes


def test_record_ops_sees_layer_norm_as_one_kernel():
    x = torch.randn(2, 3, 5)
    with torch.no_grad(), RecordOps() as rec:
        torch.nn.functional.layer_norm(x, (5,))
    assert [name for name, _ in rec.ops] == ["native_layer_norm"]
    assert rec.ops[0][1] == x.numel()
