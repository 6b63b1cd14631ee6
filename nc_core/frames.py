"""Reading and writing frame sequences: folders of PNG frames, and MP4 / Y4M / anything ffmpeg
reads through the ffmpeg binary inside the ``imageio-ffmpeg`` wheel (no system ffmpeg; an
optional dependency: ``pip install nc-core[video]``, or any video plugin, brings it).

Frames are uint8 ``H x W x 3`` RGB arrays, streamed one at a time: a sequence is never held
in memory whole. YUV sources are converted to RGB with the BT.709 matrix, limited range (what
the test clips and most video carry), so that every reader gives the same pixels for the same
source and the YUV metrics (:mod:`nc_video.color`) invert exactly that conversion.

Writers write to a temporary name beside the target and rename it when the last frame is in,
so an interrupted write leaves no half-written file; a PNG folder gets its frames one by one
(each frame file is complete when it appears).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np

from nc_core import imaging

#: ffmpeg filter that turns any YUV source into RGB with BT.709 (limited range in, full out)
TO_RGB = "scale=in_color_matrix=bt709:in_range=tv:out_range=pc,format=rgb24"
PNG_NAME = "{:06d}.png"
VIDEO_SUFFIXES = {".mp4", ".y4m", ".mkv", ".mov", ".avi", ".webm"}


class VideoError(ValueError):
    """A sequence that cannot be read or written (missing, not a video, damaged)."""


def ffmpeg() -> str:
    """The path of the ffmpeg binary inside the imageio-ffmpeg wheel (a clear error without it)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VideoError("reading or writing video files needs the imageio-ffmpeg wheel: pip install imageio-ffmpeg "
                         "(PNG-frame folders need nothing)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _png_frames(folder: Path) -> list[Path]:
    frames = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".png")
    if not frames:
        raise VideoError(f"no PNG frames in folder {str(folder)!r}")
    return frames


def video_info(path: str | Path) -> tuple[int, int, int]:
    """``(width, height, frames)`` of a video file or a PNG-frame folder."""
    path = Path(path)
    if path.is_dir():
        frames = _png_frames(path)
        h, w = imaging.load_rgb(frames[0]).shape[:2]
        return w, h, len(frames)
    if not path.is_file():
        raise VideoError(f"video {str(path)!r} does not exist")
    proc = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                           "-f", "null", "-"], capture_output=True, text=True)
    size = re.search(r"Stream #\S+.*?Video: .*?(\d{2,5})x(\d{2,5})", proc.stderr)
    counts = re.findall(r"frame=\s*(\d+)", proc.stderr)
    if proc.returncode != 0 or size is None or not counts:
        raise VideoError(f"{str(path)!r} is not a video ffmpeg can read")
    return int(size.group(1)), int(size.group(2)), int(counts[-1])


def frame_rate(path: str | Path, default: float = 25.0) -> float:
    """Frames per second of a video file (``default`` for a PNG folder or when unstated)."""
    path = Path(path)
    if path.is_dir():
        return default
    proc = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True)
    found = re.search(r"Video: .*?(\d+(?:\.\d+)?) fps", proc.stderr)
    return float(found.group(1)) if found else default


def read_frames(path: str | Path, limit: int | None = None, start: int = 0) -> Iterator[np.ndarray]:
    """Frames ``start .. start + limit - 1`` (all from ``start`` when ``limit`` is None), one at
    a time, as uint8 ``H x W x 3`` RGB."""
    path = Path(path)
    if start < 0 or (limit is not None and limit < 0):
        raise ValueError("start and limit must be >= 0")
    if path.is_dir():
        frames = _png_frames(path)[start:]
        for f in frames[:limit] if limit is not None else frames:
            yield imaging.load_rgb(f)
        return
    width, height, _ = video_info(path)
    select = f"select=gte(n\\,{start})," if start else ""
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-vf", select + TO_RGB, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    if limit is not None:
        cmd += ["-frames:v", str(limit)]
    proc = subprocess.Popen(cmd + ["-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    frame_bytes = width * height * 3
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if not buf:
                break
            if len(buf) != frame_bytes:
                raise VideoError(f"{str(path)!r}: a truncated frame ({len(buf)} of {frame_bytes} bytes)")
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3).copy()
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


class FrameWriter:
    """Writes frames to ``path``: a ``.y4m`` (BT.709 YUV 4:4:4, limited range, 8 bit: within one
    level of the frames, not exact), a lossless RGB ``.mp4``
    (H.264 RGB, qp 0) or, for a path without a video suffix, a folder of PNG frames. Use as a
    context manager; the file appears under its name only when the writer closes cleanly."""

    def __init__(self, path: str | Path, fps: float = 25.0):
        self.path, self.fps = Path(path), float(fps)
        suffix = self.path.suffix.lower()
        if suffix and suffix not in (".y4m", ".mp4"):
            raise VideoError(f"can write .y4m, .mp4 (lossless) or a folder of PNGs, not {suffix!r}: {str(self.path)!r}")
        self.kind = suffix or "png"
        self.count, self._proc, self._size = 0, None, None
        self._tmp = self.path.with_name(f".{self.path.name}.part")

    def __enter__(self) -> "FrameWriter":
        if self.kind == "png":
            self.path.mkdir(parents=True, exist_ok=True)
        return self

    def _open(self, width: int, height: int) -> None:
        out = {".y4m": ["-pix_fmt", "yuv444p", "-f", "yuv4mpegpipe"],
               ".mp4": ["-c:v", "libx264rgb", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "rgb24", "-f", "mp4"]}
        cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{self.fps:g}", "-i", "-"]
        if self.kind == ".y4m":  # RGB -> BT.709 YUV, limited range: what readers (and read_frames) assume
            cmd += ["-vf", "scale=out_color_matrix=bt709:out_range=tv", "-color_range", "tv",
                    "-colorspace", "bt709"]
        self._proc = subprocess.Popen(cmd + out[self.kind] + [str(self._tmp)], stdin=subprocess.PIPE,
                                      stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be uint8 H x W x 3, got {frame.dtype} {frame.shape}")
        if self._size is None:
            self._size = frame.shape
        elif frame.shape != self._size:
            raise ValueError(f"frame {self.count} is {frame.shape[:2]}, the sequence {self._size[:2]}")
        if self.kind == "png":
            imaging.write_image(self.path / PNG_NAME.format(self.count), frame)
        else:
            if self._proc is None:
                self._open(frame.shape[1], frame.shape[0])
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._proc is None:
            return
        self._proc.stdin.close()
        err = self._proc.stderr.read().decode(errors="replace").strip()
        code = self._proc.wait()
        if exc_type is None and code == 0:
            os.replace(self._tmp, self.path)
            return
        self._tmp.unlink(missing_ok=True)
        if exc_type is None:
            raise VideoError(f"ffmpeg could not write {str(self.path)!r}: {err.splitlines()[-1] if err else code}")
