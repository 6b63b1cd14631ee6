"""``nc run`` of a video pipeline: training on clips (synthetic camera motion), evaluation of
every test sequence on real bytes (each frame decoded and checked), per-frame rows, the
all-intra variant beside it, and a clear error for an image dataset."""

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
from nc_core.frames import FrameWriter
from nc_core.imaging import write_image
from nc_core.models import load_weights


def run_nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, ssf_spec) -> Path:
    root = tmp_path_factory.mktemp("video-run")
    rng = np.random.default_rng(5)
    (root / "photos").mkdir()
    for i in range(2):
        write_image(root / "photos" / f"p{i}.png", rng.integers(0, 256, (160, 200, 3), dtype=np.uint8))
    (root / "clips").mkdir()
    base = rng.integers(0, 256, (48, 100, 3), dtype=np.uint8)
    with FrameWriter(root / "clips" / "pan.mp4") as writer:
        for k in range(5):
            writer.write(np.ascontiguousarray(base[:, 2 * k:2 * k + 64]))
    spec = {"name": "tiny-video", "seed": 0, "device": "cpu",
            "data": {"train": {"use": "camera-motion", "path": str(root / "photos"), "clip": 3, "patch": 64,
                               "batch": 2},
                     "test": {"use": "video-folder", "path": str(root / "clips")}},
            "codec": ssf_spec,
            "train": {"loss": {"use": "video-rate-distortion", "distortion": "mse", "lmbda": 0.01, "frames": 1,
                               "parts": ["intra"]}, "steps": 2,
                      "then": [{"name": "p-frame", "steps": 2,
                                "loss": {"use": "video-rate-distortion", "distortion": "mse", "lmbda": 0.01,
                                         "frames": 2, "parts": ["motion", "residual"]}},
                               {"name": "chain", "steps": 1,
                                "loss": {"use": "video-rate-distortion", "distortion": "mse", "lmbda": 0.01}}]},
            "evaluate": {"metrics": ["bpp", "psnr", "psnr-yuv"], "variants": [{"codec.intra_period": 1}],
                         "baselines": [{"use": "x264", "qualities": [36, 28], "intra_period": 3}]}}
    path = root / "video.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_video_pipeline_trains_and_evaluates_on_real_bytes(pipeline, tmp_path):
    code, out, err = run_nc("run", pipeline, "--out", tmp_path)
    assert code == 0, err
    run = next((tmp_path / "tiny-video").iterdir())
    doc = json.loads((run / "results.json").read_text())
    (row,) = doc["per_image"]
    assert row["sequence"] == "pan" and row["frames"] == 5 and len(row["per_frame"]) == 5
    assert row["bytes"] > sum(f["bytes"] for f in row["per_frame"])  # the container's own bytes count too
    assert row["bpp"] == pytest.approx(8 * row["bytes"] / (5 * 64 * 48))
    assert {"psnr-rgb", "psnr-yuv", "encoding_time"} <= set(doc["results"])
    intra = json.loads((run / "results-intra_period=1.json").read_text())
    assert intra["per_image"][0]["frames"] == 5
    assert "1 test sequences" in (run / "report.md").read_text()
    (x264,) = json.loads((run / "baselines.json").read_text())
    assert x264["name"] == "x264" and len(x264["bpp"]) == 2 and x264["bpp"][0] < x264["bpp"][1]
    assert x264["psnr-yuv"][0] < x264["psnr-yuv"][1]
    assert [r["sequence"] for r in x264["per_sequence"][0]] == ["pan"]  # each sequence's own curve, kept
    report = (run / "report.md").read_text()
    assert "### pan (5 frames)" in report and "![pan](rd-pan.png)" in report
    assert (run / "rd-pan.png").read_bytes()[:4] == b"\x89PNG"
    assert "per_sequence" not in doc["results"]
    # the stages: the intra codec first, then motion and residual with it fixed, then all
    first, second, last = (load_weights(p / "model.pt") for p in (run / "stage1", run / "stage2", run))
    assert all(torch.equal(first[k], second[k]) for k in first if k.startswith("intra."))
    assert any(not torch.equal(first[k], second[k]) for k in first if k.startswith("pframe.residual_analysis"))
    assert any(not torch.equal(second[k], last[k]) for k in first if k.startswith("intra."))
    assert (run / "results-stage1.json").exists() and (run / "results-stage2.json").exists()


@pytest.mark.parametrize("change, message", [
    ({"data": {"test": {"use": "samples"}}}, "has no frame sequences"),
    ({"evaluate": {"metrics": ["psnr"], "baselines": ["jpeg"]}}, "'jpeg' is an image baseline"),
])
def test_image_data_and_image_baselines_are_refused_for_a_video_codec(pipeline, tmp_path, change, message):
    spec = yaml.safe_load(pipeline.read_text())
    for section, value in change.items():
        spec[section] |= value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    code, _, err = run_nc("run", bad, "--out", tmp_path)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not list((tmp_path / "tiny-video").glob("*/model.pt"))  # refused before any training


def test_the_stage_loss_keeps_frames_and_trains_parts(ssf_spec):
    from nc_core.pipeline import PipelineError, build

    codec = build(ssf_spec, "codec")
    loss = build({"use": "video-rate-distortion", "lmbda": 0.01, "distortion": "mse", "frames": 2,
                  "parts": ["motion"]}, "loss")
    assert loss.batch(torch.rand(2, 5, 3, 8, 8)).shape == (2, 2, 3, 8, 8)
    params = {id(p) for p in loss.model_parameters(codec)}
    motion = [*codec.pframe.motion_analysis.parameters(), *codec.pframe.motion_entropy.parameters()]
    assert all(id(p) in params for p in motion)
    assert not any(id(p) in params for p in [*codec.intra.parameters(), *codec.pframe.residual_synthesis.parameters()])
    with pytest.raises(ValueError, match="training clips have 1"):
        loss.batch(torch.rand(2, 1, 3, 8, 8))
    with pytest.raises(PipelineError, match="frames must be >= 1"):
        build({"use": "video-rate-distortion", "lmbda": 0.01, "distortion": "mse", "frames": 0}, "loss")


def test_the_motion_warm_up_trains_the_prediction_on_motion_bits(ssf_spec):
    """target: prediction: the distortion of the warped prediction plus the motion bits, per
    P-frame pixel; the residual's bits and output do not enter it."""
    from nc_core.losses import rate_bits
    from nc_core.pipeline import PipelineError, build

    torch.manual_seed(0)
    codec = build(ssf_spec, "codec")
    loss = build({"use": "video-rate-distortion", "lmbda": 0.01, "distortion": "mse", "frames": 2,
                  "parts": ["motion"], "target": "prediction"}, "loss")
    clip = loss.batch(torch.rand(2, 3, 3, 64, 64))
    out = codec(clip)
    assert out["x_bar"].shape == (2, 1, 3, 64, 64)
    value, logs = loss(clip, out, codec)
    motion = {k: v for k, v in out["likelihoods"].items() if k.startswith("p1-motion-")}
    bpp = rate_bits(motion) / (2 * 64 * 64)
    mse = torch.mean((out["x_bar"][:, 0] - clip[:, 1]) ** 2)
    assert logs["bpp"] == pytest.approx(bpp.item(), rel=1e-5) and logs["mse"] == pytest.approx(mse.item(), rel=1e-5)
    assert value.item() == pytest.approx(bpp.item() + 0.01 * 255**2 * mse.item(), rel=1e-5)
    value.backward()
    assert codec.pframe.motion_synthesis[-1].weight.grad.abs().sum() > 0  # the flow learns from the prediction
    assert all(p.grad is None for p in codec.pframe.residual_synthesis.parameters())
    for bad in ({"parts": ["motion", "residual"]}, {"frames": 1}):
        with pytest.raises(PipelineError, match="target: prediction trains the motion branch alone"):
            build({"use": "video-rate-distortion", "lmbda": 0.01, "distortion": "mse", "frames": 2,
                   "parts": ["motion"], "target": "prediction"} | bad, "loss")


def test_the_flow_weight_pulls_the_decoded_flow_to_the_search(ssf_spec):
    from nc_core.pipeline import build

    torch.manual_seed(0)
    codec = build(ssf_spec | {"motion_search": 2}, "codec")
    clip = torch.rand(2, 2, 3, 64, 64)
    out = codec(clip)
    plain = build({"use": "video-rate-distortion", "lmbda": 0.01, "distortion": "mse"}, "loss")
    pulled = build({"use": "video-rate-distortion", "lmbda": 0.01, "distortion": "mse", "flow_weight": 0.5}, "loss")
    gap = (out["flow"][:, :, :2] - out["found"]).abs().mean()
    assert gap > 0
    assert pulled(clip, out, codec)[0].item() == pytest.approx(plain(clip, out, codec)[0].item() + 0.5 * gap.item(),
                                                               rel=1e-6)
    with pytest.raises(ValueError, match="flow_weight needs a codec with motion_search"):
        pulled(clip, build(ssf_spec, "codec")(clip), codec)
