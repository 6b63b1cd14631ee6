"""The sliced Wasserstein distance: its parts against independent computations, and its
behaviour on images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from nc_core.pipeline import build
from nc_gan.metrics import (
    DIRECTIONS,
    REPEATS,
    _up,
    laplacian_pyramid,
    sliced_wasserstein,
    sliced_wasserstein_distance,
)


def _images(seed: int, n: int = 3, size=(64, 96)) -> list[np.ndarray]:
    """Smooth random images (a few octaves of noise), like photos have structure at all scales."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = torch.zeros(1, 3, *size, dtype=torch.float64)
        for octave in (4, 8, 16, 32):
            coarse = torch.from_numpy(rng.standard_normal((1, 3, size[0] // octave + 1, size[1] // octave + 1)))
            x += torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False) * octave
        out.append(np.clip(128 + 1.5 * x[0].permute(1, 2, 0).numpy(), 0, 255).astype(np.uint8))
    return out


def test_laplacian_pyramid_sums_back_to_the_image():
    image = torch.rand(1, 3, 70, 101, dtype=torch.float64)
    levels = laplacian_pyramid(image)
    assert [tuple(level.shape[-2:]) for level in levels] == [(70, 101), (35, 51), (18, 26)]
    back = levels[-1]
    for level in reversed(levels[:-1]):
        back = level + _up(back, level.shape[-2:])
    torch.testing.assert_close(back, image, rtol=0, atol=1e-12)


def test_sliced_wasserstein_is_the_mean_1d_wasserstein_over_the_same_directions():
    gen = np.random.default_rng(5)
    a = torch.from_numpy(gen.standard_normal((200, 6)))
    b = torch.from_numpy(gen.standard_normal((200, 6)) * 1.5 + 0.3)
    got = sliced_wasserstein(a, b, np.random.default_rng(9))
    rng, expected = np.random.default_rng(9), []
    for _ in range(REPEATS):
        dirs = rng.standard_normal((6, DIRECTIONS))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        expected += [wasserstein_distance(a.numpy() @ d, b.numpy() @ d) for d in dirs.T]
    assert got == pytest.approx(np.mean(expected), rel=1e-12)
    with pytest.raises(ValueError, match="sets of one shape"):
        sliced_wasserstein(a, b[:10], rng)


def test_swd_is_zero_for_identical_sets_and_grows_with_the_damage():
    originals = _images(0)
    assert sliced_wasserstein_distance(originals, originals) == 0.0
    rng = np.random.default_rng(1)

    def noisy(sigma):
        return [np.clip(im + rng.normal(0, sigma, im.shape), 0, 255).astype(np.uint8) for im in originals]

    def blurred(im):
        t = torch.from_numpy(im).permute(2, 0, 1)[None].double()
        t = torch.nn.functional.avg_pool2d(t, 5, 1, 2, count_include_pad=False)
        return t[0].permute(1, 2, 0).round().numpy().astype(np.uint8)

    light, heavy = sliced_wasserstein_distance(originals, noisy(2)), sliced_wasserstein_distance(originals, noisy(25))
    assert 0 < light < heavy
    assert sliced_wasserstein_distance(originals, [blurred(im) for im in originals]) > light
    damaged = noisy(25)  # deterministic: the same number every time
    assert sliced_wasserstein_distance(originals, damaged) == sliced_wasserstein_distance(originals, damaged)


def test_bad_sets_are_refused():
    a = _images(0, n=2)
    with pytest.raises(ValueError, match="two non-empty sets of one size"):
        sliced_wasserstein_distance(a, a[:1])
    with pytest.raises(ValueError, match="two non-empty sets"):
        sliced_wasserstein_distance([], [])
    with pytest.raises(ValueError, match="shapes"):
        sliced_wasserstein_distance(a[:1], [a[0][:32]])
    small = [np.zeros((20, 40, 3), np.uint8)]
    with pytest.raises(ValueError, match="at least 32 px"):
        sliced_wasserstein_distance(small, small)


def test_swd_is_a_set_metric_pipelines_can_name():
    metric = build({"use": "swd"}, "metric")
    assert metric.per_image is False and metric.higher_is_better is False
    ims = _images(3, n=2)
    assert metric.compute_set(ims, ims) == 0.0
    with pytest.raises(TypeError, match="computed per image"):
        build({"use": "psnr"}, "metric").compute_set(ims, ims)
