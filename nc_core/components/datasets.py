"""Datasets: a folder of images, the built-in ``samples`` photos, and arrays of small images
(e.g. MNIST digits) from a ``.npz`` file for lossless coding.

Training draws random ``patch x patch`` crops (with random horizontal flips) from images held
in memory; evaluation yields whole images in name order. Paths may use ``${NC_DATA}``, and
``${VAR:-default}`` for a fallback, so pipelines work with or without the shared data folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from nc_core import files, imaging
from nc_core._deprecation import moved
from nc_core.contracts import Dataset


class _InMemoryImages(Dataset):
    """Shared crop sampling over a list of in-memory images."""

    def __init__(self, patch: int, batch: int):
        if patch < 16 or batch < 1:
            raise ValueError("patch must be >= 16 and batch >= 1")
        self.patch, self.batch = patch, batch
        self._images: list[tuple[str, np.ndarray]] | None = None

    def _load(self) -> list[tuple[str, np.ndarray]]:
        raise NotImplementedError  # each dataset says where its images come from

    @property
    def loaded(self) -> list[tuple[str, np.ndarray]]:
        if self._images is None:
            self._images = self._load()
        return self._images

    def images(self) -> Iterator[tuple[str, np.ndarray]]:
        yield from self.loaded

    def batches(self, seed: int) -> Iterator[torch.Tensor]:
        images = [img for _, img in self.loaded]
        small = [i for i, img in enumerate(images) if min(img.shape[:2]) < self.patch]
        if small:
            raise ValueError(f"{len(small)} training images are smaller than patch={self.patch}")
        rng = np.random.default_rng(seed)
        p = self.patch
        while True:
            out = np.empty((self.batch, p, p, 3), dtype=np.uint8)
            for b in range(self.batch):
                img = images[rng.integers(len(images))]
                top = rng.integers(img.shape[0] - p + 1)
                left = rng.integers(img.shape[1] - p + 1)
                crop = img[top : top + p, left : left + p]
                out[b] = crop[:, ::-1] if rng.random() < 0.5 else crop
            yield torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


class ImageFolder(_InMemoryImages):
    """Every image file directly inside ``path`` (sorted by name); ``limit`` keeps the first N;
    ``crop`` makes evaluation yield each image's centre ``crop x crop`` (items of one shape,
    as lossless pipelines need) instead of the whole image."""

    name = "image-folder"

    def __init__(self, path: str, patch: int = 256, batch: int = 8, limit: int | None = None,
                 crop: int | None = None):
        super().__init__(patch, batch)
        if crop is not None and crop < 1:
            raise ValueError(f"crop must be positive, got {crop}")
        self.crop = crop
        self.path = files.expand_path(path)
        if not self.path.is_dir():
            raise ValueError(f"image folder {str(self.path)!r} does not exist")
        self.files = sorted(f for f in self.path.iterdir() if f.suffix.lower() in imaging.IMAGE_SUFFIXES)
        if limit is not None:
            self.files = self.files[:limit]
        if not self.files:
            raise ValueError(f"no images ({', '.join(sorted(imaging.IMAGE_SUFFIXES))}) in {str(self.path)!r}")

    def _load(self):
        return [(f.stem, imaging.load_rgb(f)) for f in self.files]

    def images(self) -> Iterator[tuple[str, np.ndarray]]:
        if self.crop is None:
            yield from self.loaded
            return
        c = self.crop
        for name, img in self.loaded:
            h, w = img.shape[:2]
            if min(h, w) < c:
                raise ValueError(f"image {name!r} ({w}x{h}) is smaller than crop={c}")
            top, left = (h - c) // 2, (w - c) // 2
            yield name, np.ascontiguousarray(img[top : top + c, left : left + c])


#: photos shipped inside scikit-image's wheel (no download); test images are kept out of train
SAMPLE_SPLITS = {
    "train": ["rocket.jpg", "motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg",
              "ihc.png", "retina.jpg", "coffee.png"],
    "test": ["astronaut.png", "chelsea.png"],
}


class Samples(_InMemoryImages):
    """Real photographs that ship with scikit-image: ``split`` is ``train`` or ``test``."""

    name = "samples"

    def __init__(self, split: str = "test", patch: int = 128, batch: int = 8):
        super().__init__(patch, batch)
        if split not in SAMPLE_SPLITS:
            raise ValueError(f"split must be one of {', '.join(SAMPLE_SPLITS)}")
        self.split = split

    def _load(self):
        import skimage.data

        folder = Path(skimage.data.__file__).parent
        return [(Path(f).stem, imaging.load_rgb(folder / f)) for f in SAMPLE_SPLITS[self.split]]


class ArrayFile(Dataset):
    """Items ``start .. stop - 1`` of the ``key`` array (``N x H x W`` or ``N x H x W x C``,
    uint8) of a ``.npz`` file. ``binarize`` (a threshold, e.g. 128) maps values ``>=`` it to 1
    and the rest to 0. ``levels`` is the largest value (1 binarised, else 255): ``images()``
    yields the integers, ``batches()`` random training batches of ``values / levels`` in
    ``[0, 1]`` (float ``N x C x H x W``)."""

    name = "npz"

    def __init__(self, path: str, key: str = "data", start: int = 0, stop: int | None = None,
                 binarize: int | None = None, batch: int = 64):
        self.path = files.expand_path(path)
        if not self.path.is_file():
            raise ValueError(f"array file {str(self.path)!r} does not exist")
        if batch < 1 or start < 0 or (stop is not None and stop <= start):
            raise ValueError("need batch >= 1 and 0 <= start < stop")
        if binarize is not None and not 1 <= binarize <= 255:
            raise ValueError(f"binarize must be a threshold in 1..255, got {binarize}")
        self.key, self.start, self.stop, self.binarize, self.batch = key, start, stop, binarize, batch
        self.levels = 1 if binarize is not None else 255
        self._items: np.ndarray | None = None

    @property
    def items(self) -> np.ndarray:
        """``N x H x W x C`` uint8 values in ``0..levels``."""
        if self._items is None:
            with np.load(self.path) as arrays:
                if self.key not in arrays:
                    raise ValueError(f"{str(self.path)!r} has no array {self.key!r} (has {', '.join(arrays)})")
                a = arrays[self.key]
            if a.dtype != np.uint8 or a.ndim not in (3, 4):
                raise ValueError(f"array {self.key!r} must be uint8 N x H x W (x C), got {a.dtype} {a.shape}")
            stop = len(a) if self.stop is None else self.stop
            if stop > len(a):
                raise ValueError(f"stop={stop} beyond the {len(a)} items of {str(self.path)!r}")
            a = a[self.start : stop]
            a = a[..., None] if a.ndim == 3 else a
            self._items = (a >= self.binarize).astype(np.uint8) if self.binarize is not None else a.copy()
        return self._items

    def images(self) -> Iterator[tuple[str, np.ndarray]]:
        for i, item in enumerate(self.items):
            yield f"{self.start + i:05d}", item

    def batches(self, seed: int) -> Iterator[torch.Tensor]:
        items = torch.from_numpy(self.items).permute(0, 3, 1, 2).float().div_(self.levels)
        rng = np.random.default_rng(seed)
        while True:
            yield items[torch.from_numpy(rng.integers(0, len(items), self.batch))]


DATASETS = [ImageFolder, Samples, ArrayFile]

__getattr__ = moved(__name__, {"IMAGE_SUFFIXES": "nc_core.imaging", "load_rgb": "nc_core.imaging", "expand_path": "nc_core.files"})
