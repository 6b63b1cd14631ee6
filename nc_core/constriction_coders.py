"""Coders built on constriction (public API, see docs/plugin-guide.md).

:class:`ConstrictionBackend` maps every :mod:`nc_core.coding` family onto calls of a
  `constriction <https://bamler-lab.github.io/constriction/>`_ stream coder and implements the
  escape (overflow) scheme of :mod:`nc_core.coding` on top. A plugin supplies only its stream
  type (how to make one, how to push and pop symbols) and the coder's ``order``.

How each family is coded
------------------------
Symbols are first split by :func:`~nc_core.coding.edge_split` into in-support codes and
overflow magnitudes; the magnitudes of all edge positions follow the symbols of one
``encode`` call (in decode order), as uniform digits from
:func:`~nc_core.coding.overflow_digits`. When no symbol is at an edge (the common case) the
split costs one min/max pass and nothing is written for it.

``gaussian`` / ``laplace``
    constriction's ``QuantizedGaussian(lo, hi)`` / ``QuantizedLaplace(lo, hi)`` with the
    per-symbol loc/scale arrays, when the support has at most :data:`NATIVE_MAX_SUPPORT`
    symbols; wider supports use the windowed tables below (constriction cannot give every one
    of millions of symbols a nonzero probability, and would waste rate trying).
``logistic`` (and wide ``gaussian`` / ``laplace``)
    per-symbol categorical rows computed from the family's CDF, :data:`CHUNK` symbols at a time
    (bounded memory). A support of at most ``2 * WINDOW_BINS`` symbols gets one row entry per
    symbol. A wider support gets, per symbol, a window of ``WINDOW_BINS`` bins of ``2**e``
    integers each (``2**e`` below ``3/8`` of the scale), centred on ``loc``, plus one bin for each
    tail outside the window: the bin is coded with the categorical row, the position inside
    a bin uniformly, and a tail symbol's distance from the window as overflow digits. All
    of it is exact: encoder and decoder compute bit-identical float tables from the same
    parameters.
``categorical``
    a shared ``(K,)`` table is one ``Categorical(perfect=False)`` model for i.i.d. coding;
    ``(n, K)`` rows are passed as rank-2 probabilities, in chunks.
``tables``
    one ``Categorical(perfect=False)`` model per table used; symbols are grouped by table
    index (a stable argsort, skipped when the index is already sorted, e.g. the channel of a
    ``C x H x W`` latent) and each group is coded i.i.d. with its table's model. Overflow
    magnitudes follow in that grouped order.

Probability rows whose sums constriction cannot normalise (tiny or huge but valid) are
rescaled by their maximum, and an all-zero row is coded as uniform.

Stacks
------
A stack coder also gives a :class:`Stack`: one message that symbols are pushed onto and popped
from in any interleaving. Popping under a distribution *samples* from it with the message's
bits, and pushing the sample back restores them: the mechanism of bits-back coding.

Streams
-------
The bytes are constriction's 32-bit words, little endian. Every stream ends, in decode order,
with the 32-bit :data:`CHECK_WORD` (4 bytes on average): ``Decoder.finish()`` decodes and
compares it, then asks the stream whether it is used up (ANS: exactly; range coding: best
effort). A truncated or garbage stream so raises ``ValueError`` (with probability
``1 - 2**-32`` at worst), as does anything constriction raises on bad data; decoding never
loops on the data, so it cannot hang.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from nc_core.coders import (
    SUPPORT_LIMIT,
    bytes_to_words,
    check_support,
    flat_symbols,
    is_stack,
    words_to_bytes,
)
from nc_core.coding import (
    FAMILIES,
    OVERFLOW_CHUNK_BITS,
    OVERFLOW_MAX_CHUNKS,
    CodingDistribution,
    edge_merge,
    edge_split,
    overflow_digits,
    overflow_from_digits,
)
from nc_core.contracts import Coder

__all__ = ["CHECK_WORD", "CHUNK", "NATIVE_MAX_SUPPORT", "WINDOW_BINS", "ConstrictionBackend", "ConstrictionCoder",
           "Stack"]

#: widest support coded with constriction's own QuantizedGaussian / QuantizedLaplace
NATIVE_MAX_SUPPORT = 1 << 16
#: bins of the per-symbol window of wide-support continuous distributions
WINDOW_BINS = 128
#: the window spans at least +-WINDOW_TAIL scales around loc (tail mass ~1e-5 for logistic)
WINDOW_TAIL = 12.0
#: largest bin width exponent (constriction's Uniform model takes sizes below 2**24)
WINDOW_MAX_EXP = 23
#: symbols per chunk of per-symbol probability rows (bounds the memory of the tables)
CHUNK = 4096
#: symbols per block when grouped table symbols are scanned (fits in a CPU's L2 cache)
SCAN_BLOCK = 1 << 16
#: largest alphabet of one categorical table (constriction's 24-bit precision)
MAX_ALPHABET = (1 << 24) - 2


# ------------------------------------------------------------------------------ backend


@attrs.frozen
class ConstrictionBackend:
    """A constriction stream coder, as a plugin describes it.

    ``new_encoder()`` makes an empty encoding stream and ``push(stream, symbols, model,
    *params)`` codes int32 ``symbols`` so that one later ``pop(stream, model, *params)``
    returns them in the same order (``AnsCoder.encode_reverse`` / ``AnsCoder.decode`` for ANS,
    ``RangeEncoder.encode`` / ``RangeDecoder.decode`` for range coding). ``new_decoder(words)``
    makes a decoding stream from uint32 words and ``exhausted(stream)`` says whether it is used
    up (``AnsCoder.is_empty``; ``RangeDecoder.maybe_exhausted``, which is best effort).

    The coder passed to :meth:`encoder` / :meth:`decoder` supplies ``name``, ``order`` and the
    ``families`` it declares; :attr:`families` is what the backend can code (all of them).
    """

    new_encoder: Callable[[], Any]
    push: Callable[..., None]
    new_decoder: Callable[[np.ndarray], Any]
    pop: Callable[..., np.ndarray]
    exhausted: Callable[[Any], bool]

    families = frozenset(FAMILIES)

    def encoder(self, coder) -> _Encoder:
        return _Encoder(self, coder)

    def decoder(self, coder, data: bytes) -> _Decoder:
        return _Decoder(self, coder, data)

    def stack(self, coder, data: bytes | None = None) -> Stack:
        return Stack(self, coder, data)


class ConstrictionCoder(Coder):
    """Base of coders built on a :class:`ConstrictionBackend`: a subclass sets ``name``,
    ``order`` and ``backend``, and codes every family."""

    backend: ConstrictionBackend
    families = ConstrictionBackend.families

    def encoder(self) -> _Encoder:
        return self.backend.encoder(self)

    def decoder(self, data: bytes) -> _Decoder:
        return self.backend.decoder(self, data)

    def stack(self, data: bytes | None = None) -> Stack:
        return self.backend.stack(self, data)


def _family_codec(coder, dist) -> _FamilyCodec:
    family = getattr(dist, "family", None)
    codec = _CODECS.get(family)
    if codec is None or family not in coder.families:
        supported = ", ".join(sorted(set(coder.families) & set(_CODECS)))
        raise TypeError(
            f"coder {coder.name!r} does not support the {family!r} distribution family "
            f"(got {type(dist).__name__}; supported: {supported})"
        )
    return codec


class _Stream:
    """What encoders, decoders and stacks share: pushing a family's ops, popping symbols."""

    _stream: Any

    def __init__(self, backend: ConstrictionBackend, coder):
        self._backend, self._coder = backend, coder
        self._stack = is_stack(coder)

    def _live(self):
        if self._stream is None:
            raise ValueError(f"{self._coder.name} stream already finished")
        return self._stream

    def _encode(self, symbols: np.ndarray, dist: CodingDistribution) -> None:
        self._live()
        codec = _family_codec(self._coder, dist)
        ops = codec.encode(flat_symbols(symbols, dist), dist)
        # ops are in decode order; a stack is pushed in reverse so it pops in that order
        for op in ops[::-1] if self._stack else ops:
            if callable(op):  # a lazily computed chunk: a list of ops in decode order
                for sub in op()[::-1] if self._stack else op():
                    self._push(*sub)
            else:
                self._push(*op)

    def _push(self, symbols, model, *params) -> None:
        if len(symbols):
            self._backend.push(self._stream, symbols, model, *params)

    def _decode(self, dist: CodingDistribution) -> np.ndarray:
        self._live()
        codec = _family_codec(self._coder, dist)
        check_support(dist)
        return codec.decode(self, dist).reshape(dist.shape)

    def pop_raw(self, model, *params) -> np.ndarray:
        """Decode int32 symbols (``params`` as for the stream's ``decode``; an int = i.i.d.)."""
        n = params[0] if len(params) == 1 and isinstance(params[0], int) else len(params[0])
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        with _stream_errors(self._coder):
            return np.asarray(self._backend.pop(self._live(), model, *params))

    def _check_end(self) -> None:
        """Pop the check word, then require the stream to be used up."""
        symbols, model = _check_op()
        if not np.array_equal(self.pop_raw(model, len(symbols)), symbols):
            self._stream = None
            raise ValueError(
                f"corrupt or truncated {self._coder.name} stream (check word mismatch)"
            )
        stream, self._stream = self._stream, None
        with _stream_errors(self._coder):
            done = self._backend.exhausted(stream)
        if not done:
            raise ValueError(f"{self._coder.name} stream has data left after decoding")


class _Encoder(_Stream):
    def __init__(self, backend: ConstrictionBackend, coder):
        super().__init__(backend, coder)
        self._stream = backend.new_encoder()
        if self._stack:  # the check word is decoded last: bottom of the stack
            self._push(*_check_op())

    encode = _Stream._encode

    def finish(self) -> bytes:
        self._live()
        if not self._stack:  # the check word is decoded last: end of the queue
            self._push(*_check_op())
        words = self._stream.get_compressed()
        self._stream = None
        return words_to_bytes(words)


class _Decoder(_Stream):
    def __init__(self, backend: ConstrictionBackend, coder, data: bytes):
        super().__init__(backend, coder)
        words = bytes_to_words(data)
        with _stream_errors(coder):
            self._stream = backend.new_decoder(words)

    decode = _Stream._decode

    def finish(self) -> None:
        self._live()
        self._check_end()


class Stack(_Stream):
    """A message on a stack coder that symbols are pushed onto and popped from in any
    interleaving: what bits-back coding needs. ``pop(dist)`` undoes ``push(symbols, dist)``;
    ``sample(dist)`` decodes symbols under ``dist`` from whatever bits are on top — a sample
    from ``dist`` driven by the message's bits — and pushing them back under the same ``dist``
    restores the message exactly.

    A new stack holds only the check word (at the bottom); ``coder.stack(data)`` resumes the
    message ``to_bytes()`` gave. A sample takes the bits it needs from the top of the message;
    when the message is shorter it still returns symbols (the same ones for the same
    message) and pushing them back still restores it, but they are not a fair sample: bits-back
    coding supplies initial bits for that. ``close()`` pops the check word and requires the
    message to be used up.
    """

    def __init__(self, backend: ConstrictionBackend, coder, data: bytes | None = None):
        super().__init__(backend, coder)
        if not self._stack:
            raise TypeError(f"coder {coder.name!r} is {coder.order}-ordered; a stack needs a stack coder")
        if data is None:
            self._stream = backend.new_encoder()
            self._push(*_check_op())
        else:
            with _stream_errors(coder):
                self._stream = backend.new_decoder(bytes_to_words(data))

    def push(self, symbols: np.ndarray, dist: CodingDistribution) -> None:
        """Code ``symbols`` (shaped like ``dist.shape``) onto the top of the message."""
        self._encode(symbols, dist)

    def pop(self, dist: CodingDistribution) -> np.ndarray:
        """Decode ``dist.size`` symbols (int64, ``dist.shape``) from the top of the message:
        the inverse of ``push(symbols, dist)``."""
        return self._decode(dist)

    def sample(self, dist: CodingDistribution) -> np.ndarray:
        """Pop symbols under ``dist`` from bits that were not pushed under it: a sample from
        ``dist`` (bits-back coding's step), undone by ``push(sample, dist)``.

        Only a closed categorical (:func:`nc_core.coding.closed_categorical`) can be sampled:
        escape digits decoded from arbitrary bits are not canonical, so pushing them back
        would not restore the message.
        """
        if dist.family != "categorical" or not dist.closed:
            raise TypeError(f"a stack samples only closed categorical distributions, not {dist!r:.60}")
        return self._decode(dist)

    def num_bits(self) -> int:
        """The size of the message (whole 32-bit words) in bits."""
        return 32 * len(self._live().get_compressed())

    def to_bytes(self) -> bytes:
        """The message as bytes (the stack stays usable)."""
        return words_to_bytes(self._live().get_compressed())

    def close(self) -> None:
        """Check the message ends with its check word and nothing else (``ValueError``)."""
        self._live()
        self._check_end()


class _stream_errors:
    """Turn whatever constriction raises on bad data (panics included) into ``ValueError``."""

    def __init__(self, coder):
        self._coder = coder

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is None or isinstance(
            exc, (ValueError, KeyboardInterrupt, SystemExit, GeneratorExit)
        ):
            return False
        raise ValueError(f"corrupt or truncated {self._coder.name} stream: {exc}") from exc


# ----------------------------------------------------------------------------- escapes


def _split(x: np.ndarray, lo: int, hi: int, mn=None, mx=None):
    """:func:`~nc_core.coding.edge_split` with fast paths: ``(clipped, magnitudes or None)``.

    Nothing at an edge (the common case): ``(x, None)`` after one min and one max (or none,
    given ``mn`` / ``mx``). All in the support but some at an edge: ``(x, zeros)`` after
    counting the edge symbols.
    """
    if x.size == 0:
        return x, None
    if mn is None:
        mn, mx = x.min(), x.max()
    if lo < mn and mx < hi:
        return x, None
    if lo <= mn and mx <= hi:
        return x, np.zeros(_edge_count(x, lo, hi, mn, mx), dtype=np.uint64)
    return edge_split(x, lo, hi)


def _edge_count(values: np.ndarray, lo: int, hi: int, mn=None, mx=None) -> int:
    """How many in-support ``values`` sit on an edge (so carry an overflow magnitude)."""
    if values.size == 0:
        return 0
    if mn is None:
        mn, mx = values.min(), values.max()
    return (np.count_nonzero(values == lo) if mn == lo else 0) + (
        np.count_nonzero(values == hi) if mx == hi else 0
    )


_models: dict = {}


def _model(kind: str):
    """Shared constriction models (constriction is imported only when a coder is used)."""
    if not _models:
        import constriction

        m = constriction.stream.model
        _models.update(
            m=m,
            count=m.Uniform(OVERFLOW_MAX_CHUNKS + 1),
            chunk=m.Uniform(1 << OVERFLOW_CHUNK_BITS),
            uniform=m.Uniform(),
            categorical=m.Categorical(perfect=False),
        )
    return _models[kind]


#: every stream ends (in decode order) with this check word, coded as two uniform 16-bit digits
CHECK_WORD = (0x6E63, 0xC0DE)


def _check_op():
    return np.array(CHECK_WORD, dtype=np.int32), _model("chunk")


def _overflow_ops(mags) -> list:
    """Ops coding overflow magnitudes (after the symbols they belong to, in decode order)."""
    if mags is None or len(mags) == 0:
        return []
    counts, chunks = overflow_digits(mags)
    return [(counts.astype(np.int32), _model("count")), (chunks.astype(np.int32), _model("chunk"))]


def _pop_overflow(dec: _Stream, n: int) -> np.ndarray:
    counts = dec.pop_raw(_model("count"), int(n))
    chunks = dec.pop_raw(_model("chunk"), int(counts.sum(dtype=np.int64)))
    return overflow_from_digits(counts, chunks)


def _decode_escapes(dec: _Stream, clipped: np.ndarray, lo: int, hi: int) -> np.ndarray:
    n = _edge_count(clipped, lo, hi)
    return edge_merge(clipped, lo, hi, _pop_overflow(dec, n)) if n else clipped


def _merge_ops(ops: list, mags) -> list:
    return ops + _overflow_ops(mags)


# ------------------------------------------------------------------------ probability rows


def _rows(p: np.ndarray) -> np.ndarray:
    """Probability rows constriction can normalise: ``p`` itself when every row sum is a
    moderate positive number, else rows rescaled by their maximum (all-zero rows: uniform)."""
    total = p.sum(axis=-1)
    if np.all((total > 1e-100) & (total < 1e100)):
        return p
    m = p.max(axis=-1, keepdims=True)
    return np.divide(p, m, out=np.ones_like(p), where=m > 0)


def _check_alphabet(k: int, what: str) -> None:
    if k > MAX_ALPHABET:
        raise ValueError(f"{what} of {k} symbols exceeds the coder's limit of {MAX_ALPHABET}")


class _FamilyCodec:
    def encode(self, x: np.ndarray, dist) -> list:
        """Ops in decode order: ``(int32 symbols, model, *params)`` tuples, or callables
        returning lists of them (lazily built chunks)."""
        raise NotImplementedError

    def decode(self, dec: _Stream, dist) -> np.ndarray:
        """Flat int64 symbols."""
        raise NotImplementedError


# -------------------------------------------------------------------- continuous families


class _Continuous(_FamilyCodec):
    """gaussian / laplace / logistic: native constriction model or windowed tables."""

    def __init__(self, native: str | None):
        self.native = native  # constriction model name, or None

    def _native_model(self, dist):
        k = dist.hi - dist.lo + 1
        if (
            self.native is None
            or k > NATIVE_MAX_SUPPORT
            or dist.lo < -(1 << 31)
            or dist.hi >= 1 << 31
        ):
            return None
        return getattr(_model("m"), self.native)(dist.lo, dist.hi)

    def encode(self, x, dist):
        clipped, mags = _split(x, dist.lo, dist.hi)
        model = self._native_model(dist)
        loc, scale = dist.loc.reshape(-1), dist.scale.reshape(-1)
        if model is not None:
            return _merge_ops([(clipped.astype(np.int32), model, loc, scale)], mags)
        win = _Window(dist)
        chunks = [
            (
                lambda s=s: win.encode_chunk(
                    clipped[s : s + CHUNK], loc[s : s + CHUNK], scale[s : s + CHUNK]
                )
            )
            for s in range(0, x.size, CHUNK)
        ]
        return _merge_ops(chunks, mags)

    def decode(self, dec, dist):
        model = self._native_model(dist)
        loc, scale = dist.loc.reshape(-1), dist.scale.reshape(-1)
        if model is not None:
            clipped = dec.pop_raw(model, loc, scale).astype(np.int64)
        else:
            win = _Window(dist)
            clipped = np.empty(dist.size, dtype=np.int64)
            for s in range(0, dist.size, CHUNK):
                clipped[s : s + CHUNK] = win.decode_chunk(
                    dec, loc[s : s + CHUNK], scale[s : s + CHUNK]
                )
        return _decode_escapes(dec, clipped, dist.lo, dist.hi)


class _Window:
    """Per-symbol categorical rows for a quantized symmetric location-scale density.

    Narrow support (``K <= 2 * WINDOW_BINS``): one row entry per support symbol. Otherwise
    ``WINDOW_BINS`` bins of width ``w = 2**e`` starting at ``a`` plus a left-tail bin
    ``[lo, a - 1]`` and a right-tail bin ``[a + WINDOW_BINS * w, hi]``; the position inside a
    bin is coded as Uniform(w), a tail symbol's distance from the window as overflow digits.
    """

    def __init__(self, dist):
        self.F = dist.standard_cdf
        self.lo, self.hi = int(dist.lo), int(dist.hi)
        self.k = self.hi - self.lo + 1
        self.narrow = self.k <= 2 * WINDOW_BINS
        # bins of 2**e with WINDOW_BINS * 2**e <= K, so the window always fits in the support
        self.max_exp = min(WINDOW_MAX_EXP, (self.k // WINDOW_BINS).bit_length() - 1)

    def _params(self, loc, scale):
        lo_f, hi_f = float(self.lo), float(self.hi)
        mu = np.clip(np.nan_to_num(loc, nan=0.0), lo_f - 1.0, hi_f + 1.0)
        s = np.clip(scale, 1e-300, 1e300)
        return mu, s

    def _masses(self, z: np.ndarray) -> np.ndarray:
        """Mass between consecutive standardized boundaries (last axis), accurate in both
        tails: from the smaller tail ``G(z) = F(-|z|)`` (one CDF evaluation per boundary)."""
        g = self.F(-np.abs(z))
        gl, gu = g[:, :-1], g[:, 1:]
        lower, upper = z[:, :-1], z[:, 1:]
        m = np.where(lower >= 0, gl - gu, np.where(upper <= 0, gu - gl, 1.0 - gl - gu))
        return np.maximum(m, 0.0)

    def _layout(self, loc, scale):
        """``(rows, a, e)`` for a chunk (``a``, ``e`` only for the wide layout)."""
        with np.errstate(over="ignore", under="ignore", divide="ignore"):  # z = +-inf is fine
            return self._layout_unchecked(loc, scale)

    def _layout_unchecked(self, loc, scale):
        mu, s = self._params(loc, scale)
        if self.narrow:
            t = (float(self.lo) - mu)[:, None] + (np.arange(self.k + 1) - 0.5)[None, :]
            return _rows(self._masses(t / s[:, None])), None, None
        nb = WINDOW_BINS
        e = np.ceil(np.log2(np.maximum(2.0 * WINDOW_TAIL * s / nb, 1.0)))
        e = np.clip(e, 0, self.max_exp).astype(np.int64)
        width = np.left_shift(np.int64(1), e) * nb  # window width, <= K
        c = np.floor(mu)
        a = np.clip(c, -SUPPORT_LIMIT, SUPPORT_LIMIT).astype(np.int64) - width // 2
        a = np.minimum(np.maximum(a, self.lo), self.hi - width + 1)
        frac = mu - c
        start = (a.astype(np.float64) - c) - 0.5 - frac  # window start - mu
        j = np.arange(nb + 1, dtype=np.float64)
        t = np.empty((len(a), nb + 3))
        t[:, 0] = float(self.lo) - 0.5 - mu
        t[:, 1:-1] = start[:, None] + j[None, :] * np.exp2(e.astype(np.float64))[:, None]
        t[:, -1] = float(self.hi) + 0.5 - mu
        m = self._masses(t / s[:, None])
        m[a == self.lo, 0] = 0.0  # empty tails
        m[a + width - 1 == self.hi, -1] = 0.0
        return _rows(m), a, e

    def encode_chunk(self, x, loc, scale) -> list:
        rows, a, e = self._layout(loc, scale)
        cat = _model("categorical")
        if self.narrow:
            return [((x - self.lo).astype(np.int32), cat, rows)]
        nb = WINDOW_BINS
        end = a + (np.left_shift(np.int64(1), e) * nb - 1)  # last symbol of the window
        left, right = x < a, x > end
        rel = x - a
        col = np.where(left, 0, np.where(right, nb + 1, 1 + np.right_shift(rel, e)))
        ops = [(col.astype(np.int32), cat, rows)]
        inner = ~(left | right) & (e > 0)
        if inner.any():
            ei = e[inner]
            offs = rel[inner] & (np.left_shift(np.int64(1), ei) - 1)
            ops.append(
                (offs.astype(np.int32), _model("uniform"), np.left_shift(1, ei).astype(np.int32))
            )
        tail = left | right
        if tail.any():
            d = np.where(left, a - 1 - x, x - end - 1)[tail]
            ops += _overflow_ops(d)
        return ops

    def decode_chunk(self, dec: _Stream, loc, scale) -> np.ndarray:
        rows, a, e = self._layout(loc, scale)
        col = dec.pop_raw(_model("categorical"), rows).astype(np.int64)
        if self.narrow:
            return col + self.lo
        nb = WINDOW_BINS
        end = a + (np.left_shift(np.int64(1), e) * nb - 1)
        left, right = col == 0, col == nb + 1
        x = a + np.left_shift(np.maximum(col - 1, 0), e)
        inner = ~(left | right) & (e > 0)
        if inner.any():
            sizes = np.left_shift(1, e[inner]).astype(np.int32)
            x[inner] += dec.pop_raw(_model("uniform"), sizes)
        tail = left | right
        if tail.any():
            d = _pop_overflow(dec, np.count_nonzero(tail))
            room = np.where(left, a - self.lo, self.hi - end)[tail] - 1  # >= 0 in a valid stream
            if np.any(room < 0) or np.any(d > room.astype(np.uint64)):
                raise ValueError("corrupt stream: tail symbol outside the support")
            d = d.astype(np.int64)
            x[tail] = np.where(left[tail], a[tail] - 1 - d, end[tail] + 1 + d)
        return x


# ------------------------------------------------------------------- categorical families


class _Categorical(_FamilyCodec):
    def _setup(self, dist):
        k = dist.probs.shape[-1]
        _check_alphabet(k, "categorical table")
        return dist.offset, dist.offset + k - 1

    def encode(self, x, dist):
        lo, hi = self._setup(dist)
        if dist.closed:
            if x.size and (x.min() < lo or x.max() > hi):
                raise ValueError(f"symbols outside the closed categorical range [{lo}, {hi}]")
            clipped, mags = x, None
        else:
            clipped, mags = _split(x, lo, hi)
        rel = (clipped - lo).astype(np.int32)
        if dist.probs.ndim == 1:
            model = _model("m").Categorical(_rows(dist.probs), perfect=False)
            return _merge_ops([(rel, model)], mags)
        cat, rows = _model("categorical"), max(1, CHUNK * 128 // dist.probs.shape[1])
        chunks = [
            (lambda s=s: [(rel[s : s + rows], cat, _rows(dist.probs[s : s + rows]))])
            for s in range(0, rel.size, rows)
        ]
        return _merge_ops(chunks, mags)

    def decode(self, dec, dist):
        lo, hi = self._setup(dist)
        if dist.probs.ndim == 1:
            model = _model("m").Categorical(_rows(dist.probs), perfect=False)
            rel = dec.pop_raw(model, int(dist.size))
        else:
            cat, rows = _model("categorical"), max(1, CHUNK * 128 // dist.probs.shape[1])
            rel = np.empty(dist.size, dtype=np.int32)
            for s in range(0, dist.size, rows):
                rel[s : s + rows] = dec.pop_raw(cat, _rows(dist.probs[s : s + rows]))
        if dist.closed:
            return rel.astype(np.int64) + lo
        return _decode_escapes(dec, rel.astype(np.int64) + lo, lo, hi)


class _Tables(_FamilyCodec):
    """IndexedTables: group by table index, one i.i.d. model per table used."""

    @staticmethod
    def _setup(dist):
        """``(order, groups)``: the stable permutation grouping symbols by table (None when the
        index is already sorted) and the used tables' ``_Groups``."""
        t, width = dist.pmfs.shape
        _check_alphabet(width, "probability table")
        if not (np.all(np.isfinite(dist.pmfs)) and np.all(dist.pmfs >= 0)):
            raise ValueError("table probabilities must be finite and non-negative")
        index = dist.index.reshape(-1)
        if index.size > 1 and np.any(index[1:] < index[:-1]):
            small = np.uint8 if t <= 1 << 8 else np.uint16 if t <= 1 << 16 else np.int64
            order = np.argsort(index.astype(small), kind="stable")
            sorted_index = index[order]
        else:
            order, sorted_index = None, index
        bounds = np.searchsorted(sorted_index, np.arange(t + 1))
        used = np.flatnonzero(bounds[1:] > bounds[:-1])
        pmfs = _rows(np.where(np.arange(width) < dist.lengths[:, None], dist.pmfs, 0.0))
        cat = _model("m").Categorical
        models = [
            cat(pmfs[i, :k], perfect=False)
            for i, k in zip(used.tolist(), dist.lengths[used].tolist(), strict=True)
        ]
        lo = dist.offsets[used]
        return order, _Groups(
            bounds[used], bounds[used + 1], lo, lo + dist.lengths[used] - 1, models
        )

    def encode(self, x, dist):
        order, g = self._setup(dist)
        xs = x if order is None else x[order]
        rel, mins, maxs = g.scan(xs)  # rel wraps where a symbol is far outside: redone below
        mags = []
        for i in np.flatnonzero((mins <= g.lo) | (maxs >= g.hi)).tolist():
            s, e, lo, hi = int(g.start[i]), int(g.end[i]), int(g.lo[i]), int(g.hi[i])
            seg = xs[s:e]
            clipped, m = _split(seg, lo, hi, mins[i], maxs[i])
            mags.append(m)
            if clipped is not seg:
                np.subtract(clipped, np.int64(lo), out=rel[s:e], casting="unsafe")
        ops = [
            (rel[s:e], model)
            for s, e, model in zip(g.start.tolist(), g.end.tolist(), g.models, strict=True)
        ]
        return _merge_ops(ops, np.concatenate(mags) if mags else None)

    def decode(self, dec, dist):
        order, g = self._setup(dist)
        out = np.empty(dist.size, dtype=np.int64)
        for s, e, lo, model in zip(
            g.start.tolist(), g.end.tolist(), g.lo.tolist(), g.models, strict=True
        ):
            np.add(dec.pop_raw(model, e - s), np.int64(lo), out=out[s:e])
        mins, maxs = g.ranges(out)
        edges = []
        for i in np.flatnonzero((mins == g.lo) | (maxs == g.hi)).tolist():
            s, e, lo, hi = int(g.start[i]), int(g.end[i]), int(g.lo[i]), int(g.hi[i])
            edges.append((s, e, lo, hi, _edge_count(out[s:e], lo, hi, mins[i], maxs[i])))
        if edges:
            mags = _pop_overflow(dec, sum(k for *_, k in edges))
            p = 0
            for s, e, lo, hi, k in edges:
                out[s:e] = edge_merge(out[s:e], lo, hi, mags[p : p + k])
                p += k
        if order is None:
            return out
        flat = np.empty_like(out)
        flat[order] = out
        return flat


@attrs.frozen
class _Groups:
    """Consecutive runs ``[start, end)`` of grouped symbols, one per table used, tiling them."""

    start: np.ndarray
    end: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    models: list

    def ranges(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-group min and max of ``values`` (two vectorized passes)."""
        if not self.models:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.minimum.reduceat(values, self.start), np.maximum.reduceat(values, self.start)

    def scan(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rel, mins, maxs)``: int32 ``values - lo`` per group (wrapping around where a value
        is far outside its support) and per-group min and max of ``values``.

        Works through blocks of whole groups of about :data:`SCAN_BLOCK` symbols so that the
        values are read from memory once, not three times.
        """
        n, count = values.size, len(self.models)
        rel = np.empty(n, dtype=np.int32)
        mins, maxs = np.empty(count, np.int64), np.empty(count, np.int64)
        sizes = self.end - self.start
        equal = count > 0 and bool(np.all(sizes == sizes[0]))  # e.g. C x H x W, table = channel
        cuts = np.searchsorted(self.start, np.arange(0, n, SCAN_BLOCK), side="right") - 1
        cuts = [*np.unique(np.maximum(cuts, 0)).tolist(), count]
        for g0, g1 in itertools.pairwise(cuts):
            bs, be = int(self.start[g0]), int(self.end[g1 - 1])
            block, lo = values[bs:be], self.lo[g0:g1]
            first = self.start[g0:g1] - bs
            mins[g0:g1] = np.minimum.reduceat(block, first)
            maxs[g0:g1] = np.maximum.reduceat(block, first)
            if equal:
                shape = (g1 - g0, int(sizes[0]))
                out = rel[bs:be].reshape(shape)
                np.subtract(block.reshape(shape), lo[:, None], out=out, casting="unsafe")
            else:
                for s, e, o in zip(
                    first.tolist(), (first + sizes[g0:g1]).tolist(), lo.tolist(), strict=True
                ):
                    np.subtract(block[s:e], np.int64(o), out=rel[bs + s : bs + e], casting="unsafe")
        return rel, mins, maxs


_CODECS: dict[str, _FamilyCodec] = {
    "gaussian": _Continuous("QuantizedGaussian"),
    "laplace": _Continuous("QuantizedLaplace"),
    "logistic": _Continuous(None),
    "categorical": _Categorical(),
    "tables": _Tables(),
}
assert set(_CODECS) == set(FAMILIES)
