"""The coder conformance suite (public API, see docs/plugin-guide.md).

Every coder, ours or a third party's, runs it from its own tests::

    from nc_core.testing import CoderConformance
    from my_plugin import MyCoder

    class TestMyCoder(CoderConformance):
        coder_class = MyCoder

It checks the :class:`~nc_core.contracts.Coder` contract by behaviour, not by re-reading
class constants: exact round trips for any symbols (far outside the support too, up to
``+-2**62``) under any distribution of every family the coder declares, alone or as a mixed
list of groups; the declared ``order``; sizes close to the information content; and failures
(unsupported families, bad symbols, truncated, trailing and garbage streams raise, never
hang). Stack coders also run the bits-back stack tests (push, pop and sample in any
interleaving). Families a coder does not declare are left out of its round trips.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nc_core.coders import decode_all, encode_all
from nc_core.coding import (
    FAMILIES,
    Categorical,
    IndexedTables,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
    closed_categorical,
    information_bits,
)
from nc_core.contracts import Coder

__all__ = ["CoderConformance", "any_pair", "closed_categoricals", "roundtrip"]

CONTINUOUS = (QuantizedGaussian, QuantizedLaplace, QuantizedLogistic)
BIG = 1 << 62

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    # the suite's methods run from each coder's subclass: the same test, several executors
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.differing_executors],
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
    """Encode ``pairs`` with ``coder`` (those of families it declares), decode, compare."""
    pairs = [(x, d) for x, d in pairs if d.family in coder.families]
    data = encode_all(coder, pairs)
    assert isinstance(data, bytes)
    out = decode_all(coder, data, [d for _, d in pairs])
    assert len(out) == len(pairs)
    for (x, dist), y in zip(pairs, out, strict=True):
        assert y.dtype == np.int64 and y.shape == tuple(dist.shape)
        np.testing.assert_array_equal(y, np.asarray(x).reshape(dist.shape))
    return data





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





class _Poisson:
    family = "poisson"
    shape = (3,)
    size = 3





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






class CoderConformance:
    """Subclass with ``coder_class = YourCoder`` (a :class:`~nc_core.contracts.Coder` that
    constructs without arguments; override :meth:`make_coder` otherwise)."""

    coder_class: type[Coder]

    def make_coder(self) -> Coder:
        return self.coder_class()

    @property
    def coder(self) -> Coder:
        return self.make_coder()

    def stack_coder(self) -> Coder:
        coder = self.make_coder()
        if coder.order != "stack":
            pytest.skip(f"{coder.name} is a {coder.order} coder: no stack")
        return coder

    # -- the contract

    def test_contract(self):
        cls = self.coder_class
        assert issubclass(cls, Coder) and cls.kind == "coder"
        assert isinstance(cls.name, str) and cls.name
        assert cls.order in ("stack", "queue")
        assert isinstance(cls.families, frozenset) and cls.families and cls.families <= set(FAMILIES)

    def test_queue_coders_have_no_stack(self):
        coder = self.coder
        if coder.order == "queue":
            with pytest.raises(TypeError, match="stack coder"):
                coder.stack()

    # -- round trips

    @SETTINGS
    @given(pair=continuous_pairs())
    def test_continuous_roundtrip(self, pair):
        roundtrip(self.coder, [pair])

    @SETTINGS
    @given(pair=categorical_pairs())
    def test_categorical_roundtrip(self, pair):
        roundtrip(self.coder, [pair])

    @SETTINGS
    @given(pair=tables_pairs())
    def test_tables_roundtrip(self, pair):
        roundtrip(self.coder, [pair])

    @settings(SETTINGS, max_examples=40)
    @given(pairs=st.lists(any_pair, min_size=0, max_size=5))
    def test_mixed_groups_roundtrip(self, pairs):
        roundtrip(self.coder, pairs)

    @settings(SETTINGS, max_examples=8)
    @given(cls=st.sampled_from(CONTINUOUS), support=supports(), seed=st.integers(0, 2**32 - 1))
    def test_continuous_roundtrip_several_chunks(self, cls, support, seed):
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
        roundtrip(self.coder, [(x, cls(loc, scale, lo, hi))])

    def test_encoder_decoder_order(self):
        """Raw encoder/decoder: within a call symbols keep their order; across calls the self.coder's
        order decides which call comes back first."""
        a = Categorical(np.ones(8), shape=(6,))
        b = QuantizedGaussian(np.zeros(4), np.full(4, 3.0), -20, 20)
        xa, xb = np.array([0, 1, 2, 3, 4, 5]), np.array([-7, 2, 30, -1])
        enc = self.coder.encoder()
        enc.encode(xa, a)
        enc.encode(xb, b)
        dec = self.coder.decoder(enc.finish())
        if self.coder.order == "stack":
            np.testing.assert_array_equal(dec.decode(b), xb)
            np.testing.assert_array_equal(dec.decode(a), xa)
        else:
            np.testing.assert_array_equal(dec.decode(a), xa)
            np.testing.assert_array_equal(dec.decode(b), xb)
        dec.finish()

    def test_extreme_symbols_every_family(self):
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
        roundtrip(self.coder, [(x, d) for d in dists])

    def test_empty_and_single(self):
        pairs = [
            (np.zeros(0, np.int64), QuantizedGaussian(np.zeros(0), np.ones(0), -5, 5)),
            (np.array([7]), QuantizedLogistic([0.0], [1.0], -5, 5)),
            (
                np.zeros((0, 3), np.int64),
                IndexedTables(np.ones((2, 3)), [0, 0], [3, 3], np.zeros((0, 3), int)),
            ),
            (np.array([-9]), Categorical(np.ones(3), shape=(1,))),
        ]
        roundtrip(self.coder, pairs)
        assert decode_all(self.coder, encode_all(self.coder, []), []) == []
        assert len(encode_all(self.coder, [pairs[0]])) <= 8  # just the check word

    def test_channel_major_tables(self):
        """The common learned-CDF layout: index = channel of a C x H x W latent."""
        rng = np.random.default_rng(1)
        c, h, w = 7, 5, 6
        lengths = rng.integers(3, 9, c)
        pmfs = rng.random((c, 9)) * (np.arange(9) < lengths[:, None])
        offsets = rng.integers(-4, 0, c)
        index = np.broadcast_to(np.arange(c)[:, None, None], (c, h, w)).copy()
        x = rng.integers(-6, 8, (c, h, w))
        roundtrip(self.coder, [(x, IndexedTables(pmfs, offsets, lengths, index))])
        perm = np.transpose(index, (1, 2, 0)).copy()  # channels-last: not grouped
        roundtrip(
            self.coder, [(np.transpose(x, (1, 2, 0)).copy(), IndexedTables(pmfs, offsets, lengths, perm))]
        )

    @pytest.mark.parametrize("grouped", [True, False])
    def test_large_tables_many_blocks(self, grouped):
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
        roundtrip(self.coder, [(x, IndexedTables(pmfs, offsets, lengths, index))])

    # -- sizes

    @pytest.mark.parametrize("name,x,dist", IDEAL, ids=[c[0] for c in IDEAL])
    def test_size_close_to_information(self, name, x, dist):
        data = roundtrip(self.coder, [(x, dist)])
        info = information_bits(x, dist)
        assert len(data) * 8 <= info * 1.01 + 64, (len(data) * 8, info)

    # -- failures

    def test_unsupported_family(self):
        with pytest.raises(TypeError, match=rf"{self.coder.name}.*poisson"):
            encode_all(self.coder, [(np.zeros(3, np.int64), _Poisson())])
        with pytest.raises(TypeError, match=rf"{self.coder.name}.*poisson"):
            decode_all(self.coder, b"", [_Poisson()])

    def test_bad_symbols(self):
        dist = QuantizedGaussian(np.zeros(4), np.ones(4), -5, 5)
        with pytest.raises(ValueError, match="shape"):
            encode_all(self.coder, [(np.zeros(5, np.int64), dist)])
        with pytest.raises(TypeError, match="integers"):
            encode_all(self.coder, [(np.zeros(4), dist)])
        with pytest.raises(ValueError, match="2\\*\\*62"):
            encode_all(
                self.coder, [(np.zeros(4, np.int64), QuantizedGaussian(np.zeros(4), np.ones(4), 0, 1 << 63))]
            )

    def test_truncated_stream(self):
        pairs = _message()
        data = encode_all(self.coder, pairs)
        dists = [d for _, d in pairs]
        for keep in (0, 4, len(data) // 2, len(data) - 8, len(data) - 4):
            with pytest.raises(ValueError):
                decode_all(self.coder, data[:keep], dists)

    def test_trailing_data(self):
        pairs = _message()
        data = encode_all(self.coder, pairs)
        with pytest.raises(ValueError):
            decode_all(self.coder, data + bytes(range(1, 65)), [d for _, d in pairs])

    @settings(SETTINGS, max_examples=30)
    @given(
        garbage=st.binary(min_size=64, max_size=2048).map(lambda b: b[: len(b) // 4 * 4]),
        seed=st.integers(0, 3),
    )
    def test_garbage_bytes(self, garbage, seed):
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
            decode_all(self.coder, garbage, dists)

    def test_finished_encoder_and_decoder(self):
        enc = self.coder.encoder()
        enc.encode(np.array([1, 2]), Categorical(np.ones(4), shape=(2,)))
        data = enc.finish()
        with pytest.raises(ValueError):
            enc.encode(np.array([1, 2]), Categorical(np.ones(4), shape=(2,)))
        dec = self.coder.decoder(data)
        dec.decode(Categorical(np.ones(4), shape=(2,)))
        dec.finish()
        with pytest.raises(ValueError):
            dec.finish()

    # -- stacks (bits-back coding)

    @settings(SETTINGS, max_examples=60)
    @given(ops=st.lists(st.one_of(any_pair, closed_categoricals()), max_size=8), split=st.integers(0, 8))
    def test_stack_any_interleaving_of_pushes_and_pops_unwinds_exactly(self, ops, split):
        """Bits-back's pattern: pop (sample) and push in any order; undoing every operation in
        reverse gives back what was pushed and re-pushes what was popped, down to the check word,
        also across a save/resume of the message, and also when pops outrun the message."""
        coder = self.stack_coder()
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


    def test_stack_pops_are_samples_of_the_distribution_and_cost_nothing_net(self):
        coder = self.stack_coder()
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
