"""The lossy evaluation's decode check: every file must decode to exactly the evaluation
reconstruction, or the reported numbers would describe an image the decoder never produces.
A codec whose decoder is off by one level at one pixel is injected; the check must fire."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from nc_core.cli import main
from nc_core.components.codecs import TransformCoding
from nc_core.plugins import get_registry
from nc_core.runner.evaluate import ReconstructionMismatch, evaluate_codec
from nc_core.testing import require

require("nc_ans")  # the coder "ans" below


def one_level_off(decode):
    """``decode`` with one pixel moved by one level (wrapping inside 0..255)."""
    def wrong(self, payload):
        image = decode(self, payload).copy()
        image[3, 5, 1] = (int(image[3, 5, 1]) + 1) % 256
        return image
    return wrong


@pytest.fixture
def codec_and_images():
    reg = get_registry()
    torch.manual_seed(0)
    codec = reg.get("codec", "transform-coding")(
        transform=reg.get("transform", "factorized")(channels=8, latent=8),
        quantizer=reg.get("quantizer", "round")(), prior=reg.get("probability-model", "deep-factorized")(),
        coder=reg.get("coder", "ans")(),
    )
    codec.update()
    rng = np.random.default_rng(0)
    images = [(f"img{i}", rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)) for i in range(2)]
    metrics = [reg.get("metric", "bpp")(), reg.get("metric", "psnr")()]
    return codec, images, metrics


def test_an_exact_decoder_passes_the_check(codec_and_images):
    codec, images, metrics = codec_and_images
    rows = evaluate_codec(codec, images, metrics)
    assert [r["image"] for r in rows] == ["img0", "img1"]


def test_a_decoder_one_level_off_at_one_pixel_is_caught(codec_and_images, monkeypatch):
    codec, images, metrics = codec_and_images
    monkeypatch.setattr(TransformCoding, "decode", one_level_off(TransformCoding.decode))
    with pytest.raises(ReconstructionMismatch, match="img0: decoded image differs from the evaluation reconstruction"):
        evaluate_codec(codec, images, metrics)


@pytest.mark.slow
def test_nc_run_reports_the_mismatch_as_an_internal_error(tiny_pipeline, tmp_path, monkeypatch):
    """Through ``nc run``: a bug in nc, not a user error (exit 1), and no results are written."""
    monkeypatch.setattr(TransformCoding, "decode", one_level_off(TransformCoding.decode))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", str(tiny_pipeline), "--out", str(tmp_path / "runs"), "--quiet"])
    assert code == 1, err.getvalue()
    assert "internal error: ReconstructionMismatch" in err.getvalue()
    assert not list((tmp_path / "runs").rglob("results.json"))
