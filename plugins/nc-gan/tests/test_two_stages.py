"""The two-stage pipeline through ``nc run``: stage 1 finished in ``stage1/`` and evaluated
beside the stage-2 model and its realism variants; stage 2's files are stage 1's byte for byte;
an interruption in either stage resumes where it stopped; and
``nc decompress --realism`` decodes one file at several levels."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nc_core import container
from nc_core.cli import main
from nc_core.models import load_model
from nc_core.pipeline import build


def run_nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, gan_pipeline) -> Path:
    root = tmp_path_factory.mktemp("gan")
    (root / "gan.yaml").write_text(gan_pipeline)
    code, _, err = run_nc("run", root / "gan.yaml", "--out", root / "runs", "--quiet")
    assert code == 0, err
    (run_dir,) = (root / "runs" / "gan").iterdir()
    return run_dir


def _image():
    return next(build({"use": "samples", "split": "test"}, "dataset").images())[1]


@pytest.mark.slow
def test_stage_one_is_kept_and_evaluated_beside_stage_two(finished):
    info = json.loads((finished / "model.json").read_text())["training"]
    assert [s["steps"] for s in info["stages"]] == [4, 4] and info["steps"] == 8
    results = {label: json.loads((finished / f"results{label}.json").read_text())["results"]
               for label in ("", "-stage1", "-realism=0.0")}
    bpp = {label: r["bpp"] for label, r in results.items()}
    assert bpp[""] == bpp["-stage1"] == bpp["-realism=0.0"]  # one bitstream
    assert results["-stage1"]["psnr-rgb"] == results["-realism=0.0"]["psnr-rgb"]
    assert results[""]["psnr-rgb"] != results["-stage1"]["psnr-rgb"]
    report = (finished / "report.md").read_text()
    assert "gan stage1" in report and "gan realism=0.0" in report


@pytest.mark.slow
def test_stage_two_codes_stage_one_bytes_and_decodes_at_any_realism(finished, tmp_path):
    stage1, stage2 = load_model(finished / "stage1"), load_model(finished)
    image = _image()
    one, two = stage1.compress(image), stage2.compress(image)
    assert container.unpack(stage1, one).streams == container.unpack(stage2, two).streams
    np.testing.assert_array_equal(stage2.with_realism(0.0).decompress(two), stage1.decompress(one))

    from nc_core.imaging import write_image

    write_image(tmp_path / "in.png", image)
    assert run_nc("compress", tmp_path / "in.png", "--model", finished, "-o", tmp_path / "in.nc")[0] == 0
    decoded = {}
    for r in ("0", "0.5", "1"):
        code, _, err = run_nc("decompress", tmp_path / "in.nc", "--model", finished, "--realism", r,
                              "-o", tmp_path / f"r{r}.png")
        assert code == 0, err
        from nc_core.imaging import read_image

        decoded[r] = read_image(tmp_path / f"r{r}.png")[0]
    np.testing.assert_array_equal(decoded["0"], stage1.decompress(one))
    np.testing.assert_array_equal(decoded["1"], stage2.decompress(two))
    assert not np.array_equal(decoded["0"], decoded["1"])
    code, _, err = run_nc("decompress", tmp_path / "in.nc", "--model", finished, "--realism", "2",
                          "-o", tmp_path / "bad.png")
    assert code != 0 and "--realism: realism must be in [0, 1], not 2.0" in err and "Traceback" not in err
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.slow
def test_realism_is_refused_for_a_codec_without_it(tmp_path, gan_pipeline):
    plain = gan_pipeline.split("codec:")[0] + """codec:
  use: hyperprior
  transform: {use: factorized, channels: 8, latent: 8}
  entropy: {use: mean-scale-hyperprior, hyper_channels: 8}
  quantizer: mixed
  coder: ans
evaluate: {metrics: [bpp], max_images: 1}
"""
    (tmp_path / "plain.yaml").write_text(plain)
    assert run_nc("run", tmp_path / "plain.yaml", "--out", tmp_path / "runs", "--quiet")[0] == 0
    (run_dir,) = (tmp_path / "runs" / "gan").iterdir()
    from nc_core.imaging import write_image

    write_image(tmp_path / "in.png", _image()[:64, :64])
    assert run_nc("compress", tmp_path / "in.png", "--model", run_dir, "-o", tmp_path / "in.nc")[0] == 0
    code, _, err = run_nc("decompress", tmp_path / "in.nc", "--model", run_dir, "--realism", "1", "-o", tmp_path / "o.png")
    assert code != 0 and "has no realism setting" in err and not (tmp_path / "o.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2])
def test_an_interruption_in_either_stage_resumes_exactly(finished, tmp_path, monkeypatch, stage, gan_pipeline):
    from nc_core.runner import train

    (tmp_path / "gan.yaml").write_text(gan_pipeline)
    save = train.atomic_save

    def interrupted(obj, path):
        save(obj, path)
        in_stage = 2 if "loss" in obj else 1  # stage 2's checkpoints carry the discriminator
        if obj.get("step") == 2 and in_stage == stage and path.name == "checkpoint.pt":
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "atomic_save", interrupted)
    args = ["run", tmp_path / "gan.yaml", "--out", tmp_path / "runs", "--quiet"]
    assert run_nc(*args)[0] == 130
    monkeypatch.setattr(train, "atomic_save", save)
    (run_dir,) = (tmp_path / "runs" / "gan").iterdir()
    assert (run_dir / "stage1" / "model.pt").exists() == (stage == 2)
    code, stdout, err = run_nc(*args[:-1], "--resume")
    assert code == 0, err
    assert "at step 2/4" in stdout
    if stage == 2:
        assert "stage 1 finished earlier" in stdout
    assert json.loads((run_dir / "model.json").read_text())["training"]["steps"] == 8
    if stage == 2:  # stage 1 ran once, uninterrupted: exactly the weights of the run that never stopped
        resumed = torch.load(run_dir / "stage1" / "model.pt", weights_only=True)
        whole = torch.load(finished / "stage1" / "model.pt", weights_only=True)
        assert resumed.keys() == whole.keys() and all(torch.equal(resumed[k], whole[k]) for k in whole)
    stage1, stage2 = load_model(run_dir / "stage1"), load_model(run_dir)
    image = _image()
    assert (container.unpack(stage1, stage1.compress(image)).streams
            == container.unpack(stage2, stage2.compress(image)).streams)
