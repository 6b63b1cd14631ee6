"""Whole pipelines through the CLI: run, report, compress/decompress across thread counts,
user errors, and corrupt files (resume: test_resume.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nc_core.cli import main
from nc_core.components.datasets import Samples
from nc_core.imaging import load_rgb
from nc_core.models import load_model

NC = [sys.executable, "-m", "nc_core"]


def nc(*args, env=None, timeout=300):
    return subprocess.run([*NC, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else os.environ | env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_pipeline_text):
    """One tiny trained run shared by the tests of this module."""
    root = tmp_path_factory.mktemp("e2e")
    pipeline = root / "tiny.yaml"
    pipeline.write_text(tiny_pipeline_text.replace("coder: ans", "coder: range"))
    assert main(["run", str(pipeline), "--out", str(root / "runs"), "--quiet"]) == 0
    (run_dir,) = (root / "runs" / "tiny").iterdir()
    name, image = next(Samples(split="test").images())
    source = root / f"{name}.png"
    Image.fromarray(image).save(source)
    return {"root": root, "run_dir": run_dir, "pipeline": pipeline, "image": image, "source": source}


@pytest.mark.slow
def test_run_writes_results_report_and_plot(trained):
    run_dir = trained["run_dir"]
    results = json.loads((run_dir / "results.json").read_text())
    for key in ("bpp", "psnr-rgb", "encoding_time", "decoding_time"):
        assert len(results["results"][key]) == 1
    row = results["per_image"][0]
    assert row["bytes"] * 8 / (512 * 512) == pytest.approx(row["bpp"])
    assert (row["bytes"] - row["header_bytes"]) * 8 <= 1.005 * row["ideal_bits"] + 64
    assert (run_dir / "rd.png").stat().st_size > 0
    assert "training budget" in (run_dir / "report.md").read_text()
    info = json.loads((run_dir / "model.json").read_text())
    assert info["codec"] == "transform-coding" and len(info["weights"]) == 16


@pytest.mark.slow
def test_compress_and_decompress_match_the_evaluation_reconstruction(trained, tmp_path):
    run_dir, source = trained["run_dir"], trained["source"]
    packed, out = tmp_path / "img.nc", tmp_path / "img.png"
    r = nc("compress", "--model", run_dir, source, "-o", packed, env={"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    bpp = packed.stat().st_size * 8 / (trained["image"].shape[0] * trained["image"].shape[1])
    per_image = json.loads((run_dir / "results.json").read_text())["per_image"][0]
    assert bpp == pytest.approx(per_image["bpp"])  # the CLI writes exactly the evaluated file
    r = nc("decompress", packed, "-o", out, "--models", trained["root"] / "runs", env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    expected = load_model(run_dir).reconstruct(trained["image"])
    assert np.array_equal(load_rgb(out), expected)


@pytest.mark.slow
def test_decompress_with_another_model_is_a_clear_error(trained, tmp_path):
    packed = tmp_path / "img.nc"
    assert main(["compress", "--model", str(trained["run_dir"]), str(trained["source"]), "-o", str(packed)]) == 0
    other = trained["root"] / "other"
    assert main(["run", str(trained["pipeline"]), "--out", str(other), "--quiet", "--set", "seed=1"]) == 0
    (other_dir,) = (other / "tiny").iterdir()
    r = nc("decompress", packed, "-o", tmp_path / "x.png", "--model", other_dir)
    assert r.returncode == 2 and "other weights" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


def test_all_pipeline_problems_are_reported_at_once(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\n"
        "data:\n"
        "  test: {use: samples}\n"
        "codec:\n"
        "  use: transform-coding\n"
        "  transform: {use: factorized, chanels: 8}\n"  # typo'd key
        "  quantizer: mixd\n"  # unknown component
        "  prior: deep-factorized\n"
        "  coder: ans\n"
        "  coder: range\n"  # duplicate key
        "evaluate:\n"
        "  max_images: many\n"  # wrong type
    )
    r = nc("validate", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}:6:") and "did you mean 'channels'" in line for line in lines)
    assert any(line.startswith(f"{bad}:7:") and "did you mean 'mixed'" in line for line in lines)
    assert any(line.startswith(f"{bad}:10:") and "duplicate" in line and "9" in line for line in lines)
    assert any(line.startswith(f"{bad}:12:") and "int" in line for line in lines)

    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("name: x\ncodec: {use: transform-coding\n")
    r = nc("run", syntax)
    assert r.returncode == 2 and r.stderr.startswith(f"{syntax}:") and "Traceback" not in r.stderr


@pytest.mark.slow
def test_user_errors_exit_2_with_one_line(trained, tmp_path):
    cases = [
        ["compress", "--model", str(trained["run_dir"]), str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.nc")],
        ["compress", "--model", str(tmp_path), str(trained["source"]), "-o", str(tmp_path / "o.nc")],
        ["decompress", str(trained["source"]), "-o", str(tmp_path / "o.png")],  # a PNG, not an nc file
    ]
    for args in cases:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main(args) == 2, args
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
    assert not (tmp_path / "o.nc").exists() and not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_a_thousand_corruptions_fail_cleanly(trained, tmp_path):
    packed = tmp_path / "img.nc"
    assert main(["compress", "--model", str(trained["run_dir"]), str(trained["source"]), "-o", str(packed)]) == 0
    data = packed.read_bytes()
    rng = random.Random(0)
    corrupt, out = tmp_path / "corrupt.nc", tmp_path / "out.png"
    for i in range(1000):
        buf = bytearray(data)
        mode = i % 4
        if mode == 0:
            buf = buf[: rng.randrange(len(buf))]  # truncation
        elif mode == 1:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)  # one flipped bit
        elif mode == 2:
            for _ in range(rng.randint(2, 50)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)  # scattered garbage
        else:
            start = rng.randrange(len(buf))
            buf[start : start + rng.randint(1, 200)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        corrupt.write_bytes(bytes(buf))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):  # how long this takes: benchmarks/corrupt_decode_time.py
            code = main(["decompress", str(corrupt), "-o", str(out), "--model", str(trained["run_dir"])])
        assert code == 2, (i, err.getvalue())
        assert len(err.getvalue().strip().splitlines()) == 1
        assert not out.exists()
    # and through a real process: one line, exit 2, no traceback
    r = nc("decompress", corrupt, "-o", out, "--model", trained["run_dir"])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow
def test_corrupt_streams_behind_a_valid_crc_are_rejected(trained, tmp_path):
    """A forged file (stream bytes changed, CRC recomputed) still ends in exit 2, one line."""
    import zlib

    packed = tmp_path / "img.nc"
    assert main(["compress", "--model", str(trained["run_dir"]), str(trained["source"]), "-o", str(packed)]) == 0
    data = packed.read_bytes()
    rng = random.Random(1)
    forged, out = tmp_path / "forged.nc", tmp_path / "out.png"
    for i in range(100):
        body = bytearray(data[:-4])
        pos = rng.randrange(len(body) - 200, len(body))  # inside the entropy-coded stream
        body[pos] ^= 1 << rng.randrange(8)
        forged.write_bytes(bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "little"))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["decompress", str(forged), "-o", str(out), "--model", str(trained["run_dir"])])
        assert code == 2, (i, err.getvalue())
        assert len(err.getvalue().strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow
@pytest.mark.data
def test_kodak_images_code_close_to_their_information_content(nc_data, tmp_path, tiny_pipeline_text):
    """On real Kodak images: every file decodes bit-exactly (checked by the runner) and its
    streams stay within 0.5 % of the information content of the coded symbols."""
    pipeline = tmp_path / "kodak.yaml"
    pipeline.write_text(tiny_pipeline_text.replace(
        "test: {use: samples, split: test}", f"test: {{use: image-folder, path: '{nc_data / 'kodak'}'}}"
    ).replace("max_images: 1", "max_images: 3"))
    assert main(["run", str(pipeline), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    rows = json.loads((run_dir / "results.json").read_text())["per_image"]
    assert [r["image"] for r in rows] == ["kodim01", "kodim02", "kodim03"]
    for r in rows:
        assert (r["bytes"] - r["header_bytes"]) * 8 <= 1.005 * r["ideal_bits"], r


def test_decoding_does_not_depend_on_the_thread_count():
    """Decoding on a machine with another thread count must give the same pixels: float
    reductions inside convolutions are split differently per thread count, so the codec
    pins its synthesis to a fixed thread count."""
    import torch

    from nc_core.plugins import get_registry

    reg = get_registry()
    torch.manual_seed(0)
    codec = reg.get("codec", "transform-coding")(
        transform=reg.get("transform", "factorized")(channels=64, latent=96),
        quantizer=reg.get("quantizer", "round")(), prior=reg.get("probability-model", "deep-factorized")(),
        coder=reg.get("coder", "ans")(),
    )
    y_hat = torch.round(torch.randn(1, 96, 32, 32) * 3)
    saved = torch.get_num_threads()
    outputs = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            with torch.no_grad():
                outputs.append(codec.synthesize(y_hat))
            assert torch.get_num_threads() == threads  # restored afterwards
    finally:
        torch.set_num_threads(saved)
    assert all(torch.equal(outputs[0], out) for out in outputs[1:])


def test_device_cuda_without_cuda_is_one_line_and_exit_2(tmp_path, tiny_pipeline_text, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pipeline = tmp_path / "tiny.yaml"
    pipeline.write_text(tiny_pipeline_text.replace("device: cpu", "device: cuda"))
    assert main(["run", str(pipeline), "--out", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device: cuda" in err[0] and "no CUDA device" in err[0], err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("model.pt"))


@pytest.mark.slow
def test_bf16_training_trains_under_autocast_and_codes_exactly(tmp_path, tiny_pipeline_text, monkeypatch):
    """train.precision: bf16 runs the forward pass in bf16 (the likelihoods in float32), is
    recorded in model.json, and the trained model's files decode bit-exactly as ever."""
    import torch

    from nc_core.layers import DeepFactorized

    seen = []
    forward = DeepFactorized.forward

    def spy(self, y):
        p = forward(self, y)
        seen.append((y.dtype, p.dtype, torch.is_autocast_enabled("cpu")))
        return p

    monkeypatch.setattr(DeepFactorized, "forward", spy)
    pipeline = tmp_path / "tiny.yaml"
    pipeline.write_text(tiny_pipeline_text.replace("  steps: 3", "  steps: 3\n  precision: bf16"))
    assert main(["run", str(pipeline), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    # training steps: the latent arrives in bf16 under autocast, the likelihoods leave in float32
    assert (torch.bfloat16, torch.float32, True) in seen
    assert all(p == torch.float32 for _, p, _ in seen)
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    assert json.loads((run_dir / "model.json").read_text())["training"]["precision"] == "bf16"
    assert json.loads((run_dir / "results.json").read_text())["per_image"][0]["bytes"] > 0


def test_bf16_training_with_an_ms_ssim_distortion(tmp_path, tiny_pipeline_text):
    """The distortion is measured in float32 whatever precision the codec ran in (MS-SSIM's
    window follows its first input's dtype: a bf16 reconstruction against float32 originals
    failed)."""
    text = tiny_pipeline_text.replace("  steps: 3", "  steps: 2\n  precision: bf16")
    text = text.replace("{use: rate-distortion, distortion: mse, lmbda: 0.01}", "{use: rate-distortion, distortion: ms-ssim, lmbda: 5.0}")
    assert "ms-ssim, lmbda: 5.0" in text
    (tmp_path / "tiny.yaml").write_text(text)
    assert main(["run", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 0


@pytest.mark.slow
@pytest.mark.cuda
def test_training_on_cuda_then_coding_on_cpu(tmp_path, tiny_pipeline_text):
    """device: cuda trains and evaluates on the GPU; the files decode on the CPU (coding itself,
    the entropy model and the coder, runs on the host)."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    pipeline = tmp_path / "tiny.yaml"
    pipeline.write_text(tiny_pipeline_text.replace("device: cpu", "device: cuda"))
    assert main(["run", str(pipeline), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    assert json.loads((run_dir / "model.json").read_text())["training"]["device"].startswith("cuda")
