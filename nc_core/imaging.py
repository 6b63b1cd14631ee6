"""Images in and out of nc (public API, see docs/plugin-guide.md): reading files, uint8
arrays <-> float tensors, padding to a transform's stride, and the fixed thread count that
makes a decoder's pixels independent of the machine."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["IMAGE_SUFFIXES", "MAX_SIDE", "SYNTHESIS_THREADS", "load_rgb", "to_tensor", "to_image", "pad_to",
           "fixed_threads", "as_items"]

#: file suffixes an ``image-folder`` dataset reads
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}

MAX_SIDE = 1 << 16


#: the decoder's synthesis always runs with this many torch threads (see fixed_threads)
SYNTHESIS_THREADS = 2


@contextlib.contextmanager
def fixed_threads(threads: int = SYNTHESIS_THREADS):
    """Run torch ops with a fixed thread count. Convolutions split their float reductions by
    thread count, so the same symbols could decode to pixels one level apart under another
    ``OMP_NUM_THREADS`` or on a machine with more cores; a fixed count (a number of threads,
    not of cores: work is partitioned the same way on any machine) makes the pixels
    independent of both while still using two cores."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``H x W x 3`` -> float ``1 x 3 x H x W`` in [0, 1]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 image, got {image.dtype} {image.shape}")
    return torch.tensor(image).permute(2, 0, 1)[None].float().div(255.0)  # a copy: inputs may be read-only


def to_image(x: torch.Tensor) -> np.ndarray:
    """float ``1 x 3 x H x W`` -> uint8 ``H x W x 3`` (clamped, rounded half to even)."""
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()


def pad_to(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Replicate-pad right and bottom to a multiple of ``stride`` (cropped back on decode)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def load_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 ``H x W x 3`` (alpha dropped, grey expanded)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def as_items(images: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Dataset images (``H x W x C``) as one ``N x H x W x C`` uint8 array of equal shapes."""
    shapes = {img.shape for _, img in images}
    if len(shapes) != 1:
        raise ValueError(f"lossless evaluation needs items of one shape, got {len(shapes)} shapes")
    return np.stack([img for _, img in images]).astype(np.uint8)
