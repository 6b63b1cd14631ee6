"""Scale-space warping (Agustsson et al. 2020, "Scale-space flow for end-to-end optimized
video compression").

A frame becomes a *scale-space volume*: level 0 is the frame, level ``k >= 1`` the frame
blurred by a Gaussian of deviation ``sigma0 * 2**(k - 1)``. A scale-space flow has three
channels per pixel, ``(dx, dy, s)``: the prediction of pixel ``(x, y)`` is the volume sampled
trilinearly at ``(x + dx, y + dy, s)``, ``s`` in level units (0: sharp, ``levels - 1``: the
most blurred; clamped to that range). Where motion is uncertain (occlusions, noise) the codec
learns to predict from a blurred source, which costs fewer residual bits than a sharp wrong
one. Outside the frame the sampling repeats the border.

The blur is separable with replicate padding, so the volume and the warp are deterministic
functions of their inputs (the decoder rebuilds exactly the encoder's prediction).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of deviation ``sigma`` over ``[-ceil(3 sigma), ceil(3 sigma)]``."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` (``N x C x H x W``) blurred by a separable Gaussian, borders replicated."""
    k = gaussian_kernel(sigma).to(x.dtype).to(x.device)
    r, c = len(k) // 2, x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def scale_space_volume(x: torch.Tensor, levels: int = 5, sigma0: float = 1.5) -> torch.Tensor:
    """``N x C x levels x H x W``: ``x`` and ``levels - 1`` blurred copies (deviations
    ``sigma0 * 2**(k - 1)``, ``k = 1 .. levels - 1``)."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    return torch.stack([x, *(gaussian_blur(x, sigma0 * 2 ** (k - 1)) for k in range(1, levels))], dim=2)


def scale_space_warp(volume: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``volume`` (``N x C x L x H x W``) at ``flow`` (``N x 3 x H x W``: ``dx, dy`` in
    pixels, ``s`` in levels): ``N x C x H x W``."""
    n, _, levels, h, w = volume.shape
    if flow.shape != (n, 3, h, w):
        raise ValueError(f"flow must be {n} x 3 x {h} x {w} for this volume, got {tuple(flow.shape)}")
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype, device=flow.device),
                            torch.arange(w, dtype=flow.dtype, device=flow.device), indexing="ij")
    # grid_sample's coordinates with align_corners=True: -1 and 1 are the first and last samples
    gx = 2 * (xs + flow[:, 0]) / max(w - 1, 1) - 1
    gy = 2 * (ys + flow[:, 1]) / max(h - 1, 1) - 1
    # level 0 is sampled one step inside a copy of itself: grid_sample gives no gradient at a
    # border, and s starts at exactly 0 (an untrained coder does not blur), so without the copy
    # s would never learn to blur
    volume = torch.cat([volume[:, :, :1], volume], dim=2)
    gz = 2 * (flow[:, 2].clamp(0, levels - 1) + 1) / levels - 1
    grid = torch.stack([gx, gy, gz], dim=-1)[:, None]  # N x 1 x H x W x 3
    return F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)[:, :, 0]


def warp(frame: torch.Tensor, flow: torch.Tensor, levels: int = 5, sigma0: float = 1.5) -> torch.Tensor:
    """The prediction of ``frame`` moved by the scale-space ``flow``."""
    return scale_space_warp(scale_space_volume(frame, levels, sigma0), flow)
