"""Perceptual metrics that run offline.

``niqe``: the no-reference Natural Image Quality Evaluator of the decoded image
(:mod:`nc_gan.niqe`), against the pristine model nc fitted and ships.

``swd``: the sliced Wasserstein distance of Karras et al. 2018 ("Progressive growing of GANs",
appendix D) between the local image statistics of the originals and of the decoded images.
It needs no trained network, so it is always available; it compares *distributions* of
patches, so a codec that synthesises plausible texture scores better than one that blurs,
even at a lower PSNR.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nc_core.contracts import Metric
from nc_core.imaging import to_tensor

__all__ = ["DISTS", "FID", "KID", "LPIPS", "METRICS", "NIQE", "SlicedWasserstein", "laplacian_pyramid", "patch_descriptors", "sliced_wasserstein",
           "sliced_wasserstein_distance", "sliced_wasserstein_levels"]

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64) / 16
MIN_SIDE = 16  # the coarsest pyramid level's smaller side (Karras et al.: 16 px)
PATCH = 7
PATCHES_PER_IMAGE = 128
DIRECTIONS, REPEATS = 128, 4


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap binomial filter, reflected borders (``N x C x H x W``, float64)."""
    c = x.shape[1]
    k = _BINOMIAL.to(x.dtype)
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="reflect"), k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(F.pad(x, (0, 0, 2, 2), mode="reflect"), k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def _down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[..., ::2, ::2]


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-insertion upsampling to ``size`` and the same filter (gain 4 keeps the mean)."""
    out = torch.zeros(*x.shape[:2], *size, dtype=x.dtype)
    out[..., ::2, ::2] = x
    return _blur(out) * 4


def laplacian_pyramid(image: torch.Tensor, min_side: int = MIN_SIDE) -> list[torch.Tensor]:
    """Band-pass levels, finest first, then the coarse Gaussian level whose smaller side is
    the first below ``2 * min_side``; ``image`` is ``1 x C x H x W``. Summing the levels back
    (upsampling each coarser one) gives ``image`` exactly, up to float rounding."""
    levels, g = [], image
    while min(g.shape[-2:]) >= 2 * min_side:
        smaller = _down(g)
        levels.append(g - _up(smaller, g.shape[-2:]))
        g = smaller
    levels.append(g)
    return levels


def patch_descriptors(level: torch.Tensor, rng: np.random.Generator, count: int = PATCHES_PER_IMAGE) -> torch.Tensor:
    """``count`` random ``PATCH x PATCH`` neighbourhoods of ``level`` (``1 x C x H x W``):
    ``count x C x PATCH x PATCH``."""
    h, w = level.shape[-2:]
    ys = rng.integers(0, h - PATCH + 1, count)
    xs = rng.integers(0, w - PATCH + 1, count)
    return torch.stack([level[0, :, y:y + PATCH, x:x + PATCH] for y, x in zip(ys, xs)])


def _normalise(desc: torch.Tensor) -> torch.Tensor:
    """Per colour channel zero mean and unit deviation over the whole set (Karras et al.)."""
    mean = desc.mean(dim=(0, 2, 3), keepdim=True)
    std = desc.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-12)
    return ((desc - mean) / std).flatten(1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, rng: np.random.Generator,
                       directions: int = DIRECTIONS, repeats: int = REPEATS) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance between the
    projections of the rows of ``a`` and ``b`` (two ``n x D`` sets of equal size)."""
    if a.shape != b.shape:
        raise ValueError(f"sliced Wasserstein needs sets of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    total = 0.0
    for _ in range(repeats):
        dirs = torch.from_numpy(rng.standard_normal((a.shape[1], directions))).to(a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        pa, _ = torch.sort(a @ dirs, dim=0)
        pb, _ = torch.sort(b @ dirs, dim=0)
        total += float((pa - pb).abs().mean())
    return total / repeats


def sliced_wasserstein_distance(originals: Sequence[np.ndarray], decoded: Sequence[np.ndarray],
                                seed: int = 0) -> float:
    """SWD ×10³ between two sets of uint8 ``H x W x 3`` images (pairs of one size), averaged
    over the pyramid levels they share (:func:`sliced_wasserstein_levels`)."""
    return float(np.mean(sliced_wasserstein_levels(originals, decoded, seed)))


def sliced_wasserstein_levels(originals: Sequence[np.ndarray], decoded: Sequence[np.ndarray],
                              seed: int = 0) -> list[float]:
    """SWD ×10³ of each pyramid level every image has, finest first. Patches sit at the same
    (seeded) places in an image and its decoded version, so the numbers are deterministic."""
    if len(originals) != len(decoded) or not originals:
        raise ValueError(f"SWD needs two non-empty sets of one size, got {len(originals)} and {len(decoded)}")
    rng = np.random.default_rng(seed)
    per_level_a: list[list[torch.Tensor]] = []
    per_level_b: list[list[torch.Tensor]] = []
    for original, image in zip(originals, decoded, strict=True):
        if original.shape != image.shape:
            raise ValueError(f"SWD pairs an image with its decoded version: shapes {original.shape} and {image.shape}")
        if min(original.shape[:2]) < 2 * MIN_SIDE:
            raise ValueError(f"SWD needs images of at least {2 * MIN_SIDE} px per side, got {original.shape[:2]}")
        pyr_a = laplacian_pyramid(_tensor(original))
        pyr_b = laplacian_pyramid(_tensor(image))
        for i, (la, lb) in enumerate(zip(pyr_a, pyr_b)):
            if i == len(per_level_a):
                per_level_a.append([])
                per_level_b.append([])
            state = rng.bit_generator.state
            per_level_a[i].append(patch_descriptors(la, rng))
            rng.bit_generator.state = state  # the same places in the decoded image
            per_level_b[i].append(patch_descriptors(lb, rng))
    # levels that every image has (a set may mix sizes)
    shared = [i for i in range(len(per_level_a)) if len(per_level_a[i]) == len(originals)]
    return [1e3 * sliced_wasserstein(_normalise(torch.cat(per_level_a[i])), _normalise(torch.cat(per_level_b[i])), rng)
            for i in shared]


def _tensor(image: np.ndarray) -> torch.Tensor:
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"expected uint8 H x W x C images, got {image.dtype} {image.shape}")
    return torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None] / 255  # a copy: PIL arrays are read-only


class SlicedWasserstein(Metric):
    """Sliced Wasserstein distance (×10³) of Laplacian-pyramid patches, originals vs decoded."""

    name = "swd"
    results_key = "swd"
    higher_is_better = False
    unit = "×10³"
    per_image = False

    def compute_set(self, originals, reconstructions) -> float:
        return sliced_wasserstein_distance(originals, reconstructions)


class NIQE(Metric):
    """NIQE of the decoded image (no reference: the original is not used); lower is better."""

    name = "niqe"
    results_key = "niqe"
    higher_is_better = False

    def compute(self, original, reconstruction, num_bits) -> float:
        from nc_gan.niqe import niqe

        return niqe(reconstruction)


class _NetworkMetric(Metric):
    """A full-reference metric computed by a network ``self.net(x, y)`` (per image, lower is
    better); differentiable, so also a training distortion."""

    higher_is_better = False
    net: torch.nn.Module

    def compute(self, original, reconstruction, num_bits) -> float:
        with torch.no_grad():
            return float(self.net(to_tensor(original), to_tensor(reconstruction))[0])

    def distortion(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return self.net.to(x.device)(x, x_hat).mean()


class LPIPS(_NetworkMetric):
    """LPIPS (AlexNet or VGG heads) with weights from files the user names (:mod:`nc_gan.lpips`)."""

    name = "lpips"
    results_key = "lpips"

    def __init__(self, net: str = "alex", backbone: str | None = None, heads: str | None = None):
        from nc_gan.lpips import load

        self.net = load(net, backbone, heads)


class DISTS(_NetworkMetric):
    """DISTS with weights from files the user names (:mod:`nc_gan.dists`)."""

    name = "dists"
    results_key = "dists"

    def __init__(self, backbone: str | None = None, weights: str | None = None):
        from nc_gan.dists import load

        self.net = load(backbone, weights)


class _InceptionSetMetric(Metric):
    """FID and KID share the network and the patch features (:mod:`nc_gan.fid`)."""

    higher_is_better = False
    per_image = False

    def __init__(self, weights: str | None = None):
        from nc_gan.fid import load_inception

        self.extractor = load_inception(weights)

    def compute_set(self, originals, reconstructions) -> float:
        from nc_gan.fid import cached_features

        # FID and KID of one rate point see the same two lists: the features are computed once
        return self.distance(cached_features(self.extractor, originals), cached_features(self.extractor, reconstructions))


class FID(_InceptionSetMetric):
    """Fréchet Inception distance on 256-px patches (HiFiC's protocol for small sets)."""

    name = "fid"
    results_key = "fid"

    def distance(self, a, b) -> float:
        from nc_gan.fid import frechet_distance

        return frechet_distance(a, b)


class KID(_InceptionSetMetric):
    """Kernel Inception distance ×10³ on 256-px patches."""

    name = "kid"
    results_key = "kid"
    unit = "×10³"

    def distance(self, a, b) -> float:
        from nc_gan.fid import kernel_inception_distance

        return 1e3 * kernel_inception_distance(a, b)


METRICS = [SlicedWasserstein, NIQE, LPIPS, DISTS, FID, KID]
