"""nc-ans: the ``ans`` coder (properties shared by both coders:
tests/test_coders_common.py)."""

from __future__ import annotations

import constriction
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nc_ans import AnsCoder
from nc_core.coders import bytes_to_words, decode_all, encode_all
from nc_core.coding import (
    FAMILIES,
    Categorical,
    IndexedTables,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
)
from nc_core.constriction_coders import CHECK_WORD
from nc_core.contracts import Coder
from nc_core.plugins import Registry, entry_point_sources


def test_registered_through_entry_point():
    registry = Registry([s for s in entry_point_sources() if s.name == "ans"])
    assert registry.get("coder", "ans") is AnsCoder
    assert registry.owner("coder", "ans").distribution == "nc-ans"


def test_contract():
    assert issubclass(AnsCoder, Coder)
    assert (AnsCoder.name, AnsCoder.kind, AnsCoder.order) == ("ans", "coder", "stack")
    assert AnsCoder.families == frozenset(FAMILIES)


def test_stream_is_plain_constriction_ans():
    """The bytes are constriction's AnsCoder words: the symbols, then the check word."""
    rng = np.random.default_rng(0)
    loc, scale = rng.normal(0, 4, 500), np.exp(rng.uniform(-1, 2, 500))
    x = np.clip(np.round(rng.normal(loc, scale)), -49, 49).astype(np.int64)
    data = encode_all(AnsCoder(), [(x, QuantizedGaussian(loc, scale, -50, 50))])
    ans = constriction.stream.stack.AnsCoder(bytes_to_words(data))
    model = constriction.stream.model
    np.testing.assert_array_equal(ans.decode(model.QuantizedGaussian(-50, 50), loc, scale), x)
    np.testing.assert_array_equal(ans.decode(model.Uniform(1 << 16), 2), CHECK_WORD)
    assert ans.is_empty()


def test_last_encoded_is_first_decoded():
    a, b = Categorical(np.ones(5), shape=(3,)), QuantizedLaplace(np.zeros(2), np.ones(2), -9, 9)
    enc = AnsCoder().encoder()
    enc.encode(np.array([0, 1, 4]), a)
    enc.encode(np.array([-100, 3]), b)
    dec = AnsCoder().decoder(enc.finish())
    np.testing.assert_array_equal(dec.decode(b), [-100, 3])
    np.testing.assert_array_equal(dec.decode(a), [0, 1, 4])
    dec.finish()


def _pairs(seed: int, n: int):
    rng = np.random.default_rng(seed)
    loc, scale = rng.normal(0, 30, n), np.exp(rng.uniform(-3, 6, n))
    x = np.round(rng.logistic(loc, scale)).astype(np.int64)
    x[rng.random(n) < 0.05] = rng.integers(-(1 << 62), 1 << 62)
    lo = int(rng.integers(-400, 400))
    hi = lo + int(rng.integers(1, 300))
    t = int(rng.integers(1, 6))
    pmfs = rng.random((t, 8)) * (rng.random((t, 8)) < 0.8)
    index = rng.integers(0, t, n)
    return [
        (x, QuantizedGaussian(loc, scale, lo, hi)),
        (x, QuantizedLaplace(loc, scale, -(1 << 20), 1 << 20)),
        (x, QuantizedLogistic(loc, scale, lo, hi)),
        (x, Categorical(rng.random((n, 7)), offset=int(lo))),
        (x, IndexedTables(pmfs, rng.integers(-5, 5, t), rng.integers(2, 9, t), index)),
    ]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 60),
    picks=st.lists(st.integers(0, 4), max_size=6),
)
def test_roundtrip_mixed_families(seed, n, picks):
    pairs = _pairs(seed, n)
    chosen = [pairs[i] for i in picks]
    out = decode_all(AnsCoder(), encode_all(AnsCoder(), chosen), [d for _, d in chosen])
    for (x, _), y in zip(chosen, out, strict=True):
        np.testing.assert_array_equal(y, x)


def test_bad_streams_raise_value_error():
    pairs = _pairs(1, 400)
    data = encode_all(AnsCoder(), pairs)
    dists = [d for _, d in pairs]
    for bad in (
        data[:-4],
        data[: len(data) // 2],
        b"",
        data + b"\x01\x00\x00\x00",
        b"\x00" * 4,
        data[:-1],
    ):
        with pytest.raises(ValueError):
            decode_all(AnsCoder(), bad, dists)
