"""``nc compress`` / ``nc decompress`` of clips with an ssf model: one file per clip, decoded
frame by frame to lossless MP4, Y4M or PNG frames equal to the encoder's reconstructions;
damaged files exit 2 with one line and keep the frames before the damage."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nc_core.cli import main
from nc_core.container import codec_digest
from nc_core.frames import FrameWriter, read_frames
from nc_core.pipeline import build


def run_nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def model(tmp_path_factory, ssf_spec) -> tuple[Path, object]:
    """A run directory holding an (untrained, but moving) ssf model, as ``nc run`` leaves one."""
    run = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    codec = build(ssf_spec, "codec")
    with torch.no_grad():
        for p in codec.pframe.motion_synthesis[-1].parameters():
            p.normal_(0, 0.05)
    codec.update()
    codec.eval()
    torch.save(codec.state_dict(), run / "model.pt")
    pipeline = {"name": "ssf-test", "data": {"test": {"use": "video-folder", "path": str(run)}}, "codec": ssf_spec}
    (run / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    (run / "model.json").write_text(json.dumps({"codec": "ssf", "weights": codec_digest(codec).hex()}))
    return run, codec


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    base = np.random.default_rng(3).integers(0, 256, (48, 120, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(base[:, 4 * k:4 * k + 64]) for k in range(7)]
    path = tmp_path_factory.mktemp("clips") / "pan.mp4"
    with FrameWriter(path, fps=30) as writer:
        for f in frames:
            writer.write(f)
    return path, frames


def test_a_clip_round_trips_through_the_cli(model, clip, tmp_path):
    run, codec = model
    source, frames = clip
    code, out, err = run_nc("compress", "--model", run, source, "-o", tmp_path / "pan.nc")
    assert code == 0 and "7 frames 64x48" in out and err == ""
    recs = []
    codec.compress_sequence(frames, io.BytesIO(), on_frame=lambda f, r, n: recs.append(r))
    for name in ("out.mp4", "frames", "out.y4m"):
        code, out, err = run_nc("decompress", "--models", run.parent, tmp_path / "pan.nc", "-o", tmp_path / name)
        assert code == 0, err
        decoded = list(read_frames(tmp_path / name))
        assert len(decoded) == 7
        tolerance = 2 if name.endswith(".y4m") else 0  # Y4M is 4:4:4 YUV, within two levels
        assert all(np.abs(a.astype(int) - b).max() <= tolerance for a, b in zip(decoded, recs)), name


def test_damaged_clips_exit_2_keeping_the_good_frames(model, clip, tmp_path):
    run, _ = model
    source, _ = clip
    assert run_nc("compress", "--model", run, source, "-o", tmp_path / "pan.nc")[0] == 0
    data = (tmp_path / "pan.nc").read_bytes()
    (tmp_path / "cut.nc").write_bytes(data[: len(data) * 3 // 4])
    code, out, err = run_nc("decompress", "--model", run, tmp_path / "cut.nc", "-o", tmp_path / "cut.mp4")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "truncated" in err and "frames before it" in err
    kept = list(read_frames(tmp_path / "cut.mp4"))
    assert 0 < len(kept) < 7
    code, _, err = run_nc("decompress", "--model", run, tmp_path / "pan.nc", "-o", tmp_path / "x.gif")
    assert code == 2 and "decodes to .y4m, .mp4" in err


def test_a_video_needs_a_video_model_and_a_readable_file(model, tmp_path):
    run, _ = model
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 500)
    code, _, err = run_nc("compress", "--model", run, junk, "-o", tmp_path / "junk.nc")
    assert code == 2 and "junk.mp4" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "junk.nc").exists() and not list(tmp_path.glob(".*part"))
