"""Classical video codecs as baselines, through the ffmpeg inside the ``imageio-ffmpeg``
wheel: ``x264``, ``x265`` and ``svt-av1``, in the low-delay configurations learned-video
papers compare against (DCVC's protocol).

Every frame is converted to YUV 4:2:0 with BT.709 (limited range, what the readers assume),
coded as an elementary stream (``.h264``, ``.hevc``; AV1 in IVF, whose 32-byte header and
12-byte frame headers count in the rate), decoded by the same ffmpeg and converted back to
RGB. ``quality`` is the QP (x264, x265) or the CRF (SVT-AV1); ``intra_period`` the key-frame
interval (0: only the first frame), with no scene-cut key frames and no B-frames:

* ``x264``: ``-preset veryslow -tune zerolatency``, ``-bf 0`` (``preset`` may name another);
* ``x265``: ``-preset veryslow -tune zerolatency``, ``bframes=0`` (likewise);
* ``svt-av1``: ``pred-struct=1`` (low delay), preset ``preset`` (0 slowest .. 13).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar, Iterable, Iterator

import numpy as np

from nc_core.contracts import Baseline
from nc_core.frames import VideoError, ffmpeg, read_frames

TO_YUV = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
LONG_GOP = 100_000  # "only the first frame is intra": a key-frame interval no clip reaches


class FFmpegBaseline(Baseline):
    """Shared plumbing: a subclass sets the encoder's ``suffix`` (muxer) and ``encoder_args``."""

    video = True
    suffix: ClassVar[str]
    quality_range: ClassVar[tuple[int, int]] = (0, 51)

    def __init__(self, quality: int, intra_period: int = 32):
        lo, hi = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, int) or not lo <= quality <= hi:
            raise ValueError(f"baseline {self.name!r}: quality must be an integer in [{lo}, {hi}], got {quality!r}")
        if intra_period < 0:
            raise ValueError(f"intra_period must be >= 0 (0: only the first frame), got {intra_period}")
        super().__init__(quality)
        self.intra_period = int(intra_period)

    @property
    def keyint(self) -> int:
        return self.intra_period or LONG_GOP

    def encoder_args(self) -> list[str]:
        raise NotImplementedError

    def compress_sequence(self, frames: Iterable[np.ndarray], fps: float = 25.0) -> bytes:
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            raise ValueError("no frames to code")
        height, width = first.shape[:2]
        with tempfile.TemporaryDirectory(prefix="nc-video-") as tmp:
            out = Path(tmp) / f"stream.{self.suffix}"
            cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-", "-vf", TO_YUV, *self.encoder_args(),
                   "-f", self.muxer, str(out)]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                for frame in _chain(first, frames):
                    if frame.shape != first.shape:
                        raise ValueError(f"frames of {frame.shape[:2]} in a {first.shape[:2]} sequence")
                    proc.stdin.write(np.ascontiguousarray(frame).tobytes())
                proc.stdin.close()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            err = proc.stderr.read().decode(errors="replace").strip()
            if proc.wait() != 0:
                raise VideoError(f"{self.name} could not code the sequence: {err.splitlines()[-1] if err else ''}")
            return out.read_bytes()

    def decompress_sequence(self, data: bytes) -> Iterator[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="nc-video-") as tmp:
            path = Path(tmp) / f"stream.{self.suffix}"
            path.write_bytes(data)
            yield from read_frames(path)

    def key_frames(self, data: bytes) -> int:
        """How many key frames a stream holds (ffmpeg decodes only those)."""
        with tempfile.TemporaryDirectory(prefix="nc-video-") as tmp:
            path = Path(tmp) / f"stream.{self.suffix}"
            path.write_bytes(data)
            proc = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-skip_frame", "nokey", "-i", str(path),
                                   "-f", "null", "-"], capture_output=True, text=True)
        counts = re.findall(r"frame=\s*(\d+)", proc.stderr)
        return int(counts[-1]) if counts else 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(quality={self.quality}, intra_period={self.intra_period})"


def _chain(first, rest):
    yield first
    yield from rest


X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


class _X26x(FFmpegBaseline):
    """x264 / x265 with a ``preset`` (default ``veryslow``, the papers' setting)."""

    qualities = (42, 37, 32, 27, 22)

    def __init__(self, quality: int, intra_period: int = 32, preset: str = "veryslow"):
        super().__init__(quality, intra_period)
        if preset not in X26X_PRESETS:
            raise ValueError(f"preset must be one of {', '.join(X26X_PRESETS)}, not {preset!r}")
        self.preset = preset


class X264(_X26x):
    """H.264 (x264), low delay: zerolatency, no B-frames; ``quality`` the QP."""

    name = "x264"
    suffix = muxer = "h264"

    def encoder_args(self) -> list[str]:
        return ["-c:v", "libx264", "-preset", self.preset, "-tune", "zerolatency", "-bf", "0", "-g", str(self.keyint),
                "-keyint_min", str(self.keyint), "-sc_threshold", "0", "-qp", str(self.quality)]


class X265(_X26x):
    """H.265 (x265), low delay: zerolatency, no B-frames; ``quality`` the QP."""

    name = "x265"
    suffix = muxer = "hevc"

    def encoder_args(self) -> list[str]:
        params = (f"bframes=0:keyint={self.keyint}:min-keyint={self.keyint}:scenecut=0:qp={self.quality}"
                  ":log-level=error")
        return ["-c:v", "libx265", "-preset", self.preset, "-tune", "zerolatency", "-x265-params", params]


class SVTAV1(FFmpegBaseline):
    """AV1 (SVT-AV1) in its low-delay prediction structure; ``quality`` the CRF (0..63)."""

    name = "svt-av1"
    suffix = muxer = "ivf"
    quality_range = (0, 63)
    qualities = (55, 48, 41, 34, 27)

    def __init__(self, quality: int, intra_period: int = 32, preset: int = 6):
        super().__init__(quality, intra_period)
        if not 0 <= preset <= 13:
            raise ValueError(f"preset must be in 0..13, got {preset}")
        self.preset = int(preset)

    def encoder_args(self) -> list[str]:
        keyint = self.keyint if self.intra_period else -1  # -1: SVT-AV1's "no periodic key frames"
        return ["-c:v", "libsvtav1", "-preset", str(self.preset), "-crf", str(self.quality), "-g", str(keyint),
                "-svtav1-params", "pred-struct=1:scd=0"]


BASELINES = [X264, X265, SVTAV1]
