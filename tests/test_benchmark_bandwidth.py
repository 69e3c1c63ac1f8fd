"""normres.probes.benchmark: RecordBytes (bytes each operator moves) and bytes_per_second."""

import pytest
import torch
import torch.nn.functional as F

from normres import functional as NF
from normres.probes.benchmark import RecordBytes, RecordOps, bytes_per_second


def test_clone_reads_and_writes_the_tensor_once():
    x = torch.randn(64, 32)
    with RecordBytes() as rec:
        x.clone()
    assert rec.ops == [("clone", x.nbytes, x.nbytes)]
    assert rec.read == rec.written == x.nbytes and rec.total == 2 * x.nbytes


def test_views_move_nothing():
    x = torch.randn(8, 6)
    with RecordBytes() as rec:
        x.view(6, 8)
        x.t()
        x[:, :3]
    assert rec.ops and all(r == w == 0 for _, r, w in rec.ops)


def test_fused_layer_norm_moves_about_a_copy_and_ours_several():
    x = torch.randn(256, 128)
    w, b = torch.ones(128), torch.zeros(128)
    with torch.no_grad(), RecordBytes() as fused:
        F.layer_norm(x, (128,), w, b)
    with torch.no_grad(), RecordBytes() as ours:
        NF.layer_norm(x, (128,), w, b)
    assert 2 * x.nbytes <= fused.total <= 1.1 * 2 * x.nbytes
    assert ours.total >= 3 * fused.total


def test_list_arguments_are_counted():
    a, b = torch.randn(10), torch.randn(5)
    with RecordBytes() as rec:
        torch.cat([a, b])
    name, read, written = rec.ops[0]
    assert name == "cat" and read == a.nbytes + b.nbytes and written == 15 * 4


def test_records_alongside_recordops():
    x = torch.randn(4, 4)
    with RecordOps() as ops, RecordBytes() as moved:
        (x * 2).sum()
    assert [n for n, _ in ops.ops] == [n for n, _, _ in moved.ops] == ["mul", "sum"]


def test_empty_record():
    with RecordBytes() as rec:
        pass
    assert rec.ops == [] and rec.total == 0


def test_bytes_per_second():
    assert bytes_per_second(1000, 0.5) == 2000.0
    with pytest.raises(ValueError, match="nbytes"):
        bytes_per_second(0, 1.0)
    with pytest.raises(ValueError, match="seconds"):
        bytes_per_second(10, 0.0)
    with pytest.raises(ValueError, match="seconds"):
        bytes_per_second(10, True)
