"""A scalar reference encoder of the lane coder's format: Python integers, one symbol and one
op at a time, written from the format's description (nc_cuda.lanes, nc_cuda.models) rather
than from the vectorised code. Only the format's constants (nc_cuda.tables) are shared; the
escapes use nc_core's own functions."""

from __future__ import annotations

import bisect
import math

import numpy as np
from nc_cuda.tables import FAMILY_TABLES, LEVELS, MAX_BINS, level_thresholds, scale_levels

from nc_core.coding import OVERFLOW_MAX_CHUNKS, edge_split, overflow_digits

PREC, M, L = 15, 1 << 15, 1 << 16
FAR = 1 << 40


def uniform(v: int, k: int) -> tuple[int, int]:
    f = M // k
    return v * f, (M - (k - 1) * f if v == k - 1 else f)


def overflow(mags) -> list[tuple[int, int]]:
    counts, chunks = overflow_digits(np.asarray(mags, dtype=np.uint64))
    ops = [uniform(int(c), OVERFLOW_MAX_CHUNKS + 1) for c in counts]
    for ch in chunks.tolist():
        ops += [uniform(ch & 255, 256), uniform(ch >> 8, 256)]
    return ops


def window(family: str, level: int, k: int) -> tuple[int, int]:
    bins, exps = FAMILY_TABLES[family].windows
    nb, e = int(bins[level]), int(exps[level])
    if nb > k:
        return k, 0
    while nb << e > k:
        e -= 1
    return nb, e


class ContinuousSymbol:
    def __init__(self, family: str, loc: float, scale: float, lo: int, hi: int):
        fam = FAMILY_TABLES[family]
        self.grid, self.offset = fam.grid.tolist(), fam.offset
        self.lo, self.hi = lo, hi
        loc = min(max(0.0 if math.isnan(loc) else loc, float(lo) - 1.0), float(hi) + 1.0)
        fl = math.floor(loc)
        frac = math.floor((loc - fl) * 65536)
        up = frac >= 32768
        self.c, self.frac = fl + up, frac - 65536 * up
        level = bisect.bisect_right(level_thresholds().tolist(), scale)
        assert 0 <= level < LEVELS
        lv = scale_levels()
        self.mant, self.shift, self.dmax = (int(lv[k][level]) for k in ("mant", "shift", "dmax"))
        self.nb, self.e = window(family, level, hi - lo + 1)
        assert self.nb <= MAX_BINS
        w = 1 << self.e
        self.width = self.nb * w
        a = self.c - (self.nb // 2) * w - w // 2
        self.a = max(min(a, hi - self.width + 1), lo)
        self.ll, self.lr = int(self.a > lo), int(self.a + self.width - 1 < hi)
        self.live = self.nb + self.ll + self.lr
        self.g0 = self.phi(lo)
        self.total = self.phi(hi + 1) - self.g0

    def phi(self, pos: int) -> int:
        rel = min(max(pos, self.c - FAR), self.c + FAR) - self.c
        d = min(max((rel << 16) - 32768 - self.frac, -self.dmax), self.dmax)
        u = min(max(((d * self.mant) >> self.shift) + self.offset, 0), 2 * self.offset)
        i, f = u >> 8, u & 255
        return self.grid[i] + (((self.grid[i + 1] - self.grid[i]) * f) >> 8)

    def cdf(self, j: int) -> int:
        pos = self.lo if j == 0 else self.hi + 1 if j >= self.nb + 2 else self.a + (j - 1) * (1 << self.e)
        before = self.ll * (j >= 1) + min(max(j - 1, 0), self.nb) + self.lr * (j >= self.nb + 2)
        if self.total > 0:
            return (self.phi(pos) - self.g0) * (M - self.live) // self.total + before
        return before * M // self.live


def continuous_ops(x: np.ndarray, dist) -> list[tuple[int, int]]:
    clipped, mags = edge_split(x.reshape(-1), dist.lo, dist.hi)
    primary, digits, tails = [], [], []
    for xi, loc, scale in zip(clipped.tolist(), dist.loc.reshape(-1).tolist(), dist.scale.reshape(-1).tolist()):
        s = ContinuousSymbol(dist.family, loc, scale, int(dist.lo), int(dist.hi))
        end = s.a + s.width
        if xi < s.a:
            j = 0
            tails.append(s.a - 1 - xi)
        elif xi >= end:
            j = s.nb + 1
            tails.append(xi - end)
        else:
            j = 1 + ((xi - s.a) >> s.e)
            off, bits = (xi - s.a) & ((1 << s.e) - 1), s.e
            while bits > 0:
                digits.append(uniform(off & ((1 << min(bits, 15)) - 1), 1 << min(bits, 15)))
                off, bits = off >> 15, bits - 15
        lo_c, hi_c = s.cdf(j), s.cdf(j + 1)
        primary.append((lo_c, hi_c - lo_c))
    return primary + digits + overflow(tails) + overflow(mags)


def table_ops(x: np.ndarray, pmfs, offsets, lengths, index, closed=False) -> list[tuple[int, int]]:
    x, index = x.reshape(-1), np.asarray(index).reshape(-1)
    lo, hi = np.asarray(offsets)[index], np.asarray(offsets)[index] + np.asarray(lengths)[index] - 1
    if closed:
        clipped, mags = x, []
    else:
        clipped, mags = edge_split(x, lo, hi)
    ops = []
    for xi, t in zip(clipped.tolist(), index.tolist()):
        k = int(lengths[t])
        p = [float(v) for v in pmfs[t][:k]]
        top = max(p)
        q = [math.floor(v / top * 2.0**30) for v in p] if top > 0 else [1] * k
        prefix = [0]
        for v in q:
            prefix.append(prefix[-1] + v)
        r = xi - int(offsets[t])

        def cdf(i):
            return prefix[i] * (M - k) // prefix[k] + i  # noqa: B023

        ops.append((cdf(r), cdf(r + 1) - cdf(r)))
    return ops + overflow(mags)


def group_ops(x: np.ndarray, dist) -> list[tuple[int, int]]:
    if dist.family in ("gaussian", "laplace", "logistic"):
        return continuous_ops(x, dist)
    if dist.family == "tables":
        return table_ops(x, dist.pmfs, dist.offsets, dist.lengths, dist.index)
    probs = dist.probs if dist.probs.ndim == 2 else dist.probs[None, :]
    n, k = dist.size, probs.shape[1]
    index = np.arange(n) if dist.probs.ndim == 2 else np.zeros(n, np.int64)
    return table_ops(x, probs, np.full(len(probs), dist.offset), np.full(len(probs), k), index, dist.closed)


def encode(pairs, lanes: int, ops_per_lane: int) -> bytes:
    ops = [op for x, dist in pairs for op in group_ops(np.asarray(x, np.int64), dist)]
    g = len(ops)
    n = 0 if g == 0 else max(1, min(lanes, -(-g // ops_per_lane)))
    state = [L] * n
    emitted = {}
    for i in range(g - 1, -1, -1):
        start, freq = ops[i]
        assert freq >= 1 and 0 <= start and start + freq <= M
        x = state[i % n]
        if x >= freq << 17:
            emitted[i] = x & 0xFFFF
            x >>= 16
        state[i % n] = (x // freq) * M + x % freq + start
    words = [n & 0xFFFF, n >> 16]
    for x in state:
        words += [x & 0xFFFF, x >> 16]
    words += [emitted[i] for i in sorted(emitted)]
    return np.array(words, dtype="<u2").tobytes()
