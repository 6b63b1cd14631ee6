"""The constriction engine (nc_core.constriction_coders) and the coder API helpers, with
both shipped coders. What every coder must do is the conformance suite
(:mod:`nc_core.testing`), which nc-ans and nc-arith run from their own tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nc_core.coders import bytes_to_words, decode_all, encode_all, is_stack, words_to_bytes
from nc_core.coding import (
    Categorical,
    IndexedTables,
    QuantizedGaussian,
    closed_categorical,
    edge_merge,
    edge_split,
    information_bits,
    overflow_digits,
    overflow_from_digits,
)
from nc_core.testing import require

nc_ans = require("nc_ans")
nc_arith = require("nc_arith")

CODERS = [
    pytest.param(nc_ans.AnsCoder(), id="ans"),
    pytest.param(nc_arith.RangeCoder(), id="range"),
]
BIG = 1 << 62


@pytest.mark.parametrize("coder", CODERS)
def test_family_not_declared_by_coder(coder):
    class Narrow(type(coder)):
        name = "narrow-" + coder.name
        families = frozenset({"gaussian"})

    with pytest.raises(TypeError, match=r"narrow.*'tables'"):
        encode_all(
            Narrow(), [(np.zeros(2, np.int64), IndexedTables(np.ones((1, 2)), [0], [2], [0, 0]))]
        )





@pytest.mark.parametrize("coder", CODERS)
def test_wrong_length_bytes(coder):
    dist = Categorical(np.ones(4), shape=(2,))
    for data in (b"\x01", b"\x01\x02\x03\x04\x05", b"abcdefg"):
        with pytest.raises(ValueError, match="32-bit words"):
            decode_all(coder, data, [dist])







def test_words_bytes():
    w = np.array([1, 0xDEADBEEF, 0], dtype=np.uint32)
    b = words_to_bytes(w)
    assert b == b"\x01\x00\x00\x00\xef\xbe\xad\xde\x00\x00\x00\x00"
    np.testing.assert_array_equal(bytes_to_words(b), w)
    assert bytes_to_words(b"").dtype == np.uint32
    assert words_to_bytes([1, 0xDEADBEEF]) == b"\x01\x00\x00\x00\xef\xbe\xad\xde"  # any integers: 32-bit LE
    with pytest.raises(ValueError):
        bytes_to_words(b"\x00" * 6)


class _Order:
    def __init__(self, order):
        self.name, self.order, self.log = "fake", order, []

    def encoder(self):
        log = self.log

        class E:
            def encode(self, x, dist):
                log.append(dist)

            def finish(self):
                return b""

        return E()


def test_encode_all_order():
    stack, queue = _Order("stack"), _Order("queue")
    encode_all(stack, [(None, "a"), (None, "b"), (None, "c")])
    encode_all(queue, [(None, "a"), (None, "b"), (None, "c")])
    assert stack.log == ["c", "b", "a"] and queue.log == ["a", "b", "c"]
    with pytest.raises(ValueError) as caught:
        encode_all(_Order("lifo"), [])
    assert str(caught.value) == "coder 'fake' has invalid order 'lifo'"
    nameless = object()
    with pytest.raises(ValueError) as caught:
        is_stack(nameless)  # no order at all: the same one line, naming the object
    assert str(caught.value) == f"coder {nameless!r} has invalid order None"


@settings(max_examples=200, deadline=None)
@given(
    x=st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=20),
    lo=st.integers(-100, 100),
    k=st.integers(2, 50),
)
def test_edge_split_merge_full_int64_range(x, lo, k):
    x = np.array(x, dtype=np.int64)
    hi = lo + k - 1
    clipped, mags = edge_split(x, lo, hi)
    counts, chunks = overflow_digits(mags)
    back = edge_merge(clipped, lo, hi, overflow_from_digits(counts, chunks))
    np.testing.assert_array_equal(back, x)
    assert mags.dtype == np.uint64 and mags.shape == (len(counts),)


def test_edge_split_and_merge_take_any_layout_and_integer_type():
    x = np.array([[-7, 0], [3, 9]])
    clipped, mags = edge_split(x, -2, 5)
    assert clipped.tolist() == [[-2, 0], [3, 5]] and mags.tolist() == [5, 4] and mags.shape == (2,)
    for magnitudes in ([[5], [4]], np.array([5, 4], dtype=np.int64), np.array([5, 4], dtype=np.uint8)):
        assert edge_merge(clipped, -2, 5, magnitudes).tolist() == x.tolist()
    wide = np.array([-(2**63), 2**63 - 1])  # magnitudes beyond int64 from python ints
    clipped, mags = edge_split(wide, 0, 1)
    assert edge_merge(clipped, 0, 1, [int(m) for m in mags]).tolist() == wide.tolist()


def test_information_bits_upper_tail_is_finite():
    d = QuantizedGaussian([0.0, 0.0], [1.0, 1.0], -100, 100)
    bits = information_bits(np.array([-30, 30]), d)
    assert np.isfinite(bits) and bits > 400



def test_stack_errors():
    with pytest.raises(TypeError, match="stack coder"):
        nc_arith.RangeCoder().stack()
    coder = nc_ans.AnsCoder()
    stack = coder.stack()
    stack.push(np.array([1, 2, 3]), Categorical(np.array([0.2, 0.3, 0.2, 0.3]), 0, shape=(3,)))
    with pytest.raises(ValueError, match="check word|left"):
        stack.close()  # the pushed symbols are still on it
    with pytest.raises(ValueError, match="finished"):
        stack.num_bits()
    with pytest.raises(ValueError, match="whole number of 32-bit words"):
        coder.stack(b"abc")
    with pytest.raises(TypeError, match="only closed categorical"):
        coder.stack().sample(QuantizedGaussian([0.0], [1.0], -5, 5))
    with pytest.raises(TypeError, match="only closed categorical"):
        coder.stack().sample(Categorical(np.tile([0.5, 0.5], (64, 1)), 0))
    with pytest.raises(ValueError, match="outside the closed categorical range"):
        coder.stack().push(np.array([3]), closed_categorical(np.ones(3), 0, shape=(1,)))
