"""Bjøntegaard delta rate and delta distortion (VCEG-M33, with pchip interpolation).

Method (the piecewise-cubic variant of Bjøntegaard's VCEG-AI11 used by today's common
implementations, e.g. the ``bjontegaard`` Python package's ``pchip`` mode, instead of the original
single cubic polynomial fit, which can overshoot between points):

* **BD-rate**: each curve's log-rate is interpolated as a function of distortion with a
  piecewise cubic Hermite interpolant that preserves monotonicity (``scipy``'s
  ``PchipInterpolator``), integrated exactly over the distortion range both curves cover, and
  the mean log-rate difference ``d`` is reported as ``(exp(d) - 1) * 100`` percent: the average
  rate change of B against A at equal quality. Negative means B needs fewer bits.
* **BD-PSNR** (:func:`bd_psnr`): the same with the roles swapped: distortion as a function of
  log-rate over the common log-rate range, mean difference ``B - A`` (positive = B better).

"Distortion" is any quality score where higher is better (PSNR in dB; for MS-SSIM pass
``-10 log10(1 - ms_ssim)``, see :func:`ms_ssim_db`, as is customary). Points are sorted
internally; the interpolation variable must have distinct values within each curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["bd_psnr", "bd_rate", "ms_ssim_db"]


def ms_ssim_db(ms_ssim: float | Sequence[float] | np.ndarray) -> np.ndarray:
    """MS-SSIM in dB, ``-10 log10(1 - ms_ssim)``: spreads the high-quality end out."""
    with np.errstate(divide="ignore"):  # MS-SSIM 1 (lossless) -> inf, rejected by bd_rate
        return -10.0 * np.log10(1.0 - np.asarray(ms_ssim, dtype=np.float64))


def _curve(
    rate: Sequence[float], dist: Sequence[float], label: str
) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64).ravel()
    d = np.asarray(dist, dtype=np.float64).ravel()
    if r.shape != d.shape:
        raise ValueError(f"curve {label}: {r.size} rates but {d.size} distortions")
    if r.size < 2:
        raise ValueError(f"curve {label}: BD needs at least 2 points for pchip, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(d))):
        raise ValueError(f"curve {label}: rates and distortions must be finite")
    if np.any(r <= 0):
        raise ValueError(f"curve {label}: rates must be positive (log-rate)")
    return np.log(r), d


def _mean_gap(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray, what: str) -> float:
    """Mean of ``fb(x) - fa(x)`` over the common x range, each f a pchip through (x, y)."""
    for x, label in ((xa, "A"), (xb, "B")):
        if np.unique(x).size != x.size:
            raise ValueError(f"curve {label}: repeated {what} values; pchip needs distinct ones")
    lo, hi = max(xa.min(), xb.min()), min(xa.max(), xb.max())
    if not lo < hi:
        raise ValueError(
            f"curves do not overlap in {what}: A covers [{xa.min():.4g}, {xa.max():.4g}], "
            f"B covers [{xb.min():.4g}, {xb.max():.4g}]"
        )
    ia, ib = np.argsort(xa), np.argsort(xb)
    fa, fb = PchipInterpolator(xa[ia], ya[ia]), PchipInterpolator(xb[ib], yb[ib])
    return float((fb.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo))


def bd_rate(
    rate_a: Sequence[float],
    dist_a: Sequence[float],
    rate_b: Sequence[float],
    dist_b: Sequence[float],
) -> float:
    """Bjøntegaard delta rate of curve B against reference A, in percent (negative: B saves bits).

    :param rate_a: reference rates (e.g. bpp), positive
    :param dist_a: reference quality (higher is better, e.g. PSNR dB), distinct values
    :param rate_b: test rates
    :param dist_b: test quality
    :raises ValueError: fewer than 2 points, non-positive rates, or no overlap in quality
    """
    lra, da = _curve(rate_a, dist_a, "A")
    lrb, db = _curve(rate_b, dist_b, "B")
    return (float(np.exp(_mean_gap(da, lra, db, lrb, "distortion"))) - 1.0) * 100.0


def bd_psnr(
    rate_a: Sequence[float],
    dist_a: Sequence[float],
    rate_b: Sequence[float],
    dist_b: Sequence[float],
) -> float:
    """Bjøntegaard delta quality of B against A (mean ``dist_b - dist_a`` at equal rate, e.g. dB;
    positive: B is better). Same arguments and errors as :func:`bd_rate`."""
    lra, da = _curve(rate_a, dist_a, "A")
    lrb, db = _curve(rate_b, dist_b, "B")
    return _mean_gap(lra, da, lrb, db, "log-rate")
