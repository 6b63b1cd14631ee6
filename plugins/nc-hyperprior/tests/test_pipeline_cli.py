"""nc-hyperprior through pipelines and the CLI: a tiny sweep with refinement, compress and
decompress, and the one-line exit-2 failures for corrupt, truncated and foreign files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nc_core.cli import main
from nc_core.imaging import load_rgb
from nc_core.models import load_model
from nc_core.pipeline import build

PIPELINE = """\
name: tiny-hp
seed: 0
device: cpu
data:
  train: {use: samples, split: train, patch: 64, batch: 2}
  test: {use: samples, split: test}
codec:
  use: hyperprior
  transform: {use: factorized, channels: 8, latent: 8}
  entropy: {use: ENTROPY, hyper_channels: 8}
  quantizer: mixed
  coder: CODER
train:
  loss: {use: rate-distortion, distortion: mse, lmbda: 0.01}
  steps: 3
  warm_start: true
evaluate:
  metrics: [bpp, psnr]
  max_images: 1
  refine: {steps: 2}
sweep:
  train.loss.lmbda: [0.01, 0.02]
"""


def nc(capsys, *args) -> tuple[int, str]:
    """Run the CLI in-process: ``(exit status, stderr)``."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module", params=[("mean-scale-hyperprior", "ans"), ("joint-autoregressive", "range")])
def run(request, tmp_path_factory):
    entropy, coder = request.param
    root = tmp_path_factory.mktemp("hp")
    pipeline = root / "tiny.yaml"
    pipeline.write_text(PIPELINE.replace("ENTROPY", entropy).replace("CODER", coder))
    assert main(["run", str(pipeline), "--out", str(root / "runs"), "--quiet"]) == 0
    (run_dir,) = (root / "runs" / "tiny-hp").iterdir()
    name, image = next(build({"use": "samples", "split": "test"}, "dataset").images())
    source = root / f"{name}.png"
    Image.fromarray(image[:200, :300]).save(source)
    return {"root": root, "run_dir": run_dir, "pipeline": pipeline, "source": source}


@pytest.mark.slow
def test_sweep_reports_refinement_beside_the_plain_models(run):
    run_dir = run["run_dir"]
    report = (run_dir / "report.md").read_text()
    assert report.count("latent refinement, ") == 2 and "refinement BD-rate" in report
    for sub in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        doc = json.loads((sub / "results-refined.json").read_text())
        assert doc["comparison"]["images"] == 1 and doc["comparison"]["steps"] == 2
        assert doc["per_image"][0]["bytes"] > 0


@pytest.mark.slow
def test_cli_round_trip_and_failures(run, tmp_path, capsys):
    sub = sorted(p for p in run["run_dir"].iterdir() if p.is_dir())[0]
    packed, out = tmp_path / "img.nc", tmp_path / "img.png"
    assert main(["compress", "--model", str(sub), str(run["source"]), "-o", str(packed)]) == 0
    code, err = nc(capsys, "decompress", packed, "-o", out, "--models", run["root"])  # found by weights hash
    assert code == 0, err
    image = load_rgb(run["source"])
    assert np.array_equal(load_rgb(out), load_model(sub).reconstruct(image))

    data = packed.read_bytes()
    bad = tmp_path / "bad.nc"
    rng = np.random.default_rng(0)
    cases = [data[: len(data) // 2], data[:-1], bytes(data[:40]) + bytes([data[40] ^ 0x10]) + data[41:]]
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    cases.append(bytes(flipped))
    for case in cases + [bytes(rng.integers(0, 256, len(data), dtype=np.uint8))]:
        bad.write_bytes(case)
        target = tmp_path / "never.png"
        code, err = nc(capsys, "decompress", bad, "-o", target, "--model", sub)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert not target.exists()
    other = sorted(p for p in run["run_dir"].iterdir() if p.is_dir())[1]  # the other lambda
    code, err = nc(capsys, "decompress", packed, "-o", tmp_path / "never.png", "--model", other)
    assert code == 2 and "other weights" in err


def test_refine_with_a_codec_that_cannot_is_a_user_error(tmp_path, capsys):
    pipeline = tmp_path / "p.yaml"
    text = PIPELINE.replace("use: hyperprior", "use: transform-coding").replace(
        "  entropy: {use: ENTROPY, hyper_channels: 8}\n", "  prior: deep-factorized\n").replace("CODER", "ans")
    pipeline.write_text(text)
    code, err = nc(capsys, "run", pipeline, "--out", tmp_path / "runs", "--quiet")
    assert code == 2 and "does not support latent refinement" in err
    assert len(err.strip().splitlines()) == 1


def test_a_coder_variant_of_a_lossy_codec_decodes_the_same_pixels(tmp_path, capsys):
    """evaluate.variants on a lossy model: the same weights coded by another coder give their own
    results-<label>.json, with the same reconstruction and nearly the same bytes."""
    pipeline = tmp_path / "p.yaml"
    text = PIPELINE.replace("ENTROPY", "scale-hyperprior").replace("CODER", "ans")
    pipeline.write_text(text.replace("  refine: {steps: 2}\n", "  variants:\n    - {codec.coder: range}\n")
                        .replace("sweep:\n  train.loss.lmbda: [0.01, 0.02]\n", ""))
    code, err = nc(capsys, "run", pipeline, "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    (run,) = (tmp_path / "runs" / "tiny-hp").iterdir()
    main_point = json.loads((run / "results.json").read_text())
    other = json.loads((run / "results-coder=range.json").read_text())
    assert other["description"].endswith("nc hyperprior coder=range")
    assert other["results"]["psnr-rgb"] == main_point["results"]["psnr-rgb"]
    assert abs(other["results"]["bytes"][0] - main_point["results"]["bytes"][0]) <= 8
