"""``residual: latent``: P-frames coded in the intra codec's latent space against the
prediction's latents. The intra codec's rungs become the video codec's (the rung is in the
file), a P-frame decodes to the intra codec's synthesis of its latents (so the chain does not
drift), decoding is exact along the chain, and ``nc run`` evaluates every rung and every
variant at every rung."""

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
from nc_core.container import ContainerError
from nc_core.frames import FrameWriter
from nc_core.imaging import write_image
from nc_core.pipeline import PipelineError, build
from nc_core.sequence_file import SequenceReader, SequenceWriter

HYPER = {"use": "mean-scale-hyperprior", "hyper_channels": 8}
INTRA = {"use": "hyperprior", "transform": {"use": "factorized", "channels": 8, "latent": 8}, "entropy": HYPER,
         "quantizer": "mixed", "coder": "ans", "ladder": [0.01, 0.02, 0.04]}
SPEC = {"use": "ssf", "intra": INTRA, "motion_entropy": HYPER, "residual_entropy": HYPER, "quantizer": "mixed",
        "coder": "ans", "intra_period": 4, "channels": 8, "latent": 8, "residual": "latent"}


@pytest.fixture(scope="module", params=["motion", "no-motion", "conditional"])
def codec(request):
    torch.manual_seed(0)
    options = {"motion": request.param != "no-motion", "conditional": request.param == "conditional"}
    codec = build(SPEC | options | {"motion_search": 2, "motion_vectors": 4}, "codec")
    if options["conditional"]:  # the context network starts with no effect: give it one
        torch.nn.init.normal_(codec.pframe.residual_entropy.context_fusion.net[-1].weight, std=0.3)
    codec.update()
    return codec.eval()


@pytest.fixture(scope="module")
def frames():
    base = np.random.default_rng(1).integers(0, 256, (50, 120, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, 2 * k:2 * k + 70]) for k in range(6)]


def _code(codec, frames):
    buf, recs = io.BytesIO(), []
    codec.compress_sequence(frames, buf, on_frame=lambda f, rec, n: recs.append(rec))
    return buf.getvalue(), recs


def test_the_intra_codecs_rungs_are_the_video_codecs(codec, frames):
    assert codec.qualities == 3 and codec.quality == 2  # the intra codec's default: its top rung
    files = {k: _code(codec.with_quality(k), frames) for k in range(3)}
    assert len({recs[1].tobytes() for _, recs in files.values()}) == 3  # each rung its own P-frame picture
    for k, (data, recs) in files.items():  # the rung is in the file: the default-rung codec decodes any
        decoded = list(codec.decompress_sequence(io.BytesIO(data)))
        assert len(decoded) == 6 and all(np.array_equal(a, b) for a, b in zip(decoded, recs)), k
    with pytest.raises(ValueError, match="quality must be one of"):
        codec.with_quality(3)


@pytest.mark.parametrize("threads", [1, 2])
def test_decoding_is_exact_along_the_chain_and_from_an_intra_frame(codec, frames, threads):
    data, recs = _code(codec.with_quality(1), frames)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert all(np.array_equal(a, b) for a, b in zip(codec.decompress_sequence(io.BytesIO(data)), recs))
        assert all(np.array_equal(a, b) for a, b in zip(codec.decompress_sequence(io.BytesIO(data), start=4),
                                                        recs[4:]))
    finally:
        torch.set_num_threads(saved)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b) ** 2)))


def test_a_p_frame_has_the_intra_quality_of_its_rung_whatever_its_prediction():
    """No drift: a P-frame is the intra codec's synthesis of its own latents, so its quality is
    an intra frame's at that rung, whether it is predicted from the frame before it or from a
    grey frame (only the rate pays for a poor prediction)."""
    pytest.importorskip("nc_zoo", reason="needs the nc-zoo distribution (its trained mean-scale model)")
    torch.manual_seed(0)
    codec = build(SPEC | {"intra": None, "intra_model": "zoo:mean-scale-mse", "motion": False,
                          "residual_entropy": {"use": "mean-scale-hyperprior", "hyper_channels": 16}}, "codec")
    codec.update()
    codec = codec.eval().with_quality(3)
    rng = np.random.default_rng(2)
    scene = torch.nn.functional.avg_pool2d(torch.from_numpy(rng.random((1, 3, 140, 220))), 5, 1)[0]
    scene = (scene.permute(1, 2, 0).numpy() * 600 - 172).clip(0, 255).astype(np.uint8)  # smooth blobs and edges
    f0, f1 = scene[:64, :128], scene[2:66, 3:131]
    intra = codec.intra.with_quality(3).reconstruct(np.ascontiguousarray(f1))
    for ref in (f0, np.full_like(f0, 128)):
        data, recs = _code(codec, [np.ascontiguousarray(ref), np.ascontiguousarray(f1)])
        assert abs(_psnr(recs[1], f1) - _psnr(intra, f1)) < 0.5


def _rewritten(data: bytes, header) -> bytes:
    """The same frames under another sequence header."""
    reader, out = SequenceReader(io.BytesIO(data)), io.BytesIO()
    writer = SequenceWriter(out, reader.name, reader.digest, header)
    for _, intra, payload in reader.frames():
        writer.write(intra, payload)
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize("header", [[70, 50, 25000, 3], [70, 50, 25000]], ids=["rung-3-of-3", "no-rung"])
def test_a_file_without_a_valid_rung_fails_cleanly(codec, frames, header):
    data, _ = _code(codec.with_quality(0), frames)
    assert SequenceReader(io.BytesIO(data)).header == [70, 50, 25000, 0]
    assert len(list(codec.decompress_sequence(io.BytesIO(_rewritten(data, [70, 50, 25000, 1]))))) == 6
    with pytest.raises(ContainerError, match="no rung of a 3-rung ladder"):
        next(codec.decompress_sequence(io.BytesIO(_rewritten(data, header))))


def test_the_configuration_is_checked():
    with pytest.raises(PipelineError, match="motion: false needs residual: latent"):
        build(SPEC | {"residual": "pixels", "motion": False}, "codec")
    with pytest.raises(PipelineError, match="not both or neither"):
        build(SPEC | {"intra_model": "zoo:mean-scale-mse"}, "codec")
    with pytest.raises(PipelineError, match="scale_mediated scales a pixel residual"):
        build(SPEC | {"scale_mediated": True}, "codec")
    with pytest.raises(PipelineError, match="conditional needs residual: latent"):
        build(SPEC | {"residual": "pixels", "conditional": True}, "codec")
    with pytest.raises(PipelineError, match="conditional: entropy model 'scale-hyperprior' takes no context"):
        build(SPEC | {"conditional": True, "residual_entropy": {"use": "scale-hyperprior", "hyper_channels": 8}},
              "codec")


def test_a_conditional_residual_model_starts_as_the_intra_codecs_own():
    codec = build(SPEC | {"conditional": True, "residual_entropy_init": "intra"}, "codec")
    mine, own = codec.pframe.residual_entropy.state_dict(), codec.intra.entropy.state_dict()
    assert set(mine) - set(own) == {k for k in mine if k.startswith("context_fusion.")} != set()
    assert all(torch.equal(mine[k], own[k]) for k in own)
    assert not codec.pframe.residual_entropy.context_fusion.net[-1].weight.any()  # no effect yet


def test_nc_run_evaluates_every_rung_and_every_variant_at_every_rung(tmp_path):
    rng = np.random.default_rng(5)
    (tmp_path / "photos").mkdir()
    write_image(tmp_path / "photos" / "p.png", rng.integers(0, 256, (160, 200, 3), dtype=np.uint8))
    (tmp_path / "clips").mkdir()
    base = rng.integers(0, 256, (48, 100, 3), dtype=np.uint8)
    with FrameWriter(tmp_path / "clips" / "pan.mp4") as writer:
        for k in range(3):
            writer.write(np.ascontiguousarray(base[:, 2 * k:2 * k + 64]))
    spec = {"name": "tiny-latent", "seed": 0, "device": "cpu",
            "data": {"train": {"use": "camera-motion", "path": str(tmp_path / "photos"), "clip": 2, "patch": 64,
                               "batch": 2},
                     "test": {"use": "video-folder", "path": str(tmp_path / "clips")}},
            "codec": SPEC | {"motion": False},
            "train": {"loss": {"use": "video-rate-distortion", "distortion": "mse", "lmbda": 0.01,
                               "parts": ["residual"]}, "steps": 2},
            "evaluate": {"metrics": ["bpp", "psnr"], "variants": [{"codec.intra_period": 1}]}}
    (tmp_path / "latent.yaml").write_text(yaml.safe_dump(spec))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["run", str(tmp_path / "latent.yaml"), "--out", str(tmp_path / "runs")]) == 0, err.getvalue()
    run = next(Path(tmp_path / "runs" / "tiny-latent").iterdir())
    for k in range(3):
        assert json.loads((run / f"results-quality={k}.json").read_text())["per_image"][0]["frames"] == 3
        assert (run / f"results-intra_period=1-quality={k}.json").exists()
    curve = json.loads((run / "results-intra_period=1.json").read_text())  # the all-intra curve, every rung
    assert len(curve["results"]["bpp"]) == 3
