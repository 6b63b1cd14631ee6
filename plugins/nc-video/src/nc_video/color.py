"""YUV 4:2:0 PSNR as learned-video papers report it (DCVC's protocol).

RGB in [0, 255] goes to YCbCr with the BT.709 matrix, full range (``Y = 0.2126 R + 0.7152 G +
0.0722 B``, ``Cb = (B - Y) / 1.8556 + 128``, ``Cr = (R - Y) / 1.5748 + 128``); chroma is
subsampled 2x2 by averaging (odd sizes: the last row or column is repeated). PSNR is taken
per plane on the 0-255 scale and combined as ``(6 PSNR_Y + PSNR_U + PSNR_V) / 8``.
"""

from __future__ import annotations

import math

import numpy as np

from nc_core.contracts import Metric

KR, KB = 0.2126, 0.0722
PSNR_CAP_DB = 100.0  # identical planes: a finite cap, as the core's psnr, so means stay finite


def rgb_to_yuv420(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float ``(Y (H x W), U, V (ceil(H/2) x ceil(W/2)))`` of a uint8 ``H x W x 3`` RGB image."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 image, got {image.dtype} {image.shape}")
    r, g, b = (image[..., i].astype(np.float64) for i in range(3))
    y = KR * r + (1 - KR - KB) * g + KB * b
    u = (b - y) / (2 * (1 - KB)) + 128
    v = (r - y) / (2 * (1 - KR)) + 128
    h, w = y.shape
    pad = ((0, h % 2), (0, w % 2))

    def down(c):
        c = np.pad(c, pad, mode="edge")
        return c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3))

    return y, down(u), down(v)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * math.log10(255.0**2 / mse))


def yuv_psnr(original: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """``{"psnr-y", "psnr-u", "psnr-v", "psnr-yuv"}`` (dB, at most 100) of a decoded RGB frame;
    ``psnr-yuv`` is the 6:1:1 weighted mean."""
    if original.shape != decoded.shape:
        raise ValueError(f"frames differ in shape: {original.shape} vs {decoded.shape}")
    y, u, v = (_psnr(a, b) for a, b in zip(rgb_to_yuv420(original), rgb_to_yuv420(decoded)))
    return {"psnr-y": y, "psnr-u": u, "psnr-v": v, "psnr-yuv": (6 * y + u + v) / 8}


class YUVPSNR(Metric):
    """``psnr-yuv``: DCVC's ``(6 PSNR_Y + PSNR_U + PSNR_V) / 8`` on BT.709 YUV 4:2:0 (dB)."""

    name = "psnr-yuv"
    higher_is_better = True
    unit = "dB"
    results_key = "psnr-yuv"

    def compute(self, original: np.ndarray, reconstruction: np.ndarray, num_bits: int) -> float:
        return yuv_psnr(original, reconstruction)["psnr-yuv"]


METRICS = [YUVPSNR]
