"""NIQE: its statistical fits against known distributions, its features against an independent
computation, and its behaviour on a photo."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import gennorm

from nc_core.pipeline import build
from nc_gan import niqe


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    skdata = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skdata.astronaut())  # 512 x 512 x 3


@pytest.mark.parametrize("beta", [0.8, 1.0, 2.0, 3.0])
def test_ggd_fit_recovers_the_shape_of_generalised_gaussian_samples(beta):
    x = gennorm.rvs(beta, scale=1.7, size=400_000, random_state=np.random.default_rng(int(beta * 10)))
    shape, deviation = niqe.ggd_fit(x)
    assert shape == pytest.approx(beta, rel=0.03)
    assert deviation == pytest.approx(float(np.sqrt(np.mean(x * x))), rel=1e-12)


def test_aggd_fit_recovers_shape_and_both_sides():
    # the AGGD of BRISQUE/NIQE: each side's probability is proportional to its scale
    rng = np.random.default_rng(3)
    magnitude = np.abs(gennorm.rvs(1.5, size=400_000, random_state=rng))
    left_side = rng.uniform(size=magnitude.size) < 0.5 / (0.5 + 2.0)
    x = np.where(left_side, -0.5 * magnitude, 2.0 * magnitude)
    shape, left, right = niqe.aggd_fit(x)
    assert shape == pytest.approx(1.5, rel=0.03)
    assert left == pytest.approx(float(np.sqrt(np.mean(x[x < 0] ** 2))), rel=1e-12)
    assert right / left == pytest.approx(4.0, rel=0.02)


def test_mscn_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    lum = rng.uniform(0, 255, (20, 23))
    got, sigma = niqe.mscn(lum)
    w = niqe._window()
    padded = np.pad(lum, 3, mode="edge")
    mu, mu2 = np.zeros_like(lum), np.zeros_like(lum)
    for i in range(20):
        for j in range(23):
            patch = padded[i:i + 7, j:j + 7]
            mu[i, j], mu2[i, j] = (w * patch).sum(), (w * patch * patch).sum()
    np.testing.assert_allclose(sigma, np.sqrt(np.abs(mu2 - mu * mu)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got, (lum - mu) / (np.sqrt(np.abs(mu2 - mu * mu)) + 1), rtol=1e-9, atol=1e-9)


def test_features_and_the_distance(photo):
    feats, sharpness = niqe.image_features(photo)
    assert feats.shape == (25, 36) and sharpness.shape == (25,)  # 5 x 5 whole blocks, two scales
    own = (feats.mean(axis=0), np.cov(feats, rowvar=False))
    assert niqe.niqe(photo, own) == pytest.approx(0.0, abs=1e-6)  # an image against its own statistics
    blurred = photo.copy()
    for _ in range(4):  # a strong blur, a small loss of natural-scene statistics
        blurred[1:-1, 1:-1] = ((blurred[:-2, 1:-1].astype(int) + blurred[2:, 1:-1] + blurred[1:-1, :-2]
                                + blurred[1:-1, 2:] + 4 * blurred[1:-1, 1:-1].astype(int)) // 8).astype(np.uint8)
    assert niqe.niqe(blurred) > niqe.niqe(photo) + 1


def test_the_shipped_pristine_model():
    with np.load(niqe.PRISTINE) as model:
        mean, cov, source = model["mean"], model["cov"], json.loads(str(model["source"]))
        blocks = int(model["blocks"])
    assert mean.shape == (36,) and cov.shape == (36, 36) and np.allclose(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > -1e-9 and source == {"folder": "photos", "images": 49} and blocks > 100


def test_small_images_are_refused(photo):
    with pytest.raises(ValueError, match="at least 96 px per side"):
        niqe.niqe(photo[:95])
    with pytest.raises(ValueError, match="at least two 96x96 blocks"):
        niqe.niqe(photo[:96, :150])


def test_flat_blocks_are_left_out(photo):
    """A flat block (a sky at a low JPEG quality) has no statistics: NIQE skips it, and an image
    with fewer than two textured blocks is refused, not a division by zero."""
    flat = photo[:192, :384].copy()
    flat[:, 192:] = 128  # blocks 3 and 7 are flat; 2 and 6 see texture through the MSCN window
    with_flat, _ = niqe.image_features(flat)
    assert np.isnan(with_flat[[3, 7]]).all() and not np.isnan(with_flat[[0, 1, 2, 4, 5, 6]]).any()
    assert np.isfinite(niqe.niqe(flat))
    with pytest.raises(ValueError, match="not flat"):
        niqe.niqe(np.full((192, 288, 3), 77, np.uint8))


def test_niqe_is_a_no_reference_metric(photo):
    metric = build({"use": "niqe"}, "metric")
    assert metric.per_image and not metric.higher_is_better
    assert metric.compute(np.zeros_like(photo), photo, 1000) == niqe.niqe(photo)
