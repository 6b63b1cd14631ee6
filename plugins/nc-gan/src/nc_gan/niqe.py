"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik 2013): a
no-reference metric, the distance between a multivariate Gaussian fitted to an image's
natural-scene statistics and one fitted to pristine photographs. Lower is better.

Features follow the authors' MATLAB release: the luminance (ITU-R BT.601, 0-255), its
mean-subtracted contrast-normalised (MSCN) coefficients under a 7x7 Gaussian window
(sigma 7/6), cut into 96x96 blocks; per block a generalised Gaussian fit of the MSCN values
(shape, deviation) and an asymmetric generalised Gaussian fit of the products of horizontal,
vertical and both diagonal neighbours (shape, mean, left and right variance): 18 numbers; the
same again on the image halved (bicubic, antialiased): 36. The pristine model keeps the
blocks sharper than 0.75 times an image's sharpest (mean local deviation).

The pristine model nc ships (``niqe_pristine.npz``, 36 means and a 36x36 covariance) was
fitted by nc on the 49 photos of the shared data folder, not the authors' 125 photos, so
values are comparable with each other but not with published NIQE numbers::

    python -m nc_gan.niqe fit ../shared/data/photos -o plugins/nc-gan/src/nc_gan/niqe_pristine.npz
"""

from __future__ import annotations

import argparse
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import correlate
from scipy.special import gamma

BLOCK = 96
SHARPNESS_THRESHOLD = 0.75
PRISTINE = Path(__file__).with_name("niqe_pristine.npz")
_SHAPES = np.arange(0.2, 10.0005, 0.001)  # the moment-matching grid of the shape parameter
#: neighbour offsets (rows, columns) of the four pairwise products, as the MATLAB circshift
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


FLAT = 1e-6  # MSCN coefficients below this, in a whole block, are a flat block


def _window() -> np.ndarray:
    x = np.arange(7) - 3
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


def luminance(image: np.ndarray) -> np.ndarray:
    """uint8 ``H x W x 3`` (or ``H x W``) -> float64 luminance in 0..255 (BT.601, as rgb2gray)."""
    if image.ndim == 2:
        return image.astype(np.float64)
    return image[..., :3].astype(np.float64) @ np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def mscn(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(MSCN coefficients, local deviation)`` of a luminance image (replicated borders)."""
    w = _window()
    mu = correlate(lum, w, mode="nearest")
    sigma = np.sqrt(np.abs(correlate(lum * lum, w, mode="nearest") - mu * mu))
    return (lum - mu) / (sigma + 1), sigma


@lru_cache(maxsize=1)
def _ratios() -> tuple[np.ndarray, np.ndarray]:
    g1, g2, g3 = gamma(1 / _SHAPES), gamma(2 / _SHAPES), gamma(3 / _SHAPES)
    return g1 * g3 / g2**2, g2**2 / (g1 * g3)


def ggd_fit(x: np.ndarray) -> tuple[float, float]:
    """Generalised Gaussian by moment matching: ``(shape, deviation)``; NaNs for all zeros."""
    sigma_sq = float(np.mean(x * x))
    if sigma_sq == 0:
        return math.nan, math.nan
    rho = sigma_sq / float(np.mean(np.abs(x))) ** 2
    return float(_SHAPES[np.argmin(np.abs(rho - _ratios()[0]))]), math.sqrt(sigma_sq)


def aggd_fit(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian: ``(shape, left deviation, right deviation)``; NaNs for
    all zeros."""
    if not np.any(x):
        return math.nan, math.nan, math.nan
    left = math.sqrt(float(np.mean(x[x < 0] ** 2))) if np.any(x < 0) else 0.0
    right = math.sqrt(float(np.mean(x[x > 0] ** 2))) if np.any(x > 0) else 0.0
    g = left / right if right > 0 else 0.0
    r = float(np.mean(np.abs(x))) ** 2 / float(np.mean(x * x))
    r_norm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    return float(_SHAPES[np.argmin((_ratios()[1] - r_norm) ** 2)]), left, right


def block_features(block: np.ndarray) -> list[float]:
    """The 18 features of one block of MSCN coefficients (NaNs where the block, or a product of
    neighbours, is all zeros: a flat block, e.g. a sky at a low JPEG quality, has no statistics)."""
    if np.abs(block).max() < FLAT:  # rounding residue of a constant luminance, not texture
        return [math.nan] * 18
    shape, deviation = ggd_fit(block.ravel())
    feats = [shape, deviation]
    for dy, dx in _SHIFTS:
        pair = (block * np.roll(block, (dy, dx), axis=(0, 1))).ravel()
        a, left, right = aggd_fit(pair)
        mean = (right - left) * gamma(2 / a) / gamma(1 / a) * math.sqrt(gamma(1 / a) / gamma(3 / a))
        feats += [a, mean, left**2, right**2]
    return feats


def _halve(lum: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(lum)[None, None]
    return F.interpolate(t, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)[0, 0].numpy()


def image_features(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(features, sharpness)``: 36 features and the mean local deviation of every whole
    96x96 block (the image is cropped to whole blocks)."""
    lum = luminance(image)
    rows, cols = lum.shape[0] // BLOCK, lum.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs images of at least {BLOCK} px per side, got {lum.shape[0]}x{lum.shape[1]}")
    lum = lum[: rows * BLOCK, : cols * BLOCK]
    per_scale, sharpness = [], None
    for scale in (1, 2):
        coeffs, sigma = mscn(lum)
        b = BLOCK // scale
        per_scale.append([block_features(coeffs[i * b:(i + 1) * b, j * b:(j + 1) * b])
                          for i in range(rows) for j in range(cols)])
        if scale == 1:
            sharpness = np.array([sigma[i * b:(i + 1) * b, j * b:(j + 1) * b].mean()
                                  for i in range(rows) for j in range(cols)])
        lum = _halve(lum)
    return np.hstack([np.array(f) for f in per_scale]), sharpness


def _textured(feats: np.ndarray) -> np.ndarray:
    """The blocks whose features are defined (flat blocks are left out, as BasicSR's NIQE does)."""
    return feats[~np.isnan(feats).any(axis=1)]


def fit_pristine(images) -> dict[str, np.ndarray]:
    """The pristine model of an iterable of uint8 images: ``{"mean", "cov", "blocks"}``."""
    kept = []
    for image in images:
        feats, sharpness = image_features(image)
        kept.append(_textured(feats[sharpness > SHARPNESS_THRESHOLD * sharpness.max()]))
    feats = np.vstack(kept)
    return {"mean": feats.mean(axis=0), "cov": np.cov(feats, rowvar=False), "blocks": np.array(len(feats))}


@lru_cache(maxsize=1)
def pristine() -> tuple[np.ndarray, np.ndarray]:
    with np.load(PRISTINE) as model:
        return model["mean"], model["cov"]


def niqe(image: np.ndarray, model: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """NIQE of a uint8 image against ``model`` (``(mean, cov)``; default: the shipped one)."""
    mean, cov = model if model is not None else pristine()
    feats = _textured(image_features(image)[0])
    if len(feats) < 2:
        raise ValueError(f"NIQE needs at least two {BLOCK}x{BLOCK} blocks that are not flat, got an image of "
                         f"{image.shape[0]}x{image.shape[1]} with {len(feats)}")
    d = mean - feats.mean(axis=0)
    return float(math.sqrt(max(float(d @ np.linalg.pinv((cov + np.cov(feats, rowvar=False)) / 2) @ d), 0.0)))


def main(argv: list[str] | None = None) -> int:
    from nc_core.imaging import load_rgb

    parser = argparse.ArgumentParser(prog="python -m nc_gan.niqe", description="fit NIQE's pristine model")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit the pristine model on a folder of photos")
    fit.add_argument("folder", type=Path)
    fit.add_argument("-o", "--output", type=Path, default=PRISTINE)
    args = parser.parse_args(argv)
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    model = fit_pristine(load_rgb(p) for p in files)
    np.savez(args.output, **model, source=json.dumps({"folder": args.folder.name, "images": len(files)}))
    print(f"{args.output}: {int(model['blocks'])} blocks of {len(files)} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
