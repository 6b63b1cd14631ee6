"""Bits-back chains: exact round trips for any data, scheme and model shape; honest sizes;
clear failures on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nc_ans import AnsCoder
from nc_arith import RangeCoder
from nc_bitsback.buckets import Buckets
from nc_bitsback.codec import BitsBackCodec
from nc_bitsback.schemes import SCHEMES
from nc_core.coding import information_bits
from nc_core.container import ContainerError
from nc_core.exact import to_fixed

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_codec(levels=1, latents=(6,), scheme="bb-ans", precision=8, shape=(1, 4, 5), seed=0, **kw):
    torch.manual_seed(seed)
    likelihood = "bernoulli" if levels == 1 else "logistic"
    return BitsBackCodec(AnsCoder(), list(shape), levels, list(latents), 16, likelihood, scheme, precision,
                         **kw).eval()


@st.composite
def chains(draw):
    levels = draw(st.sampled_from([1, 255]))
    shape = (1, draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    n = draw(st.integers(0, 6))
    values = draw(st.lists(st.integers(0, levels), min_size=n * int(np.prod(shape)),
                           max_size=n * int(np.prod(shape))))
    items = np.array(values, dtype=np.int64).reshape(n, *shape)
    latents = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    return items, dict(levels=levels, shape=shape, latents=latents, scheme=draw(st.sampled_from(SCHEMES)),
                       precision=draw(st.integers(2, 12)), seed=draw(st.integers(0, 3)),
                       initial_bits=draw(st.sampled_from(["auto", 0, 40])),
                       classical_items=draw(st.integers(0, 2)))


@SETTINGS
@given(chain=chains())
def test_any_chain_round_trips_exactly(chain):
    items, kw = chain
    codec = make_codec(**kw)
    data = codec.compress_set(items)
    np.testing.assert_array_equal(codec.decompress_set(data), items)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_stack_growth_is_the_information_content(scheme):
    """Each item grows the message by -log P(x|z) - log P(z) (+ log Q(z) back) of what was
    coded, to within the coder's 24-bit table precision."""
    codec = make_codec(levels=1, latents=(6, 3), scheme=scheme, precision=10, shape=(1, 8, 8))
    items = np.random.default_rng(0).integers(0, 2, (12, 1, 8, 8))

    class Counting:
        def __init__(self, stack):
            self.stack, self.bits = stack, 0.0

        def push(self, x, dist):
            self.bits += information_bits(x, dist)
            self.stack.push(x, dist)

        def sample(self, dist):
            z = self.stack.sample(dist)
            self.bits -= information_bits(z, dist)
            return z

    stack = codec.coder.stack()
    stack.push(codec._random_words(64), codec._digits(128, 16))
    counting, start = Counting(stack), stack.num_bits()
    with torch.no_grad():
        for x in items.reshape(12, -1):
            codec.items.push(counting, x)
    growth = stack.num_bits() - start
    assert abs(growth - counting.bits) < 0.002 * counting.bits + 64


def test_bit_swap_needs_fewer_initial_bits_than_bb_ans_on_a_hierarchy():
    items = np.random.default_rng(1).integers(0, 2, (3, 1, 6, 6))
    sizes = {}
    for scheme in ("bb-ans", "bit-swap"):
        codec = make_codec(latents=(12, 12, 12), scheme=scheme, precision=12, shape=(1, 6, 6))
        trace = []
        codec.compress_set(items, trace)
        sizes[scheme] = trace[0]
    assert sizes["bit-swap"] < sizes["bb-ans"]


def test_classical_items_supply_the_initial_bits():
    items = np.random.default_rng(2).integers(0, 2, (5, 1, 4, 5))
    codec = make_codec(classical_items=2)
    payload = codec.encode_set(items)
    n, words, k, nbytes = payload.header
    assert (n, k) == (5, 2) and nbytes > 0
    np.testing.assert_array_equal(codec.decode_set(payload), items)


def test_buckets_are_equal_mass_and_rows_are_normalised():
    b = Buckets(8)
    assert b.size == 256 and np.isinf(b.edges[0]) and np.isinf(b.edges[-1])
    rows = b.gaussian(np.array([0.0, 2.5, -7.0]), np.array([1.0, 0.01, 0.3])).probs
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(rows[0], 1 / 256, atol=1e-9)  # N(0, 1) itself: uniform
    assert rows[2].argmax() == 0  # far below every edge: the lowest bucket
    assert b.index(b.centres).tolist() == list(range(256))


def test_pixel_costs_in_training_and_coding_agree_even_for_outliers():
    """A sharp pixel distribution far from the data: the float likelihood the model trains on
    and reports, and the coder's closed tables, price every value the same (the uniform floor
    keeps outliers near 20 bits, inside the coder's 24-bit precision)."""
    codec = make_codec(levels=255, shape=(1, 2, 2))
    last = codec.model.conditionals[0].net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-0.5, -0.5, 128 / 255 - 0.5, 0.5, -9.0, -9.0, -9.0, -9.0]))  # means 0, 0, 128, 255
    z = torch.zeros(1, 6)
    x = torch.tensor([[0, 255, 128, 0]])
    float_bits = -codec.model._log_likelihood(x, codec.model.conditionals[0](z), coding=True) / np.log(2)
    table = codec.model.likelihood_distribution(to_fixed(z))
    table_bits = -np.log2(table.probabilities(x.numpy())).sum()
    assert float_bits.item() == pytest.approx(table_bits, rel=1e-6)
    assert 2 * 20 < table_bits < 2 * 20 + 0.1  # two outliers at the floor, two pixels nearly free


def test_bad_input_is_a_clear_error():
    codec = make_codec()
    with pytest.raises(ValueError, match="item shape"):
        codec.compress_set(np.zeros((2, 1, 3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="0..1"):
        codec.compress_set(np.full((1, 1, 4, 5), 2))
    with pytest.raises(ValueError, match="integers"):
        codec.compress_set(np.zeros((1, 1, 4, 5)))
    with pytest.raises(ValueError, match="stack coder"):
        BitsBackCodec(RangeCoder(), [1, 4, 5], 1, [4], 8, "bernoulli")
    with pytest.raises(ValueError, match="scheme"):
        make_codec(scheme="bits-forward")
    with pytest.raises(ValueError, match="bernoulli"):
        BitsBackCodec(AnsCoder(), [1, 4, 5], 255, [4], 8, "bernoulli")


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_damaged_chain_fails_cleanly(damage):
    items = np.random.default_rng(3).integers(0, 2, (8, 1, 4, 5))
    codec = make_codec(latents=(4, 3), scheme="bit-swap")
    data = bytearray(codec.compress_set(items))
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x10
    else:
        codec = make_codec(latents=(4, 3), scheme="bit-swap", seed=1)  # other weights
    with pytest.raises(ContainerError):
        codec.decompress_set(bytes(data))
