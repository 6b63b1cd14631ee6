"""Classical codecs: JPEG, WebP, AVIF and JPEG 2000 through Pillow (lossy); and, for lossless
pipelines, PNG and WebP-lossless (one file per item) and gzip, bz2 and LZMA (one file for the
whole set's raw bytes, which favours them: they see every item as context). And ``nc-model``:
a trained nc image model (a zoo model, another run) as a reference curve beside a pipeline's own.

Each baseline codes one uint8 ``H x W x 3`` image at one quality setting to the bytes of a real
file (what the reported rate counts) and decodes them back to RGB. ``qualities`` is the default
sweep, ordered from low to high rate. A codec whose Pillow plugin is missing fails at
construction with a message naming the plugin (``PIL.features.check``).
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from nc_core import baselines
from nc_core._deprecation import moved
from nc_core.contracts import Baseline, LearnedCodec

__all__ = ["AVIF", "BZ2", "GZip", "JPEG", "JPEG2000", "LZMA", "PNG", "TrainedModel", "WebP", "WebPLossless"]


class JPEG(baselines.PillowBaseline):
    """Baseline JPEG (libjpeg via Pillow), 4:2:0 chroma subsampling, standard tables, no
    Huffman optimisation: Pillow's defaults, as in CompressAI's published JPEG curve."""

    name = "jpeg"
    format = "JPEG"
    feature = "jpg"
    quality_range = (1, 100)
    qualities = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
    _SUBSAMPLING: ClassVar[dict[str, int]] = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}

    def __init__(self, quality: int, subsampling: str = "4:2:0"):
        super().__init__(quality)
        if subsampling not in self._SUBSAMPLING:
            raise ValueError(
                f"jpeg: subsampling must be one of {sorted(self._SUBSAMPLING)}, got {subsampling!r}"
            )
        self.subsampling = subsampling

    def save_options(self) -> dict[str, Any]:
        return {"quality": self.quality, "subsampling": self._SUBSAMPLING[self.subsampling]}


class WebP(baselines.PillowBaseline):
    """Lossy WebP (libwebp via Pillow), default method 4, 4:2:0."""

    name = "webp"
    format = "WEBP"
    feature = "webp"
    qualities = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)

    def save_options(self) -> dict[str, Any]:
        return {"quality": self.quality, "method": 4}


class AVIF(baselines.PillowBaseline):
    """AVIF (libavif via Pillow's built-in plugin; AOM encoder where present), 4:2:0, full range.

    ``speed=6`` (libavif's default) takes ~0.5 s per Kodak image on two cores; ``speed=8`` is
    ~6x faster but needs ~8 % more bits (BD-rate on Kodak), which would flatter any codec
    compared against it. Pass ``speed`` for quick runs.
    """

    name = "avif"
    format = "AVIF"
    feature = "avif"
    qualities = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90)

    def __init__(self, quality: int, speed: int = 6):
        super().__init__(quality)
        if not 0 <= speed <= 10:
            raise ValueError(f"avif: speed must be in [0, 10], got {speed!r}")
        self.speed = speed

    def save_options(self) -> dict[str, Any]:
        return {"quality": self.quality, "speed": self.speed, "subsampling": "4:2:0"}


class JPEG2000(baselines.PillowBaseline):
    """JPEG 2000 (OpenJPEG via Pillow): irreversible 9/7 wavelet, colour transform (ICT) on,
    one quality layer, raw codestream (``.j2k``, no JP2 box overhead).

    Rate-controlled: ``quality`` is the *target rate in 1/100 bit per pixel* (``50`` -> 0.5 bpp),
    handed to OpenJPEG as the compression ratio ``24 / bpp`` (``quality_mode="rates"``).
    OpenJPEG lands within a few bytes of the target; the reported rate is the real file size.
    """

    name = "jpeg2000"
    format = "JPEG2000"
    feature = "jpg_2000"
    quality_range = (1, 2400)  # 0.01 .. 24 bpp (24 bpp = uncompressed RGB)
    qualities = (10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300)

    def save_options(self) -> dict[str, Any]:
        return {
            "quality_mode": "rates",
            "quality_layers": [2400.0 / self.quality],
            "irreversible": True,
            "mct": 1,
            "no_jp2": True,
        }


# ------------------------------------------------------------------------------ lossless


def _check_items(items: np.ndarray) -> np.ndarray:
    a = np.asarray(items)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"expected uint8 N x H x W x C items (C 1 or 3), got {a.dtype} {a.shape}")
    return a


class _LosslessImage(baselines.PillowBaseline):
    """Per-item lossless image files. Binary items (all values 0/1) are stored as 1-bit
    images where the format has them, grey items as grey."""

    lossless = True
    qualities = (9,)
    quality_range = (0, 9)

    def compress(self, image: np.ndarray) -> bytes:
        raise TypeError(f"baseline {self.name!r} is lossless: it codes sets (compress_set)")

    def compress_set(self, items: np.ndarray) -> list[bytes]:
        items = _check_items(items)
        binary = bool(items.max(initial=0) <= 1)
        files = []
        for item in items:
            buf = io.BytesIO()
            self._image(item, binary).save(buf, format=self.format, **self.save_options())
            files.append(buf.getvalue())
        return files

    def _image(self, item: np.ndarray, binary: bool) -> Image.Image:
        if item.shape[-1] == 3:
            return Image.fromarray(item, "RGB")
        return Image.fromarray(item[..., 0] * 255, "L").convert("1") if binary else Image.fromarray(item[..., 0], "L")

    def decompress_set(self, files: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=np.uint8)
        for i, data in enumerate(files):
            with Image.open(io.BytesIO(data)) as im:
                a = np.asarray(im.convert("RGB" if shape[-1] == 3 else "L"), dtype=np.uint8)
            out[i] = a.reshape(shape[1:]) if im.mode != "1" else (a.reshape(shape[1:]) > 0)
        return out


class PNG(_LosslessImage):
    """PNG (zlib level ``quality``, Pillow's optimiser on); binary items as 1-bit PNG."""

    name = "png"
    format = "PNG"
    feature = "zlib"

    def save_options(self) -> dict[str, Any]:
        return {"compress_level": self.quality, "optimize": True}


class WebPLossless(_LosslessImage):
    """Lossless WebP (libwebp, method 6, effort 100); grey and binary items as RGB, the
    format's only colour layout."""

    name = "webp-lossless"
    format = "WEBP"
    feature = "webp"
    qualities = (6,)
    quality_range = (0, 6)

    def _image(self, item: np.ndarray, binary: bool) -> Image.Image:
        return Image.fromarray(np.repeat(item, 3 // item.shape[-1], axis=-1), "RGB")

    def save_options(self) -> dict[str, Any]:
        return {"lossless": True, "quality": 100, "method": self.quality, "exact": True}


class _General(Baseline):
    """A general-purpose compressor over the raw bytes of the whole set (one byte per value,
    items in order): ``module.compress(data, level)``."""

    lossless = True
    qualities = (9,)

    def __init__(self, quality: int):
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 9:
            raise ValueError(f"baseline {self.name!r}: quality (compression level) must be 1..9, got {quality!r}")
        super().__init__(quality)

    def _compress(self, data: bytes) -> bytes:
        raise NotImplementedError

    def _decompress(self, data: bytes) -> bytes:
        raise NotImplementedError

    def compress(self, image: np.ndarray) -> bytes:
        raise TypeError(f"baseline {self.name!r} is lossless: it codes sets (compress_set)")

    def compress_set(self, items: np.ndarray) -> list[bytes]:
        return [self._compress(np.ascontiguousarray(_check_items(items)).tobytes())]

    def decompress_set(self, files: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
        return np.frombuffer(self._decompress(files[0]), dtype=np.uint8).reshape(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(level={self.quality})"


class GZip(_General):
    """gzip (DEFLATE), level ``quality``."""

    name = "gzip"

    def _compress(self, data):
        return gzip.compress(data, compresslevel=self.quality, mtime=0)

    def _decompress(self, data):
        return gzip.decompress(data)


class BZ2(_General):
    """bzip2 (Burrows-Wheeler), block size ``quality`` x 100 kB."""

    name = "bz2"

    def _compress(self, data):
        return bz2.compress(data, self.quality)

    def _decompress(self, data):
        return bz2.decompress(data)


class LZMA(_General):
    """LZMA (xz container), preset ``quality`` with the extreme flag."""

    name = "lzma"

    def _compress(self, data):
        return lzma.compress(data, preset=self.quality | lzma.PRESET_EXTREME)

    def _decompress(self, data):
        return lzma.decompress(data)


class TrainedModel(Baseline):
    """A trained nc image model as a reference curve: ``model`` is a run directory or
    ``zoo:NAME`` (``nc zoo``), ``quality`` a rung of its ladder (``qualities: [0, 1, ...]``;
    a fixed-rate model has rung 0 only). Its files are real nc files, decoded like any."""

    name = "nc-model"
    qualities = (0,)
    curve_kind = "nc"  # compared with the classical baselines like the pipeline's own curve

    def __init__(self, quality: int, model: str):
        from nc_core.models import model_dir

        super().__init__(quality)
        self.model = str(model)
        codec = _trained(str(model_dir(self.model)))
        if not isinstance(codec, LearnedCodec):
            raise ValueError(f"{self.model} is not an image model (video and lossless models are not baselines)")
        if quality != codec.quality:
            if not 0 <= quality < codec.qualities:
                raise ValueError(f"{self.model} has rungs 0..{codec.qualities - 1}, not quality {quality}")
            codec = codec.with_quality(quality)
        self.codec = codec

    @property
    def label(self) -> str:
        return f"nc {self.model}"

    def compress(self, image: np.ndarray) -> bytes:
        return self.codec.compress(image)

    def decompress(self, data: bytes) -> np.ndarray:
        return self.codec.decompress(data)

    def __repr__(self) -> str:
        return f"TrainedModel({self.model!r}, quality={self.quality})"


@functools.lru_cache(maxsize=4)
def _trained(folder: str):
    """One load per model for all its rungs (they share the weights)."""
    from nc_core.models import load_model

    return load_model(folder)


BASELINES = [JPEG, WebP, AVIF, JPEG2000, PNG, WebPLossless, GZip, BZ2, LZMA, TrainedModel]

__getattr__ = moved(__name__, {"PillowBaseline": "nc_core.baselines"})
