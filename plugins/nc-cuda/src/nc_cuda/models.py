"""Integer models: every :mod:`nc_core.coding` family as exact integer CDFs over ``M = 2**PREC``.

All arithmetic after reading the distribution's float64 parameters is in int64, and those
reads are exact operations (comparisons, ``floor``, multiplication by powers of two, one
correctly rounded division for tables), so a CPU and a GPU compute the same CDFs.

Continuous families (``gaussian``, ``laplace``, ``logistic``)
    ``loc`` is clamped to ``[lo - 1, hi + 1]`` and kept as an integer ``c`` plus a 16-bit
    fraction; ``scale`` is rounded to its level (:mod:`nc_cuda.tables`). A symbol is coded as
    its bin: one of ``nb`` window bins of ``2**e`` integers centred on ``c``, or a tail bin left
    or right of the window (within ``[lo, hi]``; empty tails have no probability). A bin's
    probability comes from the family's integer CDF at its edges, renormalised on
    ``[lo, hi]`` so that every non-empty bin has at least ``1 / M``. Then, in later segments
    (decode order): the position inside a window bin (``e`` bits, 15-bit uniform digits) and a
    tail symbol's distance from the window (overflow digits).
``tables`` and ``categorical``
    each table row quantized to integers (``floor(p / max(p) * 2**30)``) and renormalised to
    ``M`` the same way (every entry at least ``1 / M``); a shared ``(K,)`` categorical is one
    table, ``(n, K)`` rows are n tables.
Escapes
    nc's scheme (:mod:`nc_core.coding`): a symbol outside the support is coded as the nearest
    edge, and every edge symbol is followed by its overflow magnitude (counts uniform over
    0..4, then 16-bit chunks as two uniform bytes), after the group's other segments.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from nc_core.coding import OVERFLOW_CHUNK_BITS, OVERFLOW_MAX_CHUNKS
from nc_cuda.lanes import PREC, M
from nc_cuda.tables import (
    FAMILY_TABLES,
    GRID_BITS,
    LEVELS,
    LOC_FRAC,
    MAX_BINS,
    Z_FRAC,
    level_thresholds,
    scale_levels,
)

__all__ = ["MAX_ALPHABET", "Continuous", "Tables", "overflow_ops", "uniform_ops"]

#: the widest table row (every entry needs at least 1 of M)
MAX_ALPHABET = M // 2
_Q_BITS = 30  # table probabilities as integers of this many bits
_DIGIT = PREC  # bits of one uniform digit of an in-bin position
_FAR = 1 << 40  # distances past this many integers are all "far" (the CDF is flat there)
_SEARCH = 8  # binary-search steps over at most MAX_BINS + 2 bins
assert MAX_BINS + 2 <= 1 << _SEARCH


@functools.cache
def _device_tensors(device: torch.device) -> dict:
    lv = scale_levels()
    out = {k: torch.from_numpy(v).to(device) for k, v in lv.items()}
    out["thresholds"] = torch.from_numpy(level_thresholds()).to(device)
    for name, fam in FAMILY_TABLES.items():
        out[name] = torch.from_numpy(fam.grid).to(device)
    return out


def _tensor(a, dtype, device: torch.device) -> torch.Tensor:
    """A copy of array ``a`` on ``device`` (distributions' arrays may be read-only)."""
    return torch.tensor(np.asarray(a, dtype=dtype), device=device)


def bisect(cdf, slot: torch.Tensor, bins: torch.Tensor, steps: int):
    """``(j, start, freq)``: per op, the last bin ``j`` with ``cdf(j) <= slot``, where ``cdf`` is
    nondecreasing from ``cdf(0) = 0`` to ``cdf(bins) = M``; ``steps`` must reach
    ``ceil(log2(max bins))``. Every op takes the same steps (no data-dependent loop)."""
    lo, hi = torch.zeros_like(slot), bins
    c_lo, c_hi = torch.zeros_like(slot), torch.full_like(slot, M)
    for _ in range(steps):
        mid = (lo + hi) >> 1
        c_mid = cdf(mid)
        ok = c_mid <= slot
        lo, c_lo = torch.where(ok, mid, lo), torch.where(ok, c_mid, c_lo)
        hi, c_hi = torch.where(ok, hi, mid), torch.where(ok, c_hi, c_mid)
    return lo, c_lo, c_hi - c_lo


# ------------------------------------------------------------------------------ uniform


def uniform_ops(values: torch.Tensor, sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(start, freq)`` of values coded uniformly over ``0 .. size - 1`` (``size <= M``):
    ``M // size`` each, the last value taking the remainder."""
    f = M // sizes
    last = values == sizes - 1
    return values * f, torch.where(last, M - (sizes - 1) * f, f)


def uniform_lookup(sizes: torch.Tensor):
    """The decode lookup of :func:`uniform_ops` with per-op ``sizes``."""

    def lookup(slot, i0, i1):
        k = sizes[i0:i1]
        v = torch.minimum(slot // (M // k), k - 1)
        start, freq = uniform_ops(v, k)
        return v, start, freq

    return lookup


# ---------------------------------------------------------------------------- overflow


def overflow_digits(mags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nc_core.coding.overflow_digits` for int64 magnitudes read as unsigned 64-bit
    (two's complement): ``(counts, chunks)``."""
    if mags.numel() == 0:
        return mags.clone(), mags.clone()
    shifts = torch.arange(OVERFLOW_MAX_CHUNKS, device=mags.device) * OVERFLOW_CHUNK_BITS
    digits = (mags[:, None] >> shifts) & ((1 << OVERFLOW_CHUNK_BITS) - 1)  # arithmetic shift, masked
    nonzero = digits != 0
    # count = 1 + index of the highest nonzero chunk (0 for a magnitude of 0)
    idx = torch.arange(1, OVERFLOW_MAX_CHUNKS + 1, device=mags.device)
    counts = (nonzero * idx).amax(dim=1)
    keep = idx[None, :] <= counts[:, None]
    return counts, digits[keep]


def overflow_ops(mags: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The two segments coding ``mags``: counts (uniform over 0..OVERFLOW_MAX_CHUNKS) and the
    chunks' bytes (uniform 256, low byte first)."""
    counts, chunks = overflow_digits(mags)
    counts_ops = uniform_ops(counts, torch.full_like(counts, OVERFLOW_MAX_CHUNKS + 1))
    b = torch.stack([chunks & 255, chunks >> 8], dim=1).reshape(-1)
    return counts_ops, uniform_ops(b, torch.full_like(b, 256))


def decode_overflow(dec, count: int) -> torch.Tensor:
    """Decode ``count`` overflow magnitudes (int64, two's complement of the unsigned value)."""
    device = dec.device
    if count == 0:
        return torch.zeros(0, dtype=torch.int64, device=device)
    counts = dec.decode(count, uniform_lookup(torch.full((count,), OVERFLOW_MAX_CHUNKS + 1, device=device)))
    total = int(counts.sum())
    b = dec.decode(2 * total, uniform_lookup(torch.full((2 * total,), 256, device=device)))
    chunks = b[0::2] | (b[1::2] << 8)
    digits = torch.zeros((count, OVERFLOW_MAX_CHUNKS), dtype=torch.int64, device=device)
    idx = torch.arange(1, OVERFLOW_MAX_CHUNKS + 1, device=device)
    keep = idx[None, :] <= counts[:, None]
    digits[keep] = chunks
    shifts = torch.arange(OVERFLOW_MAX_CHUNKS, device=device) * OVERFLOW_CHUNK_BITS
    # a canonical magnitude has a nonzero top chunk; anything else is not what an encoder writes
    top = digits.gather(1, (counts - 1).clamp_min(0)[:, None])[:, 0]
    if bool(torch.any((counts > 0) & (top == 0))):
        raise ValueError(f"corrupt {dec.name} stream: non-canonical overflow digits")
    return (digits << shifts).sum(dim=1)


# -------------------------------------------------------------------------- continuous


#: continuous symbols are modelled this many at a time (the integer CDF's temporaries stay in cache)
CHUNK = 1 << 18


def encode_continuous(x: torch.Tensor, dist, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The segments of clipped continuous symbols ``x``, in decode order: primary bins, in-bin
    digits, then the tail distances' overflow digits (two segments)."""
    loc, scale = _tensor(dist.loc.reshape(-1), np.float64, device), _tensor(dist.scale.reshape(-1), np.float64, device)
    primary, digits, tails = [], [], []
    for s in range(0, x.numel(), CHUNK):
        model = Continuous(dist.family, loc[s:s + CHUNK], scale[s:s + CHUNK], dist.lo, dist.hi)
        p, d, t = model.encode(x[s:s + CHUNK])
        primary.append(p)
        digits.append(d)
        tails.append(t)
    return [_cat(primary), uniform_ops(*_cat(digits)), *overflow_ops(torch.cat(tails))]


def decode_continuous(dec, dist, rows: bool = False) -> torch.Tensor:
    """The clipped symbols of ``dist`` from the decoder (primary bins chunk by chunk, then the
    in-bin digits and tail distances of the whole group); ``rows``: look bins up by
    :meth:`Continuous.lookup_rows`."""
    device = dec.device
    loc, scale = _tensor(dist.loc.reshape(-1), np.float64, device), _tensor(dist.scale.reshape(-1), np.float64, device)
    n = loc.numel()
    x = torch.empty(n, dtype=torch.int64, device=device)
    inner_at, inner_e, tail_at, tail_left, tail_a, tail_end = [], [], [], [], [], []
    for s in range(0, n, CHUNK):
        model = Continuous(dist.family, loc[s:s + CHUNK], scale[s:s + CHUNK], dist.lo, dist.hi)
        j = dec.decode(model.c.numel(), model.lookup_rows if rows else model.lookup)
        a, e, end = model.a, model.e, model.a + model.width
        left, right = j == 0, j == model.nb + 1
        x[s:s + j.numel()] = a + ((j - 1).clamp_min(0) << e)
        inner = ~(left | right) & (e > 0)
        tail = left | right
        inner_at.append(torch.nonzero(inner)[:, 0] + s)
        inner_e.append(e[inner])
        tail_at.append(torch.nonzero(tail)[:, 0] + s)
        tail_left.append(left[tail])
        tail_a.append(a[tail])
        tail_end.append(end[tail])
    at, e = torch.cat(inner_at), torch.cat(inner_e)
    count = _digit_counts(e)
    sizes = _digit_sizes(e, count)
    x[at] += _join_digits(dec.decode(int(sizes.numel()), uniform_lookup(sizes)), count)
    at, left, a, end = torch.cat(tail_at), torch.cat(tail_left), torch.cat(tail_a), torch.cat(tail_end)
    d = decode_overflow(dec, int(at.numel()))
    room = torch.where(left, a - int(dist.lo), int(dist.hi) - end + 1)  # symbols in the tail
    if bool(torch.any((d < 0) | (d >= room))):
        raise ValueError(f"corrupt {dec.name} stream: a tail symbol outside the support")
    x[at] = torch.where(left, a - 1 - d, end + d)
    return x


def _cat(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([a for a, _ in pairs]), torch.cat([b for _, b in pairs])


class Continuous:
    """A quantized continuous family (see the module docstring) for a run of symbols with
    per-symbol ``loc`` and ``scale`` (float64 tensors) on a support ``[lo, hi]``."""

    def __init__(self, family: str, loc: torch.Tensor, scale: torch.Tensor, lo: int, hi: int):
        device = loc.device
        t = _device_tensors(device)
        fam = FAMILY_TABLES[family]
        self.grid, self.grid_offset = t[family], fam.offset
        self.lo, self.hi = int(lo), int(hi)
        loc = torch.nan_to_num(loc, nan=0.0).clamp(float(self.lo) - 1.0, float(self.hi) + 1.0)
        floor = torch.floor(loc)
        frac = torch.floor((loc - floor) * (1 << LOC_FRAC)).to(torch.int64)  # exact steps
        up = frac >= 1 << (LOC_FRAC - 1)
        self.c = floor.to(torch.int64) + up  # the integer nearest loc
        self.frac = frac - up * (1 << LOC_FRAC)  # loc = c + frac / 2**LOC_FRAC, |frac| <= 1/2
        level = torch.searchsorted(t["thresholds"], scale, right=True)
        self.mant, self.shift, self.dmax = t["mant"][level], t["shift"][level], t["dmax"][level]
        bins, exps = _capped_windows(family, self.hi - self.lo + 1)
        self.nb = torch.from_numpy(bins).to(device)[level]
        self.e = torch.from_numpy(exps).to(device)[level]
        w = _pow2(self.e)
        self.width = self.nb << self.e
        a = self.c - (self.nb // 2) * w - w // 2
        self.a = torch.maximum(torch.minimum(a, self.hi - self.width + 1), torch.full_like(a, self.lo))
        self.live_left = (self.a > self.lo).to(torch.int64)
        self.live_right = (self.a + self.width - 1 < self.hi).to(torch.int64)
        self.live = self.nb + self.live_left + self.live_right
        self.a_rel = self.a - self.c  # window edges relative to c: within +-2**31
        self.g0 = self._phi_far(self.lo)
        self.total = self._phi_far(self.hi + 1) - self.g0

    def _view(self, t: torch.Tensor, s: slice, rows: bool) -> torch.Tensor:
        """Per-symbol parameters of symbols ``s``; a column when ``j`` holds a row per symbol."""
        return t[s][:, None] if rows else t[s]

    def _phi(self, rel: torch.Tensor, s: slice, rows: bool = False) -> torch.Tensor:
        """The family's integer CDF at ``c + rel - 1/2`` (``|rel| <= 2**40``)."""
        p = functools.partial(self._view, s=s, rows=rows)
        d = (rel << LOC_FRAC) - (1 << (LOC_FRAC - 1)) - p(self.frac)
        dmax = p(self.dmax)
        d = torch.minimum(torch.maximum(d, -dmax), dmax)
        z = (d * p(self.mant)) >> p(self.shift)
        u = (z + self.grid_offset).clamp(0, 2 * self.grid_offset)
        i = u >> (Z_FRAC - GRID_BITS)
        frac = u & ((1 << (Z_FRAC - GRID_BITS)) - 1)
        g0, g1 = self.grid[i], self.grid[i + 1]
        return g0 + (((g1 - g0) * frac) >> (Z_FRAC - GRID_BITS))

    def _phi_far(self, pos: int) -> torch.Tensor:
        """The family's integer CDF below symbol ``pos`` (a support edge, maybe far away)."""
        rel = torch.minimum(torch.maximum(torch.full_like(self.c, pos), self.c - _FAR), self.c + _FAR) - self.c
        return self._phi(rel, slice(None))

    def cdf(self, j: torch.Tensor, s: slice, rows: bool = False) -> torch.Tensor:
        """The coder's integer CDF (``0 .. M``) below bin ``j`` (``0 .. nb + 2``; ``rows``: ``j``
        is ``k x B``, a row of bins for each symbol of ``s``, and bins past ``nb + 2`` give ``M``)."""
        p = functools.partial(self._view, s=s, rows=rows)
        nb, ll, lr, live, total = p(self.nb), p(self.live_left), p(self.live_right), p(self.live), p(self.total)
        inner = torch.minimum(torch.maximum(j, torch.ones_like(j)), nb + 1)  # window edges: near c
        g = self._phi(p(self.a_rel) + ((inner - 1) << p(self.e)), s, rows) - p(self.g0)
        before = ll * (j >= 1) + torch.minimum((j - 1).clamp_min(0), nb) + lr * (j >= nb + 2)
        value = torch.where(total > 0, (g * (M - live)) // total.clamp_min(1) + before, (before * M) // live)
        return torch.where(j <= 0, 0, torch.where(j >= nb + 2, M, value))

    def encode(self, x: torch.Tensor):
        """``(primary (start, freq), digits (values, sizes), tail distances)`` of the clipped
        symbols ``x``, each list in decode order."""
        s = slice(None)
        a, e, nb = self.a, self.e, self.nb
        end = a + self.width  # first symbol right of the window
        left, right = x < a, x >= end
        j = torch.where(left, 0, torch.where(right, nb + 1, 1 + ((x - a) >> e)))
        lo_c, hi_c = self.cdf(j, s), self.cdf(j + 1, s)
        inner = ~(left | right) & (e > 0)
        values, sizes = _split_digits((x - a)[inner] & (_pow2(e[inner]) - 1), e[inner])
        tails = torch.where(left, a - 1 - x, x - end)[left | right]
        return (lo_c, hi_c - lo_c), (values, sizes), tails

    def lookup_rows(self, slot: torch.Tensor, i0: int, i1: int):
        """:meth:`lookup` by one CDF row per symbol and a sorted search: 16 times the integer
        work of the bisection but a tenth of its operations, which suits a GPU (each
        operation a kernel launch). Both give the same bins."""
        s = slice(i0, i1)
        j = torch.arange(MAX_BINS + 3, device=slot.device).expand(slot.numel(), -1)
        rows = self.cdf(j, s, rows=True)
        b = torch.searchsorted(rows, slot[:, None], right=True) - 1  # the last edge <= slot
        lo, hi = rows.gather(1, b)[:, 0], rows.gather(1, b + 1)[:, 0]
        return b[:, 0], lo, hi - lo

    def lookup(self, slot: torch.Tensor, i0: int, i1: int):
        """Bins of the ops ``i0 .. i1 - 1`` from their slots: a bisection over the bins."""
        s = slice(i0, i1)
        return bisect(lambda j: self.cdf(j, s), slot, self.nb[s] + 2, _SEARCH)


@functools.lru_cache(maxsize=256)  # per support size: bounded
def _capped_windows(family: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per scale level ``(bins, exp)`` for a support of ``k`` integers: the window must fit."""
    bins, exps = FAMILY_TABLES[family].windows
    bins, exps = bins.copy(), exps.copy()
    for lv in range(LEVELS):
        nb, e = int(bins[lv]), int(exps[lv])
        if nb > k:
            bins[lv], exps[lv] = k, 0
        elif nb << e > k:
            exps[lv] = (k // nb).bit_length() - 1
    return bins, exps


def _pow2(e: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(e) << e


def _digit_counts(e: torch.Tensor) -> torch.Tensor:
    return (e + _DIGIT - 1) // _DIGIT


def _digit_sizes(e: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Alphabet sizes of the uniform digits of ``e``-bit numbers, least significant first."""
    k = torch.arange(int(count.max()) if count.numel() else 0, device=e.device)
    bits = (e[:, None] - k[None, :] * _DIGIT).clamp(0, _DIGIT)
    return _pow2(bits)[k[None, :] < count[:, None]]


def _split_digits(v: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    count = _digit_counts(e)
    k = torch.arange(int(count.max()) if count.numel() else 0, device=e.device)
    digits = (v[:, None] >> (k[None, :] * _DIGIT)) & ((1 << _DIGIT) - 1)
    keep = k[None, :] < count[:, None]
    return digits[keep], _digit_sizes(e, count)


def _join_digits(values: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    k = torch.arange(int(count.max()) if count.numel() else 0, device=count.device)
    keep = k[None, :] < count[:, None]
    digits = torch.zeros(keep.shape, dtype=torch.int64, device=count.device)
    digits[keep] = values
    return (digits << (k[None, :] * _DIGIT)).sum(dim=1)


# ------------------------------------------------------------------------------ tables


class Tables:
    """Integer tables for ``tables`` / ``categorical`` distributions of one group."""

    def __init__(self, pmfs: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, index: np.ndarray,
                 device: torch.device, name: str):
        width = pmfs.shape[1]
        if width > MAX_ALPHABET:
            raise ValueError(f"coder {name!r} codes tables of at most {MAX_ALPHABET} symbols, got {width}")
        p = _tensor(pmfs, np.float64, device)
        self.lengths = _tensor(lengths, np.int64, device)
        self.offsets = _tensor(offsets, np.int64, device)
        self.index = _tensor(np.asarray(index).reshape(-1), np.int64, device)
        valid = torch.arange(width, device=device)[None, :] < self.lengths[:, None]
        p = torch.where(valid, p, 0.0)
        top = p.amax(dim=1, keepdim=True)
        q = torch.floor(p / torch.where(top > 0, top, 1.0) * float(1 << _Q_BITS)).to(torch.int64)
        q = torch.where(top > 0, q, valid.to(torch.int64))  # an all-zero row codes as uniform
        self.prefix = torch.cat([torch.zeros_like(q[:, :1]), torch.cumsum(q, dim=1)], dim=1)
        self.total = self.prefix.gather(1, self.lengths[:, None])[:, 0]
        self.stride = width + 1
        self.steps = max(1, int(width - 1).bit_length())

    @property
    def lo(self) -> torch.Tensor:
        return self.offsets[self.index]

    @property
    def hi(self) -> torch.Tensor:
        return self.offsets[self.index] + self.lengths[self.index] - 1

    def cdf(self, rel: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        k = self.lengths[t]
        q = self.prefix.view(-1)[t * self.stride + rel]
        return (q * (M - k)) // self.total[t] + rel

    def encode(self, rel: torch.Tensor):
        t = self.index
        lo_c, hi_c = self.cdf(rel, t), self.cdf(rel + 1, t)
        return lo_c, hi_c - lo_c

    def lookup(self, slot: torch.Tensor, i0: int, i1: int):
        t = self.index[i0:i1]
        return bisect(lambda j: self.cdf(j, t), slot, self.lengths[t], self.steps)
