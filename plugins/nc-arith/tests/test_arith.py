"""nc-arith: the ``range`` coder (what every coder must do: the conformance suite,
nc_core.testing.CoderConformance)."""

from __future__ import annotations

import constriction
import numpy as np

from nc_arith import RangeCoder
from nc_core.coders import bytes_to_words, encode_all
from nc_core.coding import QuantizedGaussian
from nc_core.constriction_coders import CHECK_WORD
from nc_core.plugins import Registry, entry_point_sources
from nc_core.testing import CoderConformance


def test_registered_through_entry_point():
    registry = Registry([s for s in entry_point_sources() if s.name == "arith"])
    assert registry.get("coder", "range") is RangeCoder
    assert registry.owner("coder", "range").distribution == "nc-arith"


def test_stream_is_plain_constriction_range_coding():
    """The bytes are constriction's RangeEncoder words: the symbols, then the check word."""
    rng = np.random.default_rng(0)
    loc, scale = rng.normal(0, 4, 500), np.exp(rng.uniform(-1, 2, 500))
    x = np.clip(np.round(rng.normal(loc, scale)), -49, 49).astype(np.int64)
    data = encode_all(RangeCoder(), [(x, QuantizedGaussian(loc, scale, -50, 50))])
    dec = constriction.stream.queue.RangeDecoder(bytes_to_words(data))
    model = constriction.stream.model
    np.testing.assert_array_equal(dec.decode(model.QuantizedGaussian(-50, 50), loc, scale), x)
    np.testing.assert_array_equal(dec.decode(model.Uniform(1 << 16), 2), CHECK_WORD)
    assert dec.maybe_exhausted()


class TestRangeCoderConformance(CoderConformance):
    coder_class = RangeCoder
