"""Properties every constriction-backed coder must have (ANS and range, side by side).

Round trips are exact for any symbols (far outside the support too, up to +-2**62) under any
distribution of every family, alone or as a mixed list of groups; sizes are close to the
information content; bad streams raise ``ValueError`` and never hang.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nc_core.coders import bytes_to_words, decode_all, encode_all, words_to_bytes
from nc_core.coding import (
    Categorical,
    IndexedTables,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
    closed_categorical,
    edge_merge,
    edge_split,
    information_bits,
    overflow_digits,
    overflow_from_digits,
)

nc_ans = pytest.importorskip("nc_ans")
nc_arith = pytest.importorskip("nc_arith")

CODERS = [
    pytest.param(nc_ans.AnsCoder(), id="ans"),
    pytest.param(nc_arith.RangeCoder(), id="range"),
]
CONTINUOUS = (QuantizedGaussian, QuantizedLaplace, QuantizedLogistic)
BIG = 1 << 62

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------------------ strategies


@st.composite
def supports(draw):
    """``(lo, hi)``: tiny to huge supports (native, narrow-window and wide-window paths)."""
    k = draw(
        st.one_of(
            st.integers(2, 4),
            st.integers(5, 300),
            st.integers(301, (1 << 16) + 10),
            st.integers(1 << 17, 1 << 40),
            st.integers(1 << 40, BIG),
        )
    )
    lo = draw(st.one_of(st.integers(-300, 300), st.integers(-BIG, BIG - k + 1)))
    lo = min(max(lo, -BIG), BIG - k + 1)
    return lo, lo + k - 1


def symbols(n: int, lo: int, hi: int):
    """``n`` symbols: inside the support, on and next to its edges, small, and far outside."""
    one = st.one_of(
        st.integers(lo, hi),
        st.sampled_from([lo, hi, lo - 1, hi + 1, -BIG, BIG]),
        st.integers(-5, 5),
        st.integers(-BIG, BIG),
    )
    return st.lists(one, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int64))


finite_loc = st.floats(-1e7, 1e7, allow_nan=False)
odd_loc = st.sampled_from([1e300, -1e300, np.inf, -np.inf, np.nan])
scales = st.one_of(st.floats(1e-6, 1e6), st.sampled_from([1e-300, 1e-30, 1e30, 1e300, np.inf]))


@st.composite
def continuous_pairs(draw, n=None):
    cls = draw(st.sampled_from(CONTINUOUS))
    n = draw(st.integers(0, 40)) if n is None else n
    lo, hi = draw(supports())
    mid = float(lo) + (float(hi) - float(lo)) / 2
    loc_strategy = st.one_of(finite_loc.map(lambda v: mid + v), finite_loc, odd_loc)
    loc = np.array(draw(st.lists(loc_strategy, min_size=n, max_size=n)), dtype=np.float64)
    scale = np.array(draw(st.lists(scales, min_size=n, max_size=n)), dtype=np.float64)
    dist = cls(loc, scale, lo, hi)
    return draw(symbols(n, lo, hi)), dist


probs = st.one_of(st.floats(0, 1e3), st.sampled_from([0.0, 0.0, 1e-300, 1e-30, 1e300]))


@st.composite
def categorical_pairs(draw):
    n = draw(st.integers(0, 40))
    k = draw(st.integers(2, 12))
    offset = draw(st.one_of(st.integers(-50, 50), st.integers(-BIG, BIG - k + 1)))
    if draw(st.booleans()):
        p = np.array(draw(st.lists(probs, min_size=k, max_size=k)))
        dist = Categorical(p, offset=offset, shape=(n,))
    else:
        p = np.array(
            draw(st.lists(st.lists(probs, min_size=k, max_size=k), min_size=n, max_size=n))
        )
        dist = Categorical(p.reshape(n, k), offset=offset)
    if draw(st.booleans()):  # closed: no escapes, symbols in the range
        dist = closed_categorical(dist.probs, dist.offset, dist.shape)
        x = draw(st.lists(st.integers(offset, offset + k - 1), min_size=n, max_size=n))
        return np.array(x, dtype=np.int64), dist
    return draw(symbols(n, offset, offset + k - 1)), dist


@st.composite
def tables_pairs(draw):
    n = draw(st.integers(0, 40))
    t = draw(st.integers(1, 5))
    width = draw(st.integers(2, 10))
    lengths = np.array(draw(st.lists(st.integers(2, width), min_size=t, max_size=t)))
    offsets = np.array(draw(st.lists(st.integers(-1000, 1000), min_size=t, max_size=t)))
    pmfs = np.array(
        draw(st.lists(st.lists(probs, min_size=width, max_size=width), min_size=t, max_size=t))
    )
    pmfs = pmfs * (np.arange(width) < lengths[:, None])  # zero padding, as documented
    index = np.array(draw(st.lists(st.integers(0, t - 1), min_size=n, max_size=n)), dtype=np.int64)
    if draw(st.booleans()):
        index = np.sort(index)  # the grouped (e.g. channel-major) layout
    dist = IndexedTables(pmfs, offsets, lengths, index)
    lo, hi = int(offsets.min()), int((offsets + lengths).max() - 1)
    return draw(symbols(n, lo, hi)), dist


any_pair = st.one_of(continuous_pairs(), categorical_pairs(), tables_pairs())


def roundtrip(coder, pairs):
    data = encode_all(coder, pairs)
    assert isinstance(data, bytes) and len(data) % 4 == 0
    out = decode_all(coder, data, [d for _, d in pairs])
    assert len(out) == len(pairs)
    for (x, dist), y in zip(pairs, out, strict=True):
        assert y.dtype == np.int64 and y.shape == tuple(dist.shape)
        np.testing.assert_array_equal(y, np.asarray(x).reshape(dist.shape))
    return data


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("coder", CODERS)
@SETTINGS
@given(pair=continuous_pairs())
def test_continuous_roundtrip(coder, pair):
    roundtrip(coder, [pair])


@pytest.mark.parametrize("coder", CODERS)
@SETTINGS
@given(pair=categorical_pairs())
def test_categorical_roundtrip(coder, pair):
    roundtrip(coder, [pair])


@pytest.mark.parametrize("coder", CODERS)
@SETTINGS
@given(pair=tables_pairs())
def test_tables_roundtrip(coder, pair):
    roundtrip(coder, [pair])


@pytest.mark.parametrize("coder", CODERS)
@settings(SETTINGS, max_examples=40)
@given(pairs=st.lists(any_pair, min_size=0, max_size=5))
def test_mixed_groups_roundtrip(coder, pairs):
    roundtrip(coder, pairs)


@pytest.mark.parametrize("coder", CODERS)
@settings(SETTINGS, max_examples=8)
@given(cls=st.sampled_from(CONTINUOUS), support=supports(), seed=st.integers(0, 2**32 - 1))
def test_continuous_roundtrip_several_chunks(coder, cls, support, seed):
    """More than one CHUNK of windowed rows, with a bit of everything in each."""
    rng = np.random.default_rng(seed)
    lo, hi = support
    n = 9000
    loc = rng.choice([float(lo), float(hi), 0.0, float(lo) / 2 + float(hi) / 2], n) + rng.normal(
        0, 50, n
    )
    scale = np.exp(rng.uniform(np.log(1e-3), np.log(1e5), n))
    x = np.round(rng.logistic(loc, scale)).astype(np.int64)
    x[rng.random(n) < 0.01] = rng.integers(-BIG, BIG, n)[:1]
    x[rng.random(n) < 0.01] = lo
    roundtrip(coder, [(x, cls(loc, scale, lo, hi))])


@pytest.mark.parametrize("coder", CODERS)
def test_encoder_decoder_order(coder):
    """Raw encoder/decoder: within a call symbols keep their order; across calls the coder's
    order decides which call comes back first."""
    a = Categorical(np.ones(8), shape=(6,))
    b = QuantizedGaussian(np.zeros(4), np.full(4, 3.0), -20, 20)
    xa, xb = np.array([0, 1, 2, 3, 4, 5]), np.array([-7, 2, 30, -1])
    enc = coder.encoder()
    enc.encode(xa, a)
    enc.encode(xb, b)
    dec = coder.decoder(enc.finish())
    if coder.order == "stack":
        np.testing.assert_array_equal(dec.decode(b), xb)
        np.testing.assert_array_equal(dec.decode(a), xa)
    else:
        np.testing.assert_array_equal(dec.decode(a), xa)
        np.testing.assert_array_equal(dec.decode(b), xb)
    dec.finish()


@pytest.mark.parametrize("coder", CODERS)
def test_extreme_symbols_every_family(coder):
    x = np.array([-BIG, BIG, 0, -1, 1, (1 << 62) - 1, -(1 << 62) + 1, 3])
    n = x.size
    rng = np.random.default_rng(0)
    dists = [
        cls(rng.normal(0, 2, n), np.full(n, 1.5), lo, hi)
        for cls in CONTINUOUS
        for lo, hi in [(-3, 3), (-1000, 1000), (-(1 << 40), 1 << 40)]
    ]
    dists += [
        Categorical(np.ones(4), offset=-2, shape=(n,)),
        Categorical(rng.random((n, 5)), offset=1),
        IndexedTables(rng.random((3, 6)), [-2, 0, 5], [6, 2, 4], rng.integers(0, 3, n)),
        IndexedTables(rng.random((3, 6)), [-2, 0, 5], [6, 2, 4], np.sort(rng.integers(0, 3, n))),
    ]
    roundtrip(coder, [(x, d) for d in dists])


@pytest.mark.parametrize("coder", CODERS)
def test_empty_and_single(coder):
    pairs = [
        (np.zeros(0, np.int64), QuantizedGaussian(np.zeros(0), np.ones(0), -5, 5)),
        (np.array([7]), QuantizedLogistic([0.0], [1.0], -5, 5)),
        (
            np.zeros((0, 3), np.int64),
            IndexedTables(np.ones((2, 3)), [0, 0], [3, 3], np.zeros((0, 3), int)),
        ),
        (np.array([-9]), Categorical(np.ones(3), shape=(1,))),
    ]
    roundtrip(coder, pairs)
    assert decode_all(coder, encode_all(coder, []), []) == []
    assert len(encode_all(coder, [pairs[0]])) <= 8  # just the check word


@pytest.mark.parametrize("coder", CODERS)
def test_channel_major_tables(coder):
    """The common learned-CDF layout: index = channel of a C x H x W latent."""
    rng = np.random.default_rng(1)
    c, h, w = 7, 5, 6
    lengths = rng.integers(3, 9, c)
    pmfs = rng.random((c, 9)) * (np.arange(9) < lengths[:, None])
    offsets = rng.integers(-4, 0, c)
    index = np.broadcast_to(np.arange(c)[:, None, None], (c, h, w)).copy()
    x = rng.integers(-6, 8, (c, h, w))
    roundtrip(coder, [(x, IndexedTables(pmfs, offsets, lengths, index))])
    perm = np.transpose(index, (1, 2, 0)).copy()  # channels-last: not grouped
    roundtrip(
        coder, [(np.transpose(x, (1, 2, 0)).copy(), IndexedTables(pmfs, offsets, lengths, perm))]
    )


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("grouped", [True, False])
def test_large_tables_many_blocks(coder, grouped):
    """Groups of unequal sizes spanning many scan blocks, a few symbols far outside."""
    rng = np.random.default_rng(4)
    n, t = 300_000, 37
    lengths = rng.integers(2, 50, t)
    pmfs = rng.random((t, 50)) * (np.arange(50) < lengths[:, None])
    offsets = rng.integers(-30, 30, t)
    index = rng.integers(0, t, n)
    index = np.sort(index) if grouped else index
    x = offsets[index] + rng.integers(0, lengths[index])
    x[rng.integers(0, n, 50)] = rng.integers(-BIG, BIG, 50)
    roundtrip(coder, [(x, IndexedTables(pmfs, offsets, lengths, index))])


# ------------------------------------------------------------------------------ sizes


def _ideal_cases():
    rng = np.random.default_rng(2)
    n = 20000
    loc, scale = rng.normal(0, 20, n), np.exp(rng.uniform(np.log(0.5), np.log(30), n))
    for cls, sampler in [
        (QuantizedGaussian, rng.normal),
        (QuantizedLaplace, rng.laplace),
        (QuantizedLogistic, rng.logistic),
    ]:
        for lo, hi in [(-300, 300), (-100_000, 100_000)]:
            x = np.clip(np.round(sampler(loc, scale)), lo + 1, hi - 1).astype(np.int64)
            yield f"{cls.family}[{lo},{hi}]", x, cls(loc, scale, lo, hi)
    big = np.exp(rng.uniform(np.log(50), np.log(5000), n))  # wide windows with 2**e bins
    x = np.round(rng.logistic(loc, big)).astype(np.int64)
    yield "logistic-big-scales", x, QuantizedLogistic(loc, big, -(1 << 40), 1 << 40)
    narrow = QuantizedLogistic(loc / 10, scale / 10, -40, 40)
    yield (
        "logistic-narrow",
        np.clip(np.round(rng.logistic(loc / 10, scale / 10)), -39, 39).astype(np.int64),
        narrow,
    )
    p = rng.dirichlet(np.ones(20))
    yield "categorical-shared", rng.choice(20, n, p=p) - 5, Categorical(p, offset=-5, shape=(n,))
    rows = rng.dirichlet(np.ones(6), n)
    xs = (rows.cumsum(1) > rng.random((n, 1))).argmax(1)
    yield "categorical-rows", xs, Categorical(rows)
    t, k = 16, 40
    pm = rng.dirichlet(np.ones(k), t)
    idx = rng.integers(0, t, n)
    x = (pm.cumsum(1)[idx] > rng.random((n, 1))).argmax(1) - 10
    yield "tables", x, IndexedTables(pm, np.full(t, -10), np.full(t, k), idx)


IDEAL = list(_ideal_cases())


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("name,x,dist", IDEAL, ids=[c[0] for c in IDEAL])
def test_size_close_to_information(coder, name, x, dist):
    data = roundtrip(coder, [(x, dist)])
    info = information_bits(x, dist)
    assert len(data) * 8 <= info * 1.01 + 64, (len(data) * 8, info)


# ------------------------------------------------------------------------------ failures


class _Poisson:
    family = "poisson"
    shape = (3,)
    size = 3


@pytest.mark.parametrize("coder", CODERS)
def test_unsupported_family(coder):
    with pytest.raises(TypeError, match=rf"{coder.name}.*poisson"):
        encode_all(coder, [(np.zeros(3, np.int64), _Poisson())])
    with pytest.raises(TypeError, match=rf"{coder.name}.*poisson"):
        decode_all(coder, b"", [_Poisson()])


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
def test_bad_symbols(coder):
    dist = QuantizedGaussian(np.zeros(4), np.ones(4), -5, 5)
    with pytest.raises(ValueError, match="shape"):
        encode_all(coder, [(np.zeros(5, np.int64), dist)])
    with pytest.raises(TypeError, match="integers"):
        encode_all(coder, [(np.zeros(4), dist)])
    with pytest.raises(ValueError, match="2\\*\\*62"):
        encode_all(
            coder, [(np.zeros(4, np.int64), QuantizedGaussian(np.zeros(4), np.ones(4), 0, 1 << 63))]
        )


def _message(n=3000, seed=3):
    rng = np.random.default_rng(seed)
    loc, scale = rng.normal(0, 5, n), np.exp(rng.uniform(-1, 3, n))
    x = np.round(rng.normal(loc, scale)).astype(np.int64)
    x[::500] = 10**12  # some escapes too
    pm = rng.dirichlet(np.ones(12), 4)
    idx = rng.integers(0, 4, n)
    return [
        (x, QuantizedGaussian(loc, scale, -64, 64)),
        (x, QuantizedLogistic(loc, scale, -5000, 5000)),
        (
            (pm.cumsum(1)[idx] > rng.random((n, 1))).argmax(1),
            IndexedTables(pm, [0] * 4, [12] * 4, idx),
        ),
    ]


@pytest.mark.parametrize("coder", CODERS)
def test_truncated_stream(coder):
    pairs = _message()
    data = encode_all(coder, pairs)
    dists = [d for _, d in pairs]
    for keep in (0, 4, len(data) // 2, len(data) - 8, len(data) - 4):
        with pytest.raises(ValueError):
            decode_all(coder, data[:keep], dists)


@pytest.mark.parametrize("coder", CODERS)
def test_trailing_data(coder):
    pairs = _message()
    data = encode_all(coder, pairs)
    with pytest.raises(ValueError):
        decode_all(coder, data + bytes(range(1, 65)), [d for _, d in pairs])


@pytest.mark.parametrize("coder", CODERS)
@settings(SETTINGS, max_examples=30)
@given(
    garbage=st.binary(min_size=64, max_size=2048).map(lambda b: b[: len(b) // 4 * 4]),
    seed=st.integers(0, 3),
)
def test_garbage_bytes(coder, garbage, seed):
    """Random bytes (much longer than the few symbols asked for): ValueError, never a hang."""
    rng = np.random.default_rng(seed)
    n = 6
    dists = [
        QuantizedGaussian(rng.normal(0, 3, n), np.full(n, 0.7), -100, 100),
        QuantizedLogistic(rng.normal(0, 3, n), np.full(n, 2.0), -(1 << 30), 1 << 30),
        Categorical(rng.random((n, 4))),
        IndexedTables(rng.random((2, 5)), [0, -3], [5, 4], rng.integers(0, 2, n)),
    ]
    with pytest.raises(ValueError):
        decode_all(coder, garbage, dists)


@pytest.mark.parametrize("coder", CODERS)
def test_wrong_length_bytes(coder):
    dist = Categorical(np.ones(4), shape=(2,))
    for data in (b"\x01", b"\x01\x02\x03\x04\x05", b"abcdefg"):
        with pytest.raises(ValueError, match="32-bit words"):
            decode_all(coder, data, [dist])


@pytest.mark.parametrize("coder", CODERS)
def test_finished_encoder_and_decoder(coder):
    enc = coder.encoder()
    enc.encode(np.array([1, 2]), Categorical(np.ones(4), shape=(2,)))
    data = enc.finish()
    with pytest.raises(ValueError):
        enc.encode(np.array([1, 2]), Categorical(np.ones(4), shape=(2,)))
    dec = coder.decoder(data)
    dec.decode(Categorical(np.ones(4), shape=(2,)))
    dec.finish()
    with pytest.raises(ValueError):
        dec.finish()


# ------------------------------------------------------------------------------ helpers


def test_words_bytes():
    w = np.array([1, 0xDEADBEEF, 0], dtype=np.uint32)
    b = words_to_bytes(w)
    assert b == b"\x01\x00\x00\x00\xef\xbe\xad\xde\x00\x00\x00\x00"
    np.testing.assert_array_equal(bytes_to_words(b), w)
    assert bytes_to_words(b"").dtype == np.uint32
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
    with pytest.raises(ValueError, match="order"):
        encode_all(_Order("lifo"), [])


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


def test_information_bits_upper_tail_is_finite():
    d = QuantizedGaussian([0.0, 0.0], [1.0, 1.0], -100, 100)
    bits = information_bits(np.array([-30, 30]), d)
    assert np.isfinite(bits) and bits > 400


# ---------------------------------------------------------------------------------- stacks


@st.composite
def closed_categoricals(draw):
    """Sampleable distributions: closed categoricals, shared table or per-symbol rows."""
    k, n = draw(st.integers(2, 40)), draw(st.integers(0, 30))
    weights = st.floats(0, 1e3, allow_nan=False)
    if draw(st.booleans()):
        p = np.array(draw(st.lists(weights, min_size=k, max_size=k))) + 1e-3
        return closed_categorical(p, draw(st.integers(-50, 50)), shape=(n,))
    p = np.array(draw(st.lists(weights, min_size=k * n, max_size=k * n))).reshape(n, k) + 1e-3
    return closed_categorical(p, draw(st.integers(-50, 50)))


@settings(SETTINGS, max_examples=60)
@given(ops=st.lists(st.one_of(any_pair, closed_categoricals()), max_size=8), split=st.integers(0, 8))
def test_stack_any_interleaving_of_pushes_and_pops_unwinds_exactly(ops, split):
    """Bits-back's pattern: pop (sample) and push in any order; undoing every operation in
    reverse gives back what was pushed and re-pushes what was popped, down to the check word,
    also across a save/resume of the message, and also when pops outrun the message."""
    coder = nc_ans.AnsCoder()
    stack = coder.stack()
    log = []
    for i, op in enumerate(ops):
        if i == split:
            stack = coder.stack(stack.to_bytes())
        if not isinstance(op, tuple):  # a closed categorical: sample from it
            sample = stack.sample(op)
            assert np.all((sample >= op.lo) & (sample <= op.hi))
            log.append((sample, op, True))
        else:
            symbols, dist = op
            stack.push(symbols, dist)
            log.append((symbols, dist, False))
    stack = coder.stack(stack.to_bytes())
    for symbols, dist, was_pop in reversed(log):
        if was_pop:
            stack.push(symbols, dist)
        else:
            np.testing.assert_array_equal(stack.pop(dist), symbols)
    stack.close()


def test_stack_pops_are_samples_of_the_distribution_and_cost_nothing_net():
    coder = nc_ans.AnsCoder()
    stack = coder.stack()
    rng = np.random.default_rng(0)
    noise = Categorical(np.full(1 << 12, 1.0), -1, shape=(6000,))  # ~72,000 random bits
    stack.push(rng.integers(0, (1 << 12) - 2, 6000), noise)
    before = stack.num_bits()
    dist = closed_categorical(np.tile([0.1, 0.2, 0.7], (5000, 1)))
    sample = stack.sample(dist)
    assert sample.min() >= 0 and sample.max() <= 2
    assert abs(np.mean(sample == 2) - 0.7) < 0.03 and abs(np.mean(sample == 0) - 0.1) < 0.02
    taken = before - stack.num_bits()
    assert abs(taken - information_bits(sample, dist)) < 200  # the sample's information content
    stack.push(sample, dist)
    assert stack.num_bits() == before


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
