"""``information_bits`` checked two-sided against an independent computation.

The reference computes each symbol's probability from the family's definition in 50-digit
arithmetic (mpmath: the density's CDF over the unit bin, renormalised on ``[lo, hi]``), and the
escape cost from the scheme's definition (module docstring of nc_core.coding): every symbol
that lands on an edge of an open support pays ``log2(OVERFLOW_MAX_CHUNKS + 1)`` bits for its
chunk count, plus ``OVERFLOW_CHUNK_BITS`` bits for each 16-bit chunk of its magnitude beyond
the edge. Both must agree to 1e-9 relative: the results pages' "streams / information content"
ratios divide by this number.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nc_core.coding import (
    OVERFLOW_CHUNK_BITS,
    OVERFLOW_MAX_CHUNKS,
    Categorical,
    IndexedTables,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
    bin_masses,
    closed_categorical,
    information_bits,
)

mpmath.mp.dps = 50

STANDARD_CDF = {
    "gaussian": mpmath.ncdf,
    "laplace": lambda z: mpmath.mpf(0.5) * mpmath.exp(z) if z < 0 else 1 - mpmath.mpf(0.5) * mpmath.exp(-z),
    "logistic": lambda z: 1 / (1 + mpmath.exp(-z)),
}
CONTINUOUS = {"gaussian": QuantizedGaussian, "laplace": QuantizedLaplace, "logistic": QuantizedLogistic}


def escape_bits(symbol: int, lo: int, hi: int) -> float:
    """The escape digits' cost of one symbol: none strictly inside, a chunk count on an edge
    or beyond it, and one 16-bit chunk per 16 bits of the distance beyond the edge."""
    if lo < symbol < hi:
        return 0.0
    magnitude = lo - symbol if symbol <= lo else symbol - hi
    chunks = -(-magnitude.bit_length() // OVERFLOW_CHUNK_BITS)
    return math.log2(OVERFLOW_MAX_CHUNKS + 1) + chunks * OVERFLOW_CHUNK_BITS


def bin_mass(cdf, a, b, loc, scale):
    """Mass of ``[a, b]``; above the centre as a difference of upper tails, which mpmath keeps
    to full relative precision however small (``1 - F`` would round to 0 at 50 digits)."""
    za, zb = (a - loc) / scale, (b - loc) / scale
    return cdf(-za) - cdf(-zb) if za >= 0 else cdf(zb) - cdf(za)


def continuous_bits(family: str, symbols, loc, scale, lo: int, hi: int) -> float:
    cdf, half = STANDARD_CDF[family], mpmath.mpf(0.5)
    total = mpmath.mpf(0)
    for x, m, s in zip(symbols, loc, scale):
        m, s = mpmath.mpf(float(m)), mpmath.mpf(float(s))
        k = min(max(int(x), lo), hi)  # the coded symbol: clipped onto the support
        p = bin_mass(cdf, k - half, k + half, m, s) / bin_mass(cdf, lo - half, hi + half, m, s)
        total += -mpmath.log(p, 2) + escape_bits(int(x), lo, hi)
    return float(total)


def table_bits(symbols, rows, offsets, *, closed: bool = False) -> float:
    """Symbol ``i`` under the probability row ``rows[i]`` over ``offsets[i] ..``."""
    total = mpmath.mpf(0)
    for x, row, offset in zip(symbols, rows, offsets):
        lo, hi = int(offset), int(offset) + len(row) - 1
        k = min(max(int(x), lo), hi)
        p = mpmath.mpf(float(row[k - lo])) / mpmath.fsum(mpmath.mpf(float(v)) for v in row)
        total += -mpmath.log(p, 2) + (0.0 if closed else escape_bits(int(x), lo, hi))
    return float(total)


def symbols_around(rng, lo: int, hi: int, n: int) -> np.ndarray:
    """Interior symbols, both edges, and escapes of every chunk count (1 to 4 chunks)."""
    far = [hi + 1, hi + 40_000, lo - 70_000, hi + (1 << 40), lo - (1 << 62)]
    x = np.concatenate([rng.integers(lo, hi + 1, n), [lo, hi], far])
    return rng.permutation(x).astype(np.int64)


@pytest.mark.parametrize("family", sorted(CONTINUOUS))
def test_continuous_families(family):
    rng = np.random.default_rng(7)
    lo, hi = -20, 24
    x = symbols_around(rng, lo, hi, 120)
    loc = rng.uniform(-6, 6, x.size)
    scale = rng.uniform(0.3, 8, x.size)
    dist = CONTINUOUS[family](loc, scale, lo, hi)
    expected = continuous_bits(family, x, loc, scale, lo, hi)
    assert information_bits(x, dist) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("family", sorted(CONTINUOUS))
def test_continuous_families_far_in_the_tails(family):
    """Symbols many scales from the mean (small probabilities, where a naive 1 - F loses them)."""
    x = np.array([-12, 12, 15, -15, 0], dtype=np.int64)
    loc, scale = np.array([0.3, -0.2, 0.1, 0.4, 0.0]), np.array([1.5, 1.0, 1.2, 1.4, 0.6])
    dist = CONTINUOUS[family](loc, scale, -16, 16)
    expected = continuous_bits(family, x, loc, scale, -16, 16)
    assert information_bits(x, dist) == pytest.approx(expected, rel=1e-9)


def test_categorical_shared_and_per_symbol_tables():
    rng = np.random.default_rng(3)
    probs = rng.uniform(0.01, 1.0, 9)  # not normalised
    x = symbols_around(rng, -4, 4, 80)
    assert information_bits(x, Categorical(probs, -4, x.shape)) == pytest.approx(
        table_bits(x, [probs] * x.size, [-4] * x.size), rel=1e-9)
    rows = rng.uniform(0.01, 1.0, (x.size, 9))
    assert information_bits(x, Categorical(rows, -4)) == pytest.approx(
        table_bits(x, rows, [-4] * x.size), rel=1e-9)


def test_closed_categorical_has_no_escapes():
    rng = np.random.default_rng(4)
    probs = rng.uniform(0.01, 1.0, 6)
    x = np.concatenate([rng.integers(10, 16, 50), [10, 15, 10]]).astype(np.int64)
    expected = table_bits(x, [probs] * x.size, [10] * x.size, closed=True)
    assert information_bits(x, closed_categorical(probs, 10, x.shape)) == pytest.approx(expected, rel=1e-9)
    # the same table open: every edge symbol also pays its chunk count
    edges = int(np.sum((x == 10) | (x == 15)))
    open_bits = information_bits(x, Categorical(probs, 10, x.shape))
    assert open_bits - expected == pytest.approx(edges * math.log2(OVERFLOW_MAX_CHUNKS + 1), rel=1e-9)


def test_indexed_tables():
    rng = np.random.default_rng(5)
    lengths = np.array([5, 12, 3, 8])
    offsets = np.array([-2, -6, 0, -3])
    pmfs = np.zeros((4, 12))
    for t, n in enumerate(lengths):
        pmfs[t, :n] = rng.uniform(0.01, 1.0, n)
    index = rng.integers(0, 4, 150)
    x = np.array([symbols_around(rng, offsets[t], offsets[t] + lengths[t] - 1, 1)[0] for t in index])
    x[:4] = [offsets[index[0]] - 3, offsets[index[1]] + lengths[index[1]] + (1 << 33), 7, -9]
    expected = table_bits(x, [pmfs[t, : lengths[t]] for t in index], offsets[index])
    assert information_bits(x, IndexedTables(pmfs, offsets, lengths, index)) == pytest.approx(expected, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    magnitude=st.integers(0, (1 << 63) - 1),
    below=st.booleans(),
)
def test_one_escape_of_any_magnitude(magnitude, below):
    """A lone symbol beyond a uniform table's edge: its table probability plus its digits."""
    lo, hi = -3, 3
    symbol = lo - magnitude if below else hi + magnitude
    if not -(1 << 63) <= symbol < (1 << 63):
        return  # not an int64
    dist = Categorical(np.ones(7), lo, (1,))
    bits = information_bits(np.array([symbol], dtype=np.int64), dist)
    assert bits == pytest.approx(math.log2(7) + escape_bits(symbol, lo, hi), rel=1e-12)


# ------------------------------------------------- the pmfs themselves (what the bits come from)


def test_table_padding_is_ignored_whatever_it_holds():
    """Only ``pmfs[t, :lengths[t]]`` is table ``t``: garbage in the padding changes nothing."""
    pmfs = np.array([[0.2, 0.3, 0.5, 0.0], [1.0, 2.0, 3.0, 4.0]])
    garbage = pmfs.copy()
    garbage[0, 3] = 7.0
    index = np.array([0, 1, 0, 0])
    x = np.array([0, 3, 2, 1])
    clean = IndexedTables(pmfs, [0, 0], [3, 4], index)
    dirty = IndexedTables(garbage, [0, 0], [3, 4], index)
    np.testing.assert_array_equal(dirty.normalized(), clean.normalized())
    np.testing.assert_allclose(dirty.normalized()[0], [0.2, 0.3, 0.5, 0.0], rtol=1e-15)
    assert information_bits(x, dirty) == information_bits(x, clean)


def test_probabilities_come_in_the_distributions_shape():
    """``probabilities`` takes the symbols in any layout of the right size (flat, as coders hold
    them) and answers in the distribution's shape."""
    shape = (2, 3, 4)
    rng = np.random.default_rng(9)
    x = rng.integers(-2, 3, shape)
    dists = [
        QuantizedGaussian(rng.uniform(-1, 1, shape), rng.uniform(0.5, 2, shape), -5, 5),
        Categorical(rng.uniform(0.1, 1, 5), -2, shape),
        Categorical(rng.uniform(0.1, 1, (24, 5)), -2, shape),
        IndexedTables(rng.uniform(0.1, 1, (2, 6)), [-2, -3], [5, 6], rng.integers(0, 2, shape)),
    ]
    for dist in dists:
        expected = dist.probabilities(x)
        assert expected.shape == shape
        flat = dist.probabilities(x.reshape(-1))
        assert flat.shape == shape
        np.testing.assert_array_equal(flat, expected)


@pytest.mark.parametrize("family", sorted(CONTINUOUS))
def test_cdf_of_a_quantized_density(family):
    """``dist.cdf(t)``: the continuous CDF at ``t`` with each symbol's loc and scale."""
    loc, scale = np.array([0.5, -2.0, 3.0]), np.array([1.5, 0.7, 4.0])
    t = np.array([1.25, -2.5, -1.0])
    got = CONTINUOUS[family](loc, scale, -10, 10).cdf(t)
    cdf = STANDARD_CDF[family]
    expected = [float(cdf((mpmath.mpf(a) - m) / s)) for a, m, s in zip(t, loc, scale)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("family", ["gaussian", "logistic"])
def test_bin_masses_keep_both_tails(family):
    """``bin_masses``: the masses between consecutive standardised edges, small tail masses
    on either side to full relative precision (the survival function above the centre)."""
    from scipy.special import expit, ndtr

    cdf, scalar_cdf = STANDARD_CDF[family], {"gaussian": ndtr, "logistic": expit}[family]
    edges = np.array([[-np.inf, -30.0, -9.5, -1.0, 0.0, 0.5, 9.0, 31.0, np.inf],
                      [-np.inf, -3.0, -2.0, -0.25, 0.25, 1.0, 2.0, 4.0, np.inf]])
    got = bin_masses(edges, scalar_cdf)
    assert got.shape == (2, 8) and np.all(got >= 0)
    for row, masses in zip(edges, got):
        expected = [bin_mass(cdf, mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(0), mpmath.mpf(1))
                    for a, b in zip(row[:-1], row[1:])]
        np.testing.assert_allclose(masses, [float(e) for e in expected], rtol=1e-9)
    # element by element: one row alone gives the same masses as in the batch, and the edges
    # run along the last axis whatever the number of axes (the PixelCNN's are (n, K, L + 1))
    np.testing.assert_array_equal(bin_masses(edges[1:], scalar_cdf)[0], got[1])
    np.testing.assert_array_equal(bin_masses(np.stack([edges, edges[::-1]]), scalar_cdf)[0], got)


def test_symbols_may_come_in_any_layout_of_the_right_size():
    """``information_bits`` reads the symbols in the distribution's shape (per-symbol edges too)."""
    rng = np.random.default_rng(11)
    index = rng.integers(0, 2, (3, 4))
    dist = IndexedTables(rng.uniform(0.1, 1, (2, 6)), [-2, -3], [5, 6], index)
    x = rng.integers(-5, 5, (3, 4))
    assert information_bits(x.reshape(-1), dist) == information_bits(x, dist)
    closed = closed_categorical(rng.uniform(0.1, 1, (12, 5)), -2, (3, 4))
    y = rng.integers(-2, 3, (3, 4))
    assert information_bits(y.reshape(-1), closed) == information_bits(y, closed)


TABLES_SHAPE = r"^pmfs must be \(T, K\) with offsets and lengths of shape \(T,\)$"


def test_malformed_distributions_are_refused():
    ok = dict(pmfs=np.ones((2, 4)), offsets=[0, 0], lengths=[3, 4], index=[0, 1])
    bad_tables = [
        (dict(ok, pmfs=np.ones(4)), TABLES_SHAPE),
        (dict(ok, offsets=[0, 0, 0]), TABLES_SHAPE),
        (dict(ok, lengths=[3]), TABLES_SHAPE),
        (dict(ok, lengths=[1, 4]), r"^every table needs 2 <= length <= pmfs\.shape\[1\]$"),
        (dict(ok, lengths=[3, 5]), r"^every table needs 2 <= length <= pmfs\.shape\[1\]$"),
        (dict(ok, index=[0, 2]), r"table index out of range 0\.\.1"),
        (dict(ok, index=[-1, 0]), r"table index out of range 0\.\.1"),
    ]
    IndexedTables(**ok)
    IndexedTables(**dict(ok, index=np.zeros(0, dtype=np.int64)))  # no symbols at all
    for kwargs, message in bad_tables:
        with pytest.raises(ValueError, match=message):
            IndexedTables(**kwargs)
    for probs, shape, message in [
        (np.ones((2, 2, 2)), None, r"probs must be \(K,\) or \(n, K\) with K >= 2"),
        (np.ones(1), (3,), "K >= 2"),
        (np.array([0.5, np.nan]), (1,), "^probs must be finite and non-negative$"),
        (np.array([0.5, -0.1]), (1,), "^probs must be finite and non-negative$"),
        (np.ones(3), None, r"^shape is required with a shared \(K,\) table$"),
        (np.ones((4, 3)), (2, 3), r"4 table rows for shape \(2, 3\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            Categorical(probs, 0, shape)
    assert Categorical(np.ones((4, 3))).shape == (4,) and Categorical(np.ones((6, 3)), 0, (2, 3)).size == 6
    for loc, scale, lo, hi, message in [
        ([0.0, 1.0], [1.0], -3, 3, r"loc shape \(2,\) != scale shape \(1,\)"),
        ([0.0], [1.0], 3, 3, r"empty support \[3, 3\]"),
        ([0.0, 0.0], [1.0, 0.0], -3, 3, "^scale must be strictly positive$"),
    ]:
        with pytest.raises(ValueError, match=message):
            QuantizedGaussian(loc, scale, lo, hi)


# -- escape digits -------------------------------------------------------------------------------

def test_overflow_digits_are_16_bit_chunks_least_significant_first():
    from nc_core.coding import overflow_digits

    counts, chunks = overflow_digits(np.array([[0, 1], [65536, 2**64 - 1]], dtype=np.uint64))
    assert counts.tolist() == [0, 1, 2, 4] and counts.dtype == np.int64  # any layout: C order
    assert chunks.tolist() == [1, 0, 1, 65535, 65535, 65535, 65535]
    empty_counts, empty_chunks = overflow_digits(np.zeros(0, dtype=np.uint64))
    assert empty_counts.shape == empty_chunks.shape == (0,)
    assert chunks.dtype == empty_chunks.dtype == empty_counts.dtype == np.int64


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=20))
def test_overflow_digits_round_trip(magnitudes):
    from nc_core.coding import overflow_digits, overflow_from_digits

    m = np.array(magnitudes, dtype=np.uint64)
    counts, chunks = overflow_digits(m)
    assert np.all(chunks < 2**OVERFLOW_CHUNK_BITS) and np.all((counts == 0) == (m == 0))
    back = overflow_from_digits(counts, chunks)
    assert back.dtype == np.uint64 and back.tolist() == magnitudes


def test_overflow_chunk_counts_out_of_range_are_corrupt_streams():
    from nc_core.coding import overflow_from_digits

    assert overflow_from_digits(np.array([[OVERFLOW_MAX_CHUNKS]]), np.ones(4)).tolist() == [2**48 + 2**32 + 2**16 + 1]
    assert overflow_from_digits(np.array([0, 0]), np.zeros(0)).tolist() == [0, 0]
    for bad in ([-1], [OVERFLOW_MAX_CHUNKS + 1], [0, OVERFLOW_MAX_CHUNKS + 1], [-1, 1]):
        with pytest.raises(ValueError, match="^corrupt overflow chunk count$"):
            overflow_from_digits(np.array(bad), np.zeros(8))


def test_symbols_and_tables_of_any_integer_or_float_dtype():
    """Symbols arrive as uint8 pixels or int64 latents, tables as integer counts: all are
    converted (int64 symbols, float64 probabilities) before any arithmetic."""
    counts = np.array([[1, 3, 4], [2, 2, 4]])
    tables = IndexedTables(counts, [-1, -1], [3, 3], [0, 1])
    assert tables.pmfs.dtype == np.float64 and tables.offsets.dtype == np.int64
    pixels = np.array([0, 1], dtype=np.uint8)
    expected = -math.log2(3 / 8) - math.log2(4 / 8)  # table 0 at 0, table 1 at 1
    closed = closed_categorical(counts, -1, (2,))
    assert information_bits(pixels, closed) == pytest.approx(expected, rel=1e-12)
    assert information_bits(pixels.astype(np.int64), closed) == information_bits(pixels, closed)
