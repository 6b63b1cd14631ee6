"""Classical codecs through Pillow: JPEG, WebP, AVIF and JPEG 2000.

Each baseline codes one uint8 ``H x W x 3`` image at one quality setting to the bytes of a real
file (what the reported rate counts) and decodes them back to RGB. ``qualities`` is the default
sweep, ordered from low to high rate. A codec whose Pillow plugin is missing fails at
construction with a message naming the plugin (``PIL.features.check``).
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from PIL import Image, features

from nc_core.contracts import Baseline

__all__ = ["AVIF", "JPEG", "JPEG2000", "PillowBaseline", "WebP"]


class PillowBaseline(Baseline):
    """Shared Pillow plumbing: subclasses set ``format``, ``feature`` and ``save_options()``."""

    format: ClassVar[str]  # Pillow format name for Image.save
    feature: ClassVar[str]  # PIL.features name of the plugin
    quality_range: ClassVar[tuple[int, int]] = (0, 100)

    def __init__(self, quality: int):
        if not features.check(self.feature):
            raise RuntimeError(
                f"baseline {self.name!r} needs Pillow's {self.feature!r} support, which this "
                f"Pillow ({features.version('pil')}) lacks; install a Pillow wheel built with it"
            )
        lo, hi = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, int) or not lo <= quality <= hi:
            raise ValueError(
                f"baseline {self.name!r}: quality must be an integer in [{lo}, {hi}], "
                f"got {quality!r}"
            )
        super().__init__(quality)

    @classmethod
    def available(cls) -> bool:
        """Whether this Pillow can encode the format."""
        return bool(features.check(cls.feature))

    def save_options(self) -> dict[str, Any]:
        raise NotImplementedError

    def compress(self, image: np.ndarray) -> bytes:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 H x W x 3 image, got {image.dtype} {image.shape}")
        buf = io.BytesIO()
        Image.fromarray(image, "RGB").save(buf, format=self.format, **self.save_options())
        return buf.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(quality={self.quality})"


class JPEG(PillowBaseline):
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


class WebP(PillowBaseline):
    """Lossy WebP (libwebp via Pillow), default method 4, 4:2:0."""

    name = "webp"
    format = "WEBP"
    feature = "webp"
    qualities = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)

    def save_options(self) -> dict[str, Any]:
        return {"quality": self.quality, "method": 4}


class AVIF(PillowBaseline):
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


class JPEG2000(PillowBaseline):
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


BASELINES = [JPEG, WebP, AVIF, JPEG2000]
