"""Coding distributions: the seam between probability models and entropy coders.

A probability model never talks to a coder directly. It hands over a *coding distribution*:
a small, explicit description of the discrete distribution of every symbol. Any coder that
supports a distribution's ``family`` can code it, so every model works with every coder.

Families
--------
``gaussian`` / ``laplace`` / ``logistic``
    :class:`QuantizedGaussian`, :class:`QuantizedLaplace`, :class:`QuantizedLogistic`: a
    continuous density with per-symbol ``loc`` and ``scale``, integrated over the unit bins
    ``[k - 1/2, k + 1/2]`` for the integers ``k`` in ``[lo, hi]`` and renormalised on that
    support (the tails beyond ``lo - 1/2`` and ``hi + 1/2`` are cut off).
``categorical``
    :class:`Categorical`: an explicit probability table, shared by all symbols (shape
    ``(K,)``) or one row per symbol (shape ``(n, K)``), over ``offset .. offset + K - 1``.
``tables``
    :class:`IndexedTables`: a bank of ``T`` probability tables (learned CDF tables, as a deep
    factorized prior or a hyperprior's scale table produces) and, for every symbol, the
    integer index of the table it uses.

Escape (overflow) scheme, shared by every coder
-----------------------------------------------
Every family has a finite support ``[lo, hi]`` per symbol. A symbol outside it is still coded
losslessly: the coder codes the nearest edge symbol (``lo`` or ``hi``), and, for every symbol
that decoded to an edge, an *overflow magnitude* ``m >= 0`` follows (``x = hi + m`` or
``x = lo - m``), coded with :func:`overflow_digits` as an Elias-gamma style code of uniform
digits. Symbols strictly inside the support cost nothing extra; an edge symbol costs its model
probability plus ``overflow_bits(m)``. Nothing is ever clipped silently.
A *closed* categorical (:func:`closed_categorical`) opts out: its edges are ordinary symbols
and a symbol outside its range is refused (``ValueError``).

:func:`information_bits` is the exact ideal cost ``-sum log2 P(x)`` of a symbol array under a
distribution *including* overflow digits: the number a real coder's output is compared with.
"""

from __future__ import annotations

import math
from typing import ClassVar, Union

import attrs
import numpy as np

__all__ = [
    "CodingDistribution",
    "QuantizedGaussian",
    "QuantizedLaplace",
    "QuantizedLogistic",
    "Categorical",
    "IndexedTables",
    "FAMILIES",
    "bin_masses",
    "closed_categorical",
    "information_bits",
    "edge_split",
    "overflow_digits",
    "overflow_from_digits",
    "OVERFLOW_CHUNK_BITS",
    "OVERFLOW_MAX_CHUNKS",
]

#: overflow magnitudes are coded as a chunk count (uniform over 0..OVERFLOW_MAX_CHUNKS) followed
#: by that many uniform chunks of OVERFLOW_CHUNK_BITS bits each.
OVERFLOW_CHUNK_BITS = 16
OVERFLOW_MAX_CHUNKS = 4  # 64-bit magnitudes at most


def _as_float(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


def _as_int(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.int64))


@attrs.frozen(eq=False)
class _QuantizedContinuous:
    """Per-symbol quantized continuous density on the integers ``lo .. hi``."""

    family: ClassVar[str]
    loc: np.ndarray = attrs.field(converter=_as_float)
    scale: np.ndarray = attrs.field(converter=_as_float)
    lo: int = attrs.field(converter=int)
    hi: int = attrs.field(converter=int)

    def __attrs_post_init__(self):
        if self.loc.shape != self.scale.shape:
            raise ValueError(f"loc shape {self.loc.shape} != scale shape {self.scale.shape}")
        if not self.lo < self.hi:
            raise ValueError(f"empty support [{self.lo}, {self.hi}]")
        if not np.all(self.scale > 0):
            raise ValueError("scale must be strictly positive")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.loc.shape

    @property
    def size(self) -> int:
        return self.loc.size

    @staticmethod
    def standard_cdf(z: np.ndarray) -> np.ndarray:
        """CDF of the family's standard density (loc 0, scale 1); every family is symmetric,
        so ``1 - F(z) == F(-z)`` (coders use ``F(-z)`` for accurate upper tails)."""
        raise NotImplementedError  # defined by each family

    def cdf(self, t: np.ndarray) -> np.ndarray:
        return self.standard_cdf((t - self.loc) / self.scale)

    def probabilities(self, symbols: np.ndarray) -> np.ndarray:
        """Probability of each in-support symbol (float64, ideal, before coder quantization)."""
        k = _as_int(symbols).reshape(self.shape).astype(np.float64)
        total = self._mass(self.lo - 0.5, self.hi + 0.5)
        return self._mass(k - 0.5, k + 0.5) / total

    def _mass(self, a, b):
        """Mass of ``[a, b]``; above ``loc`` as ``F(-za) - F(-zb)`` (upper tails stay accurate)."""
        za, zb = (a - self.loc) / self.scale, (b - self.loc) / self.scale
        f = self.standard_cdf
        return np.where(za >= 0, f(-za) - f(-zb), f(zb) - f(za))


class QuantizedGaussian(_QuantizedContinuous):
    """Gaussian with per-symbol mean ``loc`` and standard deviation ``scale``."""

    family = "gaussian"

    @staticmethod
    def standard_cdf(z):
        from scipy.special import ndtr

        return ndtr(z)


class QuantizedLaplace(_QuantizedContinuous):
    """Laplace with per-symbol location ``loc`` and scale (diversity) ``scale``."""

    family = "laplace"

    @staticmethod
    def standard_cdf(z):
        z = np.asarray(z, dtype=np.float64)
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))


class QuantizedLogistic(_QuantizedContinuous):
    """Logistic with per-symbol location ``loc`` and scale ``scale``."""

    family = "logistic"

    @staticmethod
    def standard_cdf(z):
        from scipy.special import expit

        return expit(z)


@attrs.frozen(eq=False)
class Categorical:
    """Explicit probability table(s) over ``offset .. offset + K - 1``.

    ``probs`` is ``(K,)`` (every symbol of ``shape`` uses it) or ``(n, K)`` (row ``i`` for
    symbol ``i``; then ``shape`` defaults to ``(n,)``). Rows need not be normalised.

    ``closed=True`` (see :func:`closed_categorical`) drops the escape scheme: symbols must lie
    in the range, and the edges cost only their probability.
    """

    family: ClassVar[str] = "categorical"
    probs: np.ndarray = attrs.field(converter=_as_float)
    offset: int = attrs.field(default=0, converter=int)
    shape: tuple[int, ...] = attrs.field(default=None)
    closed: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self):
        if self.probs.ndim not in (1, 2) or self.probs.shape[-1] < 2:
            raise ValueError(f"probs must be (K,) or (n, K) with K >= 2, got {self.probs.shape}")
        if not (np.all(np.isfinite(self.probs)) and np.all(self.probs >= 0)):
            raise ValueError("probs must be finite and non-negative")
        if self.shape is None:
            if self.probs.ndim == 1:
                raise ValueError("shape is required with a shared (K,) table")
            object.__setattr__(self, "shape", (self.probs.shape[0],))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.probs.ndim == 2 and self.probs.shape[0] != math.prod(self.shape):
            raise ValueError(f"{self.probs.shape[0]} table rows for shape {self.shape}")

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def lo(self) -> int:
        return self.offset

    @property
    def hi(self) -> int:
        return self.offset + self.probs.shape[-1] - 1

    def probabilities(self, symbols: np.ndarray) -> np.ndarray:
        k = _as_int(symbols).reshape(-1) - self.offset
        p = self.probs / self.probs.sum(axis=-1, keepdims=True)
        if p.ndim == 1:
            return p[k].reshape(self.shape)
        return p[np.arange(p.shape[0]), k].reshape(self.shape)


def bin_masses(t: np.ndarray, cdf) -> np.ndarray:
    """Masses of the bins between consecutive standardised edges ``t`` (last axis, from
    ``-inf`` to ``+inf``) under a symmetric distribution with CDF ``cdf``: bins below the
    centre from the CDF, bins above it from the survival function ``cdf(-t)``, so small
    masses in either tail keep their precision. Element by element: with a scalar ``cdf``
    (scipy's ``ndtr``, ``expit``) the result does not depend on the array's shape."""
    lower = np.diff(cdf(t), axis=-1)
    upper = -np.diff(cdf(-t), axis=-1)
    return np.maximum(np.where(t[..., :-1] >= 0, upper, lower), 0.0)


def closed_categorical(probs, offset: int = 0, shape=None) -> Categorical:
    """A :class:`Categorical` over ``offset .. offset + K - 1`` without escapes: a symbol
    outside the range is an error, so the edge symbols cost only their probability and no
    overflow digit is ever written or read. Data whose extreme values are common (pixels at 0
    and 255) codes cheaper this way, and it is the only form a stack can *sample*
    (:meth:`nc_core.coders.Stack.sample`): a sample is always in the range."""
    return Categorical(probs, offset, shape, closed=True)


@attrs.frozen(eq=False)
class IndexedTables:
    """A bank of probability tables and, per symbol, the index of its table.

    Table ``t`` covers ``offsets[t] .. offsets[t] + lengths[t] - 1``; its probabilities are
    ``pmfs[t, :lengths[t]]`` (rows are zero-padded to a common width and need not be
    normalised). ``index`` has the symbols' shape.
    """

    family: ClassVar[str] = "tables"
    pmfs: np.ndarray = attrs.field(converter=_as_float)
    offsets: np.ndarray = attrs.field(converter=_as_int)
    lengths: np.ndarray = attrs.field(converter=_as_int)
    index: np.ndarray = attrs.field(converter=_as_int)

    def __attrs_post_init__(self):
        t = self.pmfs.shape[0]
        if self.pmfs.ndim != 2 or self.offsets.shape != (t,) or self.lengths.shape != (t,):
            raise ValueError("pmfs must be (T, K) with offsets and lengths of shape (T,)")
        if np.any(self.lengths < 2) or np.any(self.lengths > self.pmfs.shape[1]):
            raise ValueError("every table needs 2 <= length <= pmfs.shape[1]")
        if self.index.size and (self.index.min() < 0 or self.index.max() >= t):
            raise ValueError(f"table index out of range 0..{t - 1}")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.index.shape

    @property
    def size(self) -> int:
        return self.index.size

    @property
    def lo(self) -> np.ndarray:
        """Per-symbol lower edge of the support."""
        return self.offsets[self.index]

    @property
    def hi(self) -> np.ndarray:
        return self.offsets[self.index] + self.lengths[self.index] - 1

    def normalized(self) -> np.ndarray:
        """``pmfs`` with each row's valid part normalised to 1 and the padding zeroed."""
        cols = np.arange(self.pmfs.shape[1])
        p = np.where(cols[None, :] < self.lengths[:, None], self.pmfs, 0.0)
        return p / p.sum(axis=1, keepdims=True)

    def probabilities(self, symbols: np.ndarray) -> np.ndarray:
        k = _as_int(symbols).reshape(self.shape) - self.lo
        return self.normalized()[self.index, k]


CodingDistribution = Union[
    QuantizedGaussian, QuantizedLaplace, QuantizedLogistic, Categorical, IndexedTables
]

#: family name -> distribution class
FAMILIES: dict[str, type] = {
    cls.family: cls
    for cls in (QuantizedGaussian, QuantizedLaplace, QuantizedLogistic, Categorical, IndexedTables)
}


# ---------------------------------------------------------------------------------- escapes


def edge_split(symbols: np.ndarray, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Split symbols into in-support codes and overflow magnitudes.

    Returns ``(clipped, magnitudes)``: ``clipped`` is ``symbols`` clipped to ``[lo, hi]`` (what
    the family codes); ``magnitudes`` (uint64) holds, for every *edge* position of ``clipped`` in
    flat order, the distance ``>= 0`` of the true symbol beyond that edge.
    """
    x = _as_int(symbols)
    clipped = np.clip(x, lo, hi)
    at_edge = edge_mask(clipped, lo, hi)
    x, c = x[at_edge], clipped[at_edge]
    # |x - c| can exceed the int64 range (x near -2**63, hi > 0): take it modulo 2**64, unsigned
    mags = np.where(x >= c, x - c, c - x).view(np.uint64)
    return clipped, mags  # one-dimensional: boolean indexing flattens


def edge_mask(clipped: np.ndarray, lo, hi) -> np.ndarray:
    """Positions whose decoded symbol sits on an edge (and so carries an overflow magnitude)."""
    return (clipped == lo) | (clipped == hi)


def edge_merge(clipped: np.ndarray, lo, hi, magnitudes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`edge_split`: apply decoded magnitudes back onto the edge symbols."""
    x = _as_int(clipped).copy()
    lo_b = np.broadcast_to(lo, x.shape)
    at_edge = edge_mask(x, lo, hi)
    edge = x[at_edge]
    m = np.asarray(magnitudes, dtype=np.uint64).reshape(-1)
    # modulo 2**64 (unsigned) arithmetic: exact whenever the true symbol fits in int64
    u = edge.view(np.uint64)
    x[at_edge] = np.where(edge == lo_b[at_edge], u - m, u + m).view(np.int64)
    return x


def overflow_digits(magnitudes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Digits of overflow magnitudes: ``(counts, chunks)``.

    ``counts[i]`` in ``0..OVERFLOW_MAX_CHUNKS`` is the number of 16-bit chunks of magnitude
    ``i`` (0 for a magnitude of 0); ``chunks`` concatenates those chunks, least significant
    first. Code ``counts`` with a uniform model of size ``OVERFLOW_MAX_CHUNKS + 1`` and
    ``chunks`` with a uniform model of size ``2**OVERFLOW_CHUNK_BITS``.
    """
    m = np.asarray(magnitudes, dtype=np.uint64).reshape(-1)
    counts = np.zeros(m.shape, dtype=np.int64)
    rest = m.copy()
    pieces = []
    mask = np.uint64((1 << OVERFLOW_CHUNK_BITS) - 1)
    for _ in range(OVERFLOW_MAX_CHUNKS):
        live = rest > 0
        counts += live
        pieces.append((rest & mask).astype(np.int64))  # 0 once a magnitude has no digits left
        rest = rest >> np.uint64(OVERFLOW_CHUNK_BITS)
    if len(m) == 0:
        return counts, np.zeros(0, dtype=np.int64)
    digits = np.stack(pieces, axis=1)  # (n, MAX) least significant first
    keep = np.arange(OVERFLOW_MAX_CHUNKS)[None, :] < counts[:, None]
    return counts, digits[keep]


def overflow_from_digits(counts: np.ndarray, chunks: np.ndarray) -> np.ndarray:
    """Inverse of :func:`overflow_digits` (uint64 magnitudes)."""
    counts = _as_int(counts).reshape(-1)
    if np.any(counts < 0) or np.any(counts > OVERFLOW_MAX_CHUNKS):
        raise ValueError("corrupt overflow chunk count")
    keep = np.arange(OVERFLOW_MAX_CHUNKS)[None, :] < counts[:, None]
    digits = np.zeros((len(counts), OVERFLOW_MAX_CHUNKS), dtype=np.uint64)
    digits[keep] = np.asarray(chunks, dtype=np.uint64)
    shifts = np.uint64(OVERFLOW_CHUNK_BITS) * np.arange(OVERFLOW_MAX_CHUNKS, dtype=np.uint64)
    return (digits << shifts[None, :]).sum(axis=1, dtype=np.uint64)


def overflow_bits(magnitudes: np.ndarray) -> float:
    """Ideal cost in bits of coding these overflow magnitudes."""
    counts, chunks = overflow_digits(magnitudes)
    return len(counts) * math.log2(OVERFLOW_MAX_CHUNKS + 1) + len(chunks) * OVERFLOW_CHUNK_BITS


def information_bits(symbols: np.ndarray, dist: CodingDistribution) -> float:
    """Ideal code length ``-sum log2 P(x)`` in bits, overflow digits included."""
    if getattr(dist, "closed", False):
        return float(-np.log2(dist.probabilities(np.asarray(symbols).reshape(dist.shape))).sum())
    clipped, mags = edge_split(np.asarray(symbols).reshape(dist.shape), dist.lo, dist.hi)
    p = dist.probabilities(clipped)
    return float(-np.log2(p).sum()) + overflow_bits(mags)
