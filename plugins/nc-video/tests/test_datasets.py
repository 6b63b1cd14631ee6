"""The video datasets: sequences streamed in name order, training clips of the right shape
whose frames are consecutive, and synthetic camera motion that really moves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nc_core.frames import FrameWriter
from nc_core.imaging import write_image
from nc_core.pipeline import PipelineError, build


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (40, 300, 3), dtype=np.uint8)
    with FrameWriter(root / "b-pan.mp4") as w:  # frame k = columns k*4 .. k*4 + 63 of base
        for k in range(8):
            w.write(np.ascontiguousarray(base[:, 4 * k:4 * k + 64]))
    with FrameWriter(root / "a-frames") as w:
        for k in range(3):
            w.write(np.full((40, 64, 3), 10 * k, np.uint8))
    (root / "notes.txt").write_text("not a video")
    return root, base


def test_video_folder_sequences_and_training_clips(folder):
    root, base = folder
    data = build({"use": "video-folder", "path": str(root), "frames": 6, "clip": 4, "patch": 32, "batch": 3},
                 "dataset")
    assert data.info() == [("a-frames", 64, 40, 3), ("b-pan", 64, 40, 6)]
    seqs = {name: list(frames) for name, frames in data.sequences()}
    assert [len(v) for v in seqs.values()] == [3, 6] and np.array_equal(seqs["b-pan"][5], base[:, 20:84])
    assert next(iter(data.images()))[0] == "a-frames/000000"
    clips = next(data.batches(seed=1))
    assert clips.shape == (3, 4, 3, 32, 32) and 0 <= clips.min() and clips.max() <= 1
    for clip in clips:  # only b-pan has 4 frames: consecutive frames are the pan, 4 px apart
        a, b = clip[0], clip[1]
        assert torch.equal(a[..., 4:], b[..., :-4]) or torch.equal(a[..., :-4], b[..., 4:])  # flipped or not
    assert torch.equal(next(data.batches(seed=1)), clips)


def test_video_folder_errors(folder, tmp_path):
    root, _ = folder
    with pytest.raises(PipelineError, match="does not exist"):
        build({"use": "video-folder", "path": str(tmp_path / "none")}, "dataset")
    with pytest.raises(PipelineError, match="no videos"):
        build({"use": "video-folder", "path": str(tmp_path)}, "dataset")
    data = build({"use": "video-folder", "path": str(root), "clip": 9, "patch": 32}, "dataset")
    with pytest.raises(ValueError, match="no sequence .* has 9 frames"):
        next(data.batches(0))


def test_camera_motion_moves_a_photo(tmp_path):
    photo = np.random.default_rng(2).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    write_image(tmp_path / "p.png", photo)
    data = build({"use": "camera-motion", "path": str(tmp_path), "pan": 5, "zoom": 0, "rotate": 0, "count": 2,
                  "length": 4, "size": [48, 32], "clip": 3, "patch": 40, "batch": 2, "seed": 7}, "dataset")
    seqs = list(data.sequences())
    assert [name for name, _ in seqs] == ["synthetic-000", "synthetic-001"]
    frames = list(seqs[0][1])
    assert len(frames) == 4 and frames[0].shape == (32, 48, 3) and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])  # the camera moved
    clips = next(data.batches(seed=0))
    assert clips.shape == (2, 3, 3, 40, 40)
    assert torch.equal(clips, (clips * 255).round() / 255)  # values a uint8 file can hold
    again = [list(f) for _, f in build({"use": "camera-motion", "path": str(tmp_path), "pan": 5, "zoom": 0,
                                        "rotate": 0, "count": 2, "length": 4, "size": [48, 32], "seed": 7},
                                       "dataset").sequences()]
    assert all(np.array_equal(a, b) for a, b in zip(again[0], frames))
    with pytest.raises(PipelineError, match="zoom < 0.2"):
        build({"use": "camera-motion", "path": str(tmp_path), "zoom": 0.5}, "dataset")


def test_camera_motion_holds_a_share_of_its_clips_still(tmp_path):
    write_image(tmp_path / "p.png", np.random.default_rng(3).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    spec = {"use": "camera-motion", "path": str(tmp_path), "pan": 5, "clip": 3, "patch": 40, "batch": 16}

    def still_clips(share):
        clips = next(build(spec | {"still": share}, "dataset").batches(seed=0))
        return sum(bool(torch.equal(c[0], c[1]) and torch.equal(c[1], c[2])) for c in clips)

    assert still_clips(0.0) == 0 and still_clips(1.0) == 16 and 2 <= still_clips(0.5) <= 14
    with pytest.raises(PipelineError, match="still is the share of clips without motion"):
        build(spec | {"still": 1.5}, "dataset")


def test_camera_motion_objects_move_on_their_own(tmp_path):
    """With objects and a camera held still, frames differ only where an object moved; with a
    still clip, nothing moves at all; objects: 0 renders what it rendered before."""
    write_image(tmp_path / "p.png", np.random.default_rng(4).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    spec = {"use": "camera-motion", "path": str(tmp_path), "pan": 0, "zoom": 0, "rotate": 0, "clip": 3,
            "patch": 64, "batch": 8}
    plain = next(build(spec, "dataset").batches(seed=0))
    moving = next(build(spec | {"objects": 3, "object_pan": 6}, "dataset").batches(seed=0))
    assert torch.equal(next(build(spec | {"objects": 0}, "dataset").batches(seed=0)), plain)
    assert all(torch.equal(c[0], c[1]) for c in plain)  # the camera alone does not move
    changed = [(c[0] != c[1]).any(0).float().mean().item() for c in moving]
    assert max(changed) > 0.01  # some objects moved ...
    assert all(share < 0.9 for share in changed)  # ... locally: most of each frame stayed
    still = next(build(spec | {"objects": 3, "still": 1.0, "pan": 5}, "dataset").batches(seed=0))
    assert all(torch.equal(c[0], c[1]) and torch.equal(c[1], c[2]) for c in still)
    with pytest.raises(PipelineError, match="objects and object_pan must be >= 0"):
        build(spec | {"objects": -1}, "dataset")


def test_camera_motion_lighting_blur_and_noise_change_frames_no_motion_explains(tmp_path):
    """On still clips: lighting drifts the mean from frame to frame, noise adds independent
    noise of the given deviation, blur smooths; all off renders what it rendered before."""
    photo = np.random.default_rng(5).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    write_image(tmp_path / "p.png", photo)
    spec = {"use": "camera-motion", "path": str(tmp_path), "clip": 3, "patch": 64, "batch": 8, "still": 1.0}
    plain = next(build(spec, "dataset").batches(seed=0))
    off = next(build(spec | {"lighting": 0.0, "blur": 0.0, "noise": 0.0}, "dataset").batches(seed=0))
    assert torch.equal(plain, off)
    lit = next(build(spec | {"lighting": 0.05}, "dataset").batches(seed=0))
    drift = (lit[:, 2].mean((1, 2, 3)) - lit[:, 0].mean((1, 2, 3))).abs()
    assert drift.max() > 0.01 and torch.equal(plain[0, 0], lit[0, 0])  # the first frame as it was
    noisy = next(build(spec | {"noise": 0.02}, "dataset").batches(seed=0))
    diff = noisy[:, 1] - noisy[:, 0]  # still clips: the difference is the noise of two frames
    assert 0.02 < float(diff.std()) < 0.035
    blurred = next(build(spec | {"blur": 3.0}, "dataset").batches(seed=0))

    def grad(x):
        return (x[..., 1:] - x[..., :-1]).abs().mean().item()
    assert grad(blurred) < 0.8 * grad(plain)
    with pytest.raises(PipelineError, match="0 <= noise < 0.5"):
        build(spec | {"noise": -0.1}, "dataset")
