"""Base class for classical codecs that Pillow writes (public API, see docs/plugin-guide.md).
A subclass names the Pillow format and plugin and its save options; the core's JPEG, WebP,
AVIF, JPEG 2000, PNG and WebP-lossless baselines are such subclasses."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from PIL import Image, features

from nc_core.contracts import Baseline

__all__ = ["PillowBaseline"]


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
