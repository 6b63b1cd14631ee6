"""BT.709 YUV 4:2:0 conversion and the 6:1:1 weighted PSNR, against an independent
computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nc_video.color import rgb_to_yuv420, yuv_psnr

from nc_core.pipeline import build

# rows: Y, Cb, Cr from R, G, B (BT.709, full range, offsets added below)
BT709 = np.array([[0.2126, 0.7152, 0.0722],
                  [-0.2126 / 1.8556, -0.7152 / 1.8556, 0.9278 / 1.8556],
                  [0.7874 / 1.5748, -0.7152 / 1.5748, -0.0722 / 1.5748]])


def _reference(image):
    yuv = np.einsum("ij,hwj->hwi", BT709, image.astype(np.float64)) + [0, 128, 128]
    h, w = image.shape[:2]
    yuv = np.pad(yuv, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    chroma = (yuv[0::2, 0::2] + yuv[1::2, 0::2] + yuv[0::2, 1::2] + yuv[1::2, 1::2]) / 4
    return yuv[:h, :w, 0], chroma[..., 1], chroma[..., 2]


@pytest.mark.parametrize("shape", [(8, 10), (7, 9)])
def test_conversion_matches_the_bt709_matrix(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    for ours, ref in zip(rgb_to_yuv420(image), _reference(image)):
        assert ours.shape == ref.shape and np.allclose(ours, ref, atol=1e-9)
    white = np.full((2, 2, 3), 255, np.uint8)
    y, u, v = rgb_to_yuv420(white)
    assert np.allclose(y, 255) and np.allclose(u, 128) and np.allclose(v, 128)


def test_weighted_psnr():
    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    decoded = np.clip(original.astype(int) + rng.integers(-6, 7, original.shape), 0, 255).astype(np.uint8)
    got = yuv_psnr(original, decoded)
    planes = [10 * math.log10(255**2 / np.mean((a - b) ** 2)) for a, b in zip(_reference(original), _reference(decoded))]
    assert [got["psnr-y"], got["psnr-u"], got["psnr-v"]] == pytest.approx(planes)
    assert got["psnr-yuv"] == pytest.approx((6 * planes[0] + planes[1] + planes[2]) / 8)
    assert yuv_psnr(original, original)["psnr-yuv"] == 100.0
    assert build("psnr-yuv", "metric").compute(original, decoded, 0) == got["psnr-yuv"]
    with pytest.raises(ValueError, match="differ in shape"):
        yuv_psnr(original, original[:8])
