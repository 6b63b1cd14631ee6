"""Built-in metrics: MSE, PSNR, MS-SSIM and bits per pixel.

``compute`` follows CompressAI's evaluation (``compressai.utils.eval_model``): metrics over all
three RGB channels of the decoded uint8 image, PSNR with peak 255, MS-SSIM from
``pytorch_msssim`` with its default 5 scales, 11-tap Gaussian window (sigma 1.5) and weights.
Per-image values are averaged over a data set by the runner, as CompressAI does.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pytorch_msssim import ms_ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim  # only for the reduced-scale fallback

from nc_core.contracts import Metric

__all__ = ["BPP", "MSE", "MSSSIM", "PSNR", "PSNR_CAP_DB", "ms_ssim_any_size"]

#: PSNR reported for identical images (MSE 0), so means over images stay finite
PSNR_CAP_DB = 100.0

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, fine -> coarse
_WIN_SIZE = 11


def _check_pair(original: np.ndarray, reconstruction: np.ndarray) -> None:
    if original.shape != reconstruction.shape:
        raise ValueError(
            f"shape mismatch: original {original.shape}, reconstruction {reconstruction.shape}"
        )
    if original.ndim != 3 or original.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 images, got shape {original.shape}")


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 -> float32 1 x 3 x H x W in [0, 1] (float32 as CompressAI; float64
    changes MS-SSIM by ~1e-7 and is several times slower on CPU)."""
    return torch.tensor(image).permute(2, 0, 1)[None].float() / 255.0


def ms_ssim_any_size(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """MS-SSIM of ``N x C x H x W`` batches (mean over the batch), for any image size >= 11 px.

    Images whose smaller side exceeds 160 px (what 5 scales with an 11-tap window need) get
    ``pytorch_msssim.ms_ssim`` unchanged. Smaller ones (e.g. 128 px training crops) use the
    largest number of scales L that fits (smaller side > 10 * 2**(L-1)) with the first L
    standard weights renormalised to sum to 1, so identical images still score exactly 1.
    Values from fewer scales are *not* comparable with 5-scale values; evaluation images
    (Kodak: 768 x 512) always use 5.
    """
    side = min(x.shape[-2:])
    levels = next((lv for lv in range(5, 0, -1) if side > (_WIN_SIZE - 1) * 2 ** (lv - 1)), 0)
    if levels == 5:
        return ms_ssim(x, y, data_range=data_range)
    if levels == 0:
        raise ValueError(
            f"MS-SSIM needs images of at least {_WIN_SIZE} px per side, got {tuple(x.shape[-2:])}"
        )
    return _ms_ssim_levels(x, y, levels, data_range)


def _ms_ssim_levels(
    x: torch.Tensor, y: torch.Tensor, levels: int, data_range: float
) -> torch.Tensor:
    """pytorch_msssim.ms_ssim's loop with ``levels`` scales and renormalised weights."""
    weights = x.new_tensor(_MS_SSIM_WEIGHTS[:levels])
    if levels < 5:  # the 5 standard weights sum to 1.0001; keep them as published
        weights = weights / weights.sum()
    win = _fspecial_gauss_1d(_WIN_SIZE, 1.5).repeat([x.shape[1], 1, 1, 1])
    mcs = []
    for i in range(levels):
        ssim_c, cs = _ssim(x, y, data_range=data_range, win=win, size_average=False)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=pad)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=pad)
    stacked = torch.stack(mcs + [torch.relu(ssim_c)], dim=0)  # (levels, N, C)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean()


class MSE(Metric):
    """Mean squared error over all pixels and channels, on the ``[0, 1]`` scale (so the number
    logged in training and the one in ``results.json`` are the same quantity)."""

    name = "mse"
    higher_is_better = False
    results_key = "mse"
    loss_scale = 255.0**2  # CompressAI's convention: lmbda * 255^2 * MSE + bpp

    def compute(self, original: np.ndarray, reconstruction: np.ndarray, num_bits: int) -> float:
        _check_pair(original, reconstruction)
        diff = original.astype(np.float64) - reconstruction.astype(np.float64)
        return float(np.mean(diff * diff) / 255.0**2)

    def distortion(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(x_hat, x)


class PSNR(Metric):
    """Peak signal-to-noise ratio of RGB uint8 images (peak 255, MSE over all channels).

    Identical images give :data:`PSNR_CAP_DB` (100 dB) instead of infinity, so averages over
    a data set and JSON output stay finite. Not a training distortion: use ``mse``.
    """

    name = "psnr"
    higher_is_better = True
    unit = "dB"
    results_key = "psnr-rgb"

    def compute(self, original: np.ndarray, reconstruction: np.ndarray, num_bits: int) -> float:
        mse = MSE().compute(original, reconstruction, num_bits)  # on [0, 1], peak 1 == 255/255
        if mse == 0.0:
            return PSNR_CAP_DB
        return float(min(PSNR_CAP_DB, -10.0 * math.log10(mse)))


class MSSSIM(Metric):
    """Multi-scale SSIM (``pytorch_msssim``, data range 1, as CompressAI). Higher is better.

    ``distortion`` is ``1 - MS-SSIM`` on float batches, differentiable; crops smaller than
    161 px use fewer scales (see :func:`ms_ssim_any_size`).
    """

    name = "ms-ssim"
    higher_is_better = True
    results_key = "ms-ssim-rgb"

    @torch.no_grad()
    def compute(self, original: np.ndarray, reconstruction: np.ndarray, num_bits: int) -> float:
        _check_pair(original, reconstruction)
        return float(ms_ssim_any_size(_to_tensor(original), _to_tensor(reconstruction)))

    def distortion(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return 1.0 - ms_ssim_any_size(x_hat, x, data_range=1.0)


class BPP(Metric):
    """Bits per pixel: coded bits (every byte of the file) / (H * W)."""

    name = "bpp"
    higher_is_better = False
    unit = "bit/px"
    results_key = "bpp"

    def compute(self, original: np.ndarray, reconstruction: np.ndarray, num_bits: int) -> float:
        h, w = original.shape[:2]
        return float(num_bits) / (h * w)


METRICS = [MSE, PSNR, MSSSIM, BPP]
