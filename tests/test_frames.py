"""Frame I/O through the wheel's ffmpeg: exact round trips where the format is lossless,
streaming, start/limit, and clear errors with no half-written files."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

pytest.importorskip("imageio_ffmpeg", reason="the video tests need the imageio-ffmpeg wheel (nc-core[video])")
from nc_core.frames import FrameWriter, VideoError, read_frames, video_info


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (36, 52, 3), dtype=np.uint8)
    return [np.roll(base, k, axis=1) for k in range(6)]  # a pan, odd-free size


def _write(path, frames):
    with FrameWriter(path) as writer:
        for f in frames:
            writer.write(f)
    return path


@pytest.mark.parametrize("name", ["clip.mp4", "frames"])
def test_lossless_formats_round_trip_exactly(tmp_path, frames, name):
    path = _write(tmp_path / name, frames)
    assert video_info(path) == (52, 36, 6)
    back = list(read_frames(path))
    assert len(back) == 6 and all(np.array_equal(a, b) for a, b in zip(frames, back))
    assert [np.array_equal(a, b) for a, b in zip(read_frames(path, limit=2, start=3), frames[3:5])] == [True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left behind


def test_y4m_is_within_two_levels(tmp_path, frames):
    back = list(read_frames(_write(tmp_path / "clip.y4m", frames)))
    assert len(back) == 6 and max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(frames, back)) <= 2


def test_reading_streams_and_stops_early(tmp_path, frames):
    path = _write(tmp_path / "long.mp4", frames * 40)
    reader = read_frames(path)
    first = list(itertools.islice(reader, 3))
    reader.close()  # stops ffmpeg; nothing else was decoded into memory
    assert all(np.array_equal(a, b) for a, b in zip(first, frames))


def test_errors_name_the_file_and_leave_nothing_half_written(tmp_path, frames):
    with pytest.raises(VideoError, match="does not exist"):
        video_info(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(2000))
    with pytest.raises(VideoError, match="junk.mp4.*not a video"):
        list(read_frames(junk))
    with pytest.raises(VideoError, match="not '.gif'"):
        FrameWriter(tmp_path / "x.gif")
    with pytest.raises(RuntimeError, match="interrupted"):
        with FrameWriter(tmp_path / "cut.mp4") as writer:
            writer.write(frames[0])
            raise RuntimeError("interrupted")
    assert not any(p.name.startswith(("cut", ".cut")) for p in tmp_path.iterdir())
    with FrameWriter(tmp_path / "sizes.mp4") as writer:
        writer.write(frames[0])
        with pytest.raises(ValueError, match="frame 1 is"):
            writer.write(frames[0][:10])


def test_the_shared_clips_are_read(nc_data):
    path = nc_data / "video" / "carphone_pristine.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared data's video/ folder)")
    assert video_info(path) == (176, 144, 120)
    first = next(read_frames(path))
    assert first.shape == (144, 176, 3) and 40 < first.mean() < 220
