"""nc-bitsback through a lossless pipeline: train, chain the test set into one file with
variants, compare with baselines; user errors end with one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nc_core.cli import main

PIPELINE = """\
name: tiny-bb
seed: 0
device: cpu
data:
  train: {use: npz, path: DATA, stop: 40, binarize: 128, batch: 8}
  test: {use: npz, path: DATA, start: 40, binarize: 128}
codec:
  use: bits-back
  shape: [1, 7, 6]
  levels: 1
  latents: [4, 3]
  hidden: 16
  likelihood: bernoulli
  scheme: bit-swap
  precision: 8
  coder: ans
train:
  loss: negative-log-likelihood
  steps: 20
evaluate:
  baselines: [png, lzma]
  variants:
    - {codec.scheme: bb-ans}
    - {codec.scheme: two-part}
"""


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("bb")
    data = root / "digits.npz"
    np.savez(data, data=np.random.default_rng(0).integers(0, 256, (160, 7, 6), dtype=np.uint8))
    path = root / "tiny.yaml"
    path.write_text(PIPELINE.replace("DATA", str(data)))
    return root, path


@pytest.mark.slow
def test_lossless_pipeline_writes_real_rates(pipeline, capsys):
    root, path = pipeline
    assert main(["run", str(path), "--out", str(root / "runs"), "--quiet"]) == 0
    (run_dir,) = (root / "runs" / "tiny-bb").iterdir()
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["kind"] == "lossless"
    rows = {r["label"]: r for r in doc["results"]}
    assert set(rows) == {"scheme=bit-swap", "scheme=bb-ans", "scheme=two-part"}
    for r in rows.values():
        assert r["items"] == 120 and r["dims"] == 42
        assert r["bits_per_dim"] == pytest.approx(r["bytes"] * 8 / (120 * 42))
    assert rows["scheme=bit-swap"]["initial_bits"] <= rows["scheme=bb-ans"]["initial_bits"]
    baselines = json.loads((run_dir / "baselines.json").read_text())
    assert [b["name"] for b in baselines] == ["png", "lzma"]
    report = (run_dir / "report.md").read_text()
    assert "scheme=two-part" in report and '"binarize": 128' in report


@pytest.mark.slow
@pytest.mark.parametrize("override, message", [
    ("evaluate.baselines=[jpeg]", "'jpeg' is lossy; this pipeline's codec is lossless"),
    ("codec.coder=range", "needs a stack coder"),
    ("codec.shape=[1, 7, 7]", "items are [1, 7, 6] (C x H x W) but codec.shape is [1, 7, 7]"),
    ("data.test.binarize=null", "item values reach 255 but codec.levels is 1"),
    ("codec.levels=0", "levels"),
])
def test_user_errors_are_one_line_exit_2(pipeline, capsys, override, message):
    root, path = pipeline
    capsys.readouterr()
    code = main(["run", str(path), "--out", str(root / "bad"), "--quiet", "--set", override])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and "Traceback" not in err


@pytest.mark.slow
def test_cli_chain_round_trip_and_damaged_files(pipeline, capsys, tmp_path):
    root, path = pipeline
    out = root / "cli"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--set", "evaluate.baselines=[]",
                 "--set", "evaluate.variants=[]"]) == 0
    assert main(["run", str(path), "--out", str(out / "other"), "--quiet", "--set", "seed=1",
                 "--set", "evaluate.baselines=[]", "--set", "evaluate.variants=[]"]) == 0
    (run_dir,) = (out / "tiny-bb").iterdir()
    (other,) = (out / "other" / "tiny-bb").iterdir()
    digits = (np.random.default_rng(7).integers(0, 256, (9, 7, 6)) >= 128).astype(np.uint8)
    np.savez(tmp_path / "set.npz", data=digits)
    chain, back = tmp_path / "set.nc", tmp_path / "back.npz"
    assert main(["compress", "--model", str(run_dir), str(tmp_path / "set.npz"), "-o", str(chain)]) == 0
    assert main(["decompress", str(chain), "-o", str(back), "--model", str(run_dir)]) == 0
    np.testing.assert_array_equal(np.load(back)["data"], digits)
    data = chain.read_bytes()
    cases = {"truncated": data[: len(data) - 9], "corrupt": data[:40] + bytes([data[40] ^ 4]) + data[41:]}
    for name, bad in cases.items():
        (tmp_path / f"{name}.nc").write_bytes(bad)
    capsys.readouterr()
    for args in (["decompress", str(tmp_path / "truncated.nc"), "-o", str(tmp_path / "x.npz"), "--model", str(run_dir)],
                 ["decompress", str(tmp_path / "corrupt.nc"), "-o", str(tmp_path / "x.npz"), "--model", str(run_dir)],
                 ["decompress", str(chain), "-o", str(tmp_path / "x.npz"), "--model", str(other)],
                 ["decompress", str(chain), "-o", str(tmp_path / "x.png"), "--model", str(run_dir)],
                 ["compress", "--model", str(run_dir), str(tmp_path / "missing.npz"), "-o", str(tmp_path / "y.nc")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nc: error:") and "\n" not in err, err
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "x.png").exists()
    eight_bit = np.full((2, 7, 6), 200, np.uint8)
    np.savez(tmp_path / "eight.npz", data=eight_bit)
    assert main(["compress", "--model", str(run_dir), str(tmp_path / "eight.npz"), "-o", str(tmp_path / "e.nc")]) == 2
    assert "0..1" in capsys.readouterr().err
