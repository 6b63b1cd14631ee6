"""The integer constants of the lane coder's format, built by exact arithmetic.

Every number here is made from Python integers and :mod:`decimal` (correctly rounded, the
same on every machine), never from a platform's ``exp`` or ``erf``: a coder on one machine
and a decoder on another must agree on every probability to the last unit.

Scale levels
    A scale ``s`` is coded at the nearest of the geometric levels ``s_l = 2**(l/32 - 8)``,
    ``l = 0 .. LEVELS-1`` (``2**-8`` to ``2**25``; 2.2 % apart, which costs under 2e-4 bits a
    symbol). The level is found by comparing ``s`` with float64 thresholds (exact
    comparisons); level ``l`` holds the fixed-point inverse scale ``m_l * 2**-shift_l``
    (``m_l`` a 16-bit mantissa) that turns a distance into a standardised ``z``.
Standard CDFs
    ``CDF_ONE * F(z)`` rounded, for ``z`` on a grid of step ``2**-8`` over ``[-ZMAX, ZMAX]``
    (linear interpolation between grid points in integers), one table per family, symmetric
    by construction (``T[-z] = CDF_ONE - T[z]``).
Windows
    A symbol's coded bins: ``nb`` (odd) bins of ``2**e`` integers centred on ``loc``, plus a
    tail bin either side; ``nb * 2**e`` covers ``+-TAIL`` scales of the family, with at most
    ``MAX_BINS`` bins.
"""

from __future__ import annotations

import functools
from decimal import Decimal, localcontext

import numpy as np

__all__ = ["CDF_BITS", "CDF_ONE", "FAMILY_TABLES", "LEVELS", "MAX_BINS", "Z_FRAC", "FamilyTable", "level_thresholds",
           "scale_levels"]

LEVELS_PER_OCTAVE = 32
MIN_OCTAVE, MAX_OCTAVE = -8, 25
LEVELS = (MAX_OCTAVE - MIN_OCTAVE) * LEVELS_PER_OCTAVE + 1
CDF_BITS = 30
CDF_ONE = 1 << CDF_BITS
#: fractional bits of a standardised z (the CDF grid has step 2**-GRID_BITS; the rest interpolates)
Z_FRAC = 16
GRID_BITS = 8
#: distances are in units of 2**-LOC_FRAC (a location's fractional part is kept to this)
LOC_FRAC = 16
#: |z| * 2**Z_FRAC is clamped below 2**Z_CLAMP_BITS (past every table's ZMAX)
Z_CLAMP_BITS = 21
MAX_BINS = 127  # window bins (odd), plus two tails: 129 bins, an 8-step binary search


def _iroot(value: int, n: int) -> int:
    """``floor(value ** (1/n))`` for a non-negative integer."""
    lo, hi = 0, 1 << (value.bit_length() // n + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**n <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _pow2_frac(num: int, den: int, bits: int) -> int:
    """``floor(2**(num/den) * 2**bits)`` exactly (``num / den + bits >= 0``)."""
    return _iroot(1 << (num + bits * den), den)


@functools.cache
def level_thresholds() -> np.ndarray:
    """Float64 boundaries between scale levels: level ``l`` is the number of thresholds
    ``<= s`` (geometric midpoints ``2**((l + 1/2)/32 - 8)``, to 53 bits, built from integers)."""
    out = []
    for lv in range(LEVELS - 1):
        num = 2 * lv + 1 + 2 * LEVELS_PER_OCTAVE * MIN_OCTAVE  # exponent * 64
        q, r = divmod(num, 2 * LEVELS_PER_OCTAVE)
        mant = _pow2_frac(r, 2 * LEVELS_PER_OCTAVE, 52)  # in [2**52, 2**53)
        out.append(float(mant) * 2.0 ** (q - 52))  # exact: mant < 2**53
    return np.array(out, dtype=np.float64)


@functools.cache
def scale_levels() -> dict[str, np.ndarray]:
    """Per level: ``mant``, ``shift`` (``z * 2**Z_FRAC = (d * mant) >> shift`` for a distance
    ``d`` in units of ``2**-LOC_FRAC``) and ``dmax``, the distance past which ``z`` is clamped
    (so the product stays below ``2**63``)."""
    mant, shift, dmax = [], [], []
    for lv in range(LEVELS):
        q, r = divmod(lv, LEVELS_PER_OCTAVE)
        # 1/s = 2**(-(q + MIN_OCTAVE) - r/32); m = floor(2**(16 - r/32)) in (2**15, 2**16]
        m = _pow2_frac(-r, LEVELS_PER_OCTAVE, 16)
        # z * 2**Z_FRAC = d * 2**-LOC_FRAC / s * 2**Z_FRAC = d * m * 2**-(16 + q + MIN_OCTAVE + LOC_FRAC - Z_FRAC)
        sh = 16 + q + MIN_OCTAVE + LOC_FRAC - Z_FRAC
        if sh < 0:
            raise AssertionError("scale levels need a non-negative shift")
        mant.append(m)
        shift.append(sh)
        dmax.append((1 << (Z_CLAMP_BITS + sh)) // m + 1)
    return {"mant": np.array(mant, np.int64), "shift": np.array(shift, np.int64), "dmax": np.array(dmax, np.int64)}


def _ceil_scaled(tail: int, lv: int, e: int) -> int:
    """``ceil(tail * s_l / 2**e)``, at least 1, by integer comparison of 32nd powers."""
    # tail * 2**(l/32 - 8 - e) <= h  <=>  tail**32 * 2**l <= h**32 * 2**(32 * (8 + e))
    rhs_shift = LEVELS_PER_OCTAVE * (-MIN_OCTAVE + e)
    target = tail**LEVELS_PER_OCTAVE << lv
    h = max(1, _iroot(max(target >> rhs_shift, 0), LEVELS_PER_OCTAVE))
    while (h**LEVELS_PER_OCTAVE << rhs_shift) < target:
        h += 1
    while h > 1 and ((h - 1) ** LEVELS_PER_OCTAVE << rhs_shift) >= target:
        h -= 1
    return h


class FamilyTable:
    """One family's integer CDF grid and per-level windows."""

    def __init__(self, name: str, zmax: int, tail: int, cdf):
        self.name, self.zmax, self.tail = name, zmax, tail
        self.offset = zmax << Z_FRAC  # z * 2**Z_FRAC + offset indexes the grid
        self._cdf = cdf

    @functools.cached_property
    def grid(self) -> np.ndarray:
        """``round(CDF_ONE * F(z))`` at ``z = -ZMAX + i * 2**-GRID_BITS``, plus one repeated
        last entry (so interpolation at the top end needs no special case)."""
        half = self.zmax << GRID_BITS
        with localcontext() as ctx:
            ctx.prec = 60
            one = Decimal(CDF_ONE)
            low = [int((self._cdf(Decimal(-i) / (1 << GRID_BITS)) * one).to_integral_value()) for i in range(half, 0, -1)]
        mid = CDF_ONE // 2
        values = low + [mid] + [CDF_ONE - v for v in reversed(low)]
        return np.array(values + values[-1:], dtype=np.int64)

    @functools.cached_property
    def windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Per level ``(bins, exp)``: ``bins`` odd window bins of ``2**exp`` integers covering
        ``+-tail`` scales, ``bins <= MAX_BINS``."""
        half_max = (MAX_BINS - 1) // 2
        bins, exps = [], []
        for lv in range(LEVELS):
            e = 0
            while (h := _ceil_scaled(self.tail, lv, e)) > half_max:
                e += 1
            bins.append(2 * h + 1)
            exps.append(e)
        return np.array(bins, np.int64), np.array(exps, np.int64)


def _gaussian_cdf(z: Decimal) -> Decimal:
    """Phi(z) for z <= 0: 1/2 + phi(z) * sum z**(2n+1) / (2n+1)!! (alternating for z < 0)."""
    term = z
    total = z
    z2 = z * z
    n = 1
    while abs(term) > Decimal(10) ** -45:
        term = term * z2 / (2 * n + 1)
        total += term
        n += 1
    return Decimal("0.5") + (-z2 / 2).exp() / (2 * _PI).sqrt() * total


_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")


def _laplace_cdf(z: Decimal) -> Decimal:
    return z.exp() / 2  # z <= 0


def _logistic_cdf(z: Decimal) -> Decimal:
    return 1 / (1 + (-z).exp())


#: zmax: where the tail is below half a unit of CDF_ONE; tail: window half-width in scales
FAMILY_TABLES: dict[str, FamilyTable] = {
    "gaussian": FamilyTable("gaussian", zmax=7, tail=7, cdf=_gaussian_cdf),
    "laplace": FamilyTable("laplace", zmax=21, tail=14, cdf=_laplace_cdf),
    "logistic": FamilyTable("logistic", zmax=21, tail=14, cdf=_logistic_cdf),
}
