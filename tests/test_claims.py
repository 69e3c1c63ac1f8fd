"""normres.claims: a claim holds or fails with its sentence and numbers, and is logged."""

import json

import pytest
import torch

from normres.claims import claim, margin


def test_claim_returns_nothing_when_it_holds():
    # None, so a claim ending a notebook cell displays nothing
    assert claim("ch.holds", "two exceeds one", 2.0, ">", 1.0) is None
    assert claim("ch.tensor", "a 0-d tensor is a number", torch.tensor(0.5), "<=", 0.5) is None


@pytest.mark.parametrize("value,op,threshold", [(1.0, ">", 1.0), (2.0, "<", 1.0), (float("nan"), "<", 1.0),
                                                (0.5, ">=", 0.6), (0.7, "<=", 0.6)])
def test_false_claim_fails_naming_sentence_and_numbers(value, op, threshold):
    with pytest.raises(AssertionError) as err:
        claim("ch.false", "the sentence as the prose states it", value, op, threshold)
    text = str(err.value)
    assert "ch.false" in text and "the sentence as the prose states it" in text
    assert f"{op} {threshold:.4g}" in text


def test_margin_is_relative_and_signed():
    assert margin(1.1, ">", 1.0) == pytest.approx(0.1)
    assert margin(0.9, ">", 1.0) == pytest.approx(-0.1)
    assert margin(0.5, "<", 1.0) == pytest.approx(0.5)
    assert margin(0.2, ">", 0.0) == pytest.approx(0.2)   # threshold 0: absolute


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(key="nodot"), ValueError, "key"),
    (dict(sentence=" "), ValueError, "sentence"),
    (dict(op="=="), ValueError, "op"),
    (dict(value="1"), TypeError, "value"),
    (dict(threshold=float("inf")), ValueError, "threshold"),
    (dict(scale="log"), ValueError, "scale"),
])
def test_malformed_claims_are_rejected(kwargs, err, match):
    args = dict(key="ch.ok", sentence="s", value=1.0, op=">", threshold=0.0) | kwargs
    with pytest.raises(err, match=match):
        claim(**args)


def test_claims_are_logged_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("NORMRES_CLAIMS_LOG", str(log))
    claim("ch.logged", "logged", 3.0, ">", 2.0)
    with pytest.raises(AssertionError):
        claim("ch.failed", "also logged", 1.0, ">", 2.0)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["key"] for r in rows] == ["ch.logged", "ch.failed"]
    assert rows[0]["held"] is True and rows[1]["held"] is False
    assert rows[0]["margin"] == pytest.approx(0.5)
    claim("ch.gap", "a gap near zero", 1e-8, "<", 0.03, scale="amount")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows[0]["scale"] is None and rows[-1]["scale"] == "amount"
