"""The ffmpeg video baselines: real streams that decode to the right number of frames, key
frames every intra period (and only the first with 0), quality checked, sizes falling as the
quantiser rises."""

from __future__ import annotations

import numpy as np
import pytest

from nc_core.pipeline import PipelineError, build


@pytest.fixture(scope="module")
def frames():
    base = np.random.default_rng(0).integers(0, 256, (24, 60, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base, 2, axis=0), 2, axis=1)  # 48 x 120, some structure
    return [np.ascontiguousarray(base[:, 4 * k:4 * k + 64]) for k in range(9)]


@pytest.mark.parametrize("name, low, high", [("x264", 40, 20), ("x265", 40, 20), ("svt-av1", 55, 25)])
def test_streams_decode_with_the_asked_key_frames(frames, name, low, high):
    coarse = build({"use": name, "intra_period": 4}, "baseline", quality=low)
    fine = build({"use": name, "intra_period": 4}, "baseline", quality=high)
    small, big = coarse.compress_sequence(frames, fps=25), fine.compress_sequence(frames, fps=25)
    assert 0 < len(small) < len(big)
    decoded = list(fine.decompress_sequence(big))
    assert len(decoded) == 9 and decoded[0].shape == (48, 64, 3)
    psnr = np.mean([10 * np.log10(255**2 / np.mean((a.astype(float) - d) ** 2)) for a, d in zip(frames, decoded)])
    assert psnr > 25
    assert fine.key_frames(big) == 3  # frames 0, 4, 8
    whole = build({"use": name, "intra_period": 0}, "baseline", quality=high)
    assert whole.key_frames(whole.compress_sequence(frames)) == 1


def test_bad_settings_are_refused():
    with pytest.raises(PipelineError, match="quality must be an integer in \\[0, 51\\]"):
        build({"use": "x264"}, "baseline", quality=60)
    with pytest.raises(PipelineError, match="intra_period must be >= 0"):
        build({"use": "x265", "intra_period": -1}, "baseline", quality=30)
    with pytest.raises(PipelineError, match="preset must be one of"):
        build({"use": "x264", "preset": "warp"}, "baseline", quality=30)
    assert "ultrafast" in build({"use": "x264", "preset": "ultrafast"}, "baseline", quality=30).encoder_args()
    with pytest.raises(TypeError, match="codes images, not frame sequences"):
        build("jpeg", "baseline", quality=50).compress_sequence([])
