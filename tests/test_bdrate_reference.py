"""nc_core.bdrate against an independent implementation: the ``bjontegaard`` package (PyPI,
test-only dependency) in its ``pchip`` mode, on curved, partly overlapping R-D curves.

Straight lines in log-rate cannot tell integration ranges or interpolants apart; these curves
can. The two implementations agree by design, with these differences in convention, none of
which changes a value:

* ``bjontegaard`` works in ``log10`` rate, nc in natural log: the BD-rate ``exp(d) - 1`` equals
  ``10**d' - 1``, and a pchip's mean over an interval does not change when its abscissa is
  rescaled, so BD-PSNR agrees too.
* ``bjontegaard`` only reverses a descending curve; nc sorts any order. The reference gets sorted
  points (and nc gets shuffled ones).
* ``bjontegaard`` warns below 75 % overlap (``min_overlap=0`` silences that) and returns NaN
  with a warning when the curves do not overlap; nc raises ``ValueError``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import bjontegaard
import numpy as np
import pytest

from nc_core.bdrate import bd_psnr, bd_rate, ms_ssim_db

REFERENCE = Path(
    os.environ.get(
        "NC_REFERENCE",
        Path(__file__).resolve().parents[2] / "shared/reference/compressai-kodak-results",
    )
)


def reference(metric, ra, da, rb, db) -> float:
    """``bjontegaard``'s BD value (pchip, any point counts, no overlap warning), points sorted."""
    ia, ib = np.argsort(ra), np.argsort(rb)
    fn = bjontegaard.bd_rate if metric == "rate" else bjontegaard.bd_psnr
    return float(fn(np.asarray(ra)[ia], np.asarray(da)[ia], np.asarray(rb)[ib], np.asarray(db)[ib],
                    method="pchip", require_matching_points=False, min_overlap=0))


def random_curve(rng: np.random.Generator, start_rate: float, start_psnr: float):
    """A concave, strictly increasing R-D curve: PSNR gains shrink as the rate grows, unevenly."""
    n = int(rng.integers(3, 8))
    log_rates = np.log(start_rate) + np.cumsum(rng.uniform(0.25, 0.9, n))
    gains = np.sort(rng.uniform(0.4, 4.0, n))[::-1]  # decreasing steps: concave
    return np.exp(log_rates), start_psnr + np.cumsum(gains)


def curve_pairs():
    """(rates A, psnr A, rates B, psnr B): B starts higher and ends elsewhere, so the quality
    ranges overlap only in part, and A sometimes reaches beyond B on both ends."""
    rng = np.random.default_rng(2026)
    pairs = [
        # hand-made: A covers 26-37 dB, B 28-40 dB, both bent
        (np.array([0.08, 0.15, 0.31, 0.55, 1.1]), np.array([26.1, 28.9, 31.7, 33.6, 36.9]),
         np.array([0.12, 0.2, 0.42, 0.9, 1.5, 2.4]), np.array([28.0, 30.1, 33.3, 36.0, 37.9, 39.6])),
        # B lies strictly inside A's quality range
        (np.array([0.05, 0.1, 0.2, 0.4, 0.8, 1.6]), np.array([24.0, 27.5, 30.2, 32.4, 34.1, 35.3]),
         np.array([0.09, 0.2, 0.35, 0.6]), np.array([28.0, 31.0, 32.6, 33.5])),
    ]
    for _ in range(40):
        ra, da = random_curve(rng, rng.uniform(0.03, 0.1), rng.uniform(22, 28))
        rb, db = random_curve(rng, rng.uniform(0.03, 0.1), rng.uniform(22, 28) + rng.uniform(-2, 4))
        if min(da.max(), db.max()) - max(da.min(), db.min()) > 0.5 and \
                min(np.log(ra).max(), np.log(rb).max()) - max(np.log(ra).min(), np.log(rb).min()) > 0.1:
            pairs.append((ra, da, rb, db))
    return pairs


PAIRS = curve_pairs()


def test_the_cases_are_curved_and_partly_overlapping():
    """Guard on the test data itself: the cases must be able to tell interpolants and ranges apart."""
    assert len(PAIRS) >= 30
    strictly_inside = reaching_beyond = 0
    for ra, da, rb, db in PAIRS:
        for r, d in ((ra, da), (rb, db)):
            if len(r) >= 3:  # not a straight line in log-rate
                slopes = np.diff(d) / np.diff(np.log(r))
                assert np.ptp(slopes) > 0.1
        reaching_beyond += da.min() < db.min() or da.max() > db.max()
        strictly_inside += da.min() < db.min() and da.max() > db.max()
    assert reaching_beyond >= 10 and strictly_inside >= 1


@pytest.mark.parametrize("case", range(len(PAIRS)))
def test_bd_rate_and_bd_psnr_match_bjontegaard_pchip(case):
    ra, da, rb, db = PAIRS[case]
    assert bd_rate(ra, da, rb, db) == pytest.approx(reference("rate", ra, da, rb, db), rel=1e-9, abs=1e-9)
    assert bd_psnr(ra, da, rb, db) == pytest.approx(reference("psnr", ra, da, rb, db), rel=1e-9, abs=1e-9)
    # and with the roles swapped
    assert bd_rate(rb, db, ra, da) == pytest.approx(reference("rate", rb, db, ra, da), rel=1e-9, abs=1e-9)
    assert bd_psnr(rb, db, ra, da) == pytest.approx(reference("psnr", rb, db, ra, da), rel=1e-9, abs=1e-9)


def test_point_order_does_not_matter():
    rng = np.random.default_rng(0)
    ra, da, rb, db = PAIRS[0]
    pa, pb = rng.permutation(len(ra)), rng.permutation(len(rb))
    assert bd_rate(ra[pa], da[pa], rb[pb], db[pb]) == pytest.approx(reference("rate", ra, da, rb, db), rel=1e-12)
    assert bd_psnr(ra[pa], da[pa], rb[pb], db[pb]) == pytest.approx(reference("psnr", ra, da, rb, db), rel=1e-12)


def test_pchip_differs_from_other_interpolants_on_these_curves():
    """The comparison above would not notice a change of interpolant if the choice made no
    difference here: check that akima, the cubic fit and a straight line all disagree."""
    ra, da, rb, db = PAIRS[0]
    ours = bd_rate(ra, da, rb, db)
    for method in ("akima", "cubic"):
        other = bjontegaard.bd_rate(ra, da, rb, db, method=method, require_matching_points=False, min_overlap=0)
        assert abs(other - ours) > 1e-4
    lo, hi = max(da.min(), db.min()), min(da.max(), db.max())
    grid = np.linspace(lo, hi, 100001)
    linear = np.exp(np.mean(np.interp(grid, db, np.log(rb)) - np.interp(grid, da, np.log(ra)))) * 100 - 100
    assert abs(linear - ours) > 1e-2


def test_bd_psnr_is_positive_when_b_is_better():
    """Direction: B above A (more dB at every rate) gives BD-PSNR > 0 and BD-rate < 0."""
    ra, da, rb, db = PAIRS[0]
    shifted = da + 0.75  # B = A moved up by 0.75 dB: exactly +0.75 at every rate
    assert bd_psnr(ra, da, ra, shifted) == pytest.approx(0.75, abs=1e-12)
    assert bd_psnr(ra, shifted, ra, da) == pytest.approx(-0.75, abs=1e-12)
    assert bd_rate(ra, da, ra, shifted) < 0 < bd_rate(ra, shifted, ra, da)
    # and on curves that cross nowhere in the overlap: the test curve is better throughout
    assert bd_psnr(ra, da, rb, db) > 0 and bd_rate(ra, da, rb, db) < 0


def test_curves_that_do_not_overlap_are_an_error():
    ra, da = PAIRS[0][:2]
    with pytest.raises(ValueError, match="do not overlap in distortion"):
        bd_rate(ra, da, ra, da + (da.max() - da.min()) + 1)
    with pytest.raises(ValueError, match="do not overlap in log-rate"):
        bd_psnr(ra, da, ra * 1000, da)
    # touching at one point is no overlap either (an empty interval to average over)
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(ra, da, ra, da + (da.max() - da.min()))
    # the reference agrees that there is nothing to compute
    with pytest.warns(UserWarning, match="do not overlap"):
        assert np.isnan(bjontegaard.bd_rate(ra, da, ra, da + 100, method="pchip", min_overlap=0))


@pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"published results not found at {REFERENCE} (set NC_REFERENCE)"
)
@pytest.mark.parametrize("test", ["compressai-bmshj2018-hyperprior_mse_cpu", "bpg_444_x265_ycbcr", "av1"])
def test_published_curves_match_bjontegaard(test):
    """CompressAI's published Kodak curves (JPEG as the anchor): PSNR and MS-SSIM dB."""
    def load(name):
        return json.loads((REFERENCE / f"{name}.json").read_text())["results"]

    anchor, other = load("jpeg"), load(test)
    for key, to_db in (("psnr-rgb", np.asarray), ("ms-ssim-rgb", ms_ssim_db)):
        if None in anchor.get(key, [None]) + other.get(key, [None]):
            continue  # not published for both
        args = (anchor["bpp"], to_db(anchor[key]), other["bpp"], to_db(other[key]))
        assert bd_rate(*args) == pytest.approx(reference("rate", *args), rel=1e-9)
        assert bd_psnr(*args) == pytest.approx(reference("psnr", *args), rel=1e-9)


def test_inputs_are_computed_in_float64():
    """float32 points give the value of the same points in float64 (log-rates not rounded to float32)."""
    ra, da, rb, db = PAIRS[0]
    single = [np.asarray(v, dtype=np.float32) for v in (ra, da, rb, db)]
    double = [v.astype(np.float64) for v in single]
    assert bd_rate(*single) == pytest.approx(bd_rate(*double), rel=1e-13)
    assert bd_psnr(*single) == pytest.approx(bd_psnr(*double), rel=1e-13)


def test_two_points_per_curve_are_enough():
    ra, da = np.array([0.1, 0.4]), np.array([30.0, 34.0])
    rb, db = np.array([0.12, 0.5]), np.array([31.0, 35.0])
    assert bd_rate(ra, da, rb, db) == pytest.approx(reference("rate", ra, da, rb, db), rel=1e-12)
    assert bd_psnr(ra, da, rb, db) == pytest.approx(reference("psnr", ra, da, rb, db), rel=1e-12)


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_bad_curves_are_errors_that_name_the_curve(fn):
    ra, da = [0.1, 0.2, 0.4], [30.0, 32.0, 34.0]
    nan, inf = float("nan"), float("inf")
    cases = [
        ((ra, da[:2], ra, da), "curve A: 3 rates but 2 distortions"),
        ((ra, da, ra[:2], da), "curve B: 2 rates but 3 distortions"),
        ((ra[:1], da[:1], ra, da), "curve A: BD needs at least 2 points for pchip, got 1"),
        ((ra, da, ra[:1], da[:1]), "curve B: BD needs at least 2 points for pchip, got 1"),
        (([0.1, nan, 0.4], da, ra, da), "curve A: rates and distortions must be finite"),
        ((ra, da, ra, [30.0, inf, 34.0]), "curve B: rates and distortions must be finite"),
        (([0.0, 0.2, 0.4], da, ra, da), "curve A: rates must be positive"),
        ((ra, da, [-0.1, 0.2, 0.4], da), "curve B: rates must be positive"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=f"^{message}"):
            fn(*args)
    # the interpolation variable (distortion for BD-rate, log-rate for BD-PSNR) must not repeat
    if fn is bd_rate:
        what, repeated = "distortion", (ra, [30.0, 30.0, 34.0])
    else:
        what, repeated = "log-rate", ([0.1, 0.1, 0.4], da)
    with pytest.raises(ValueError, match=f"^curve A: repeated {what} values; pchip needs distinct ones"):
        fn(*repeated, ra, da)
    with pytest.raises(ValueError, match=f"^curve B: repeated {what} values; pchip needs distinct ones"):
        fn(ra, da, *repeated)


def test_ms_ssim_db():
    """``-10 log10(1 - MS-SSIM)``, in float64; MS-SSIM 1 (lossless) is +inf, silently."""
    assert ms_ssim_db(0.9) == pytest.approx(10.0, rel=1e-12)
    np.testing.assert_allclose(ms_ssim_db([0.99, 0.999, 0.5]), [20.0, 30.0, 10 * np.log10(2)], rtol=1e-12)
    single = np.array([0.9871, 0.99613], dtype=np.float32)
    np.testing.assert_allclose(ms_ssim_db(single), -10 * np.log10(1 - single.astype(np.float64)), rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ms_ssim_db([1.0]).tolist() == [float("inf")]
    with pytest.raises(ValueError, match="finite"):
        bd_rate([0.1, 0.2], ms_ssim_db([0.95, 1.0]), [0.1, 0.2], ms_ssim_db([0.95, 0.97]))
