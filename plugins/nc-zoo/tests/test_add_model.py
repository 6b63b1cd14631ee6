"""tools/add_model.py: a trained ladder becomes a zoo folder whose fp16 weights load to the hash
model.json records, whose results were measured on the model as shipped (every rung), and whose
files decode with it; a name already taken is refused without touching it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nc_core.container import weights_hash
from nc_core.models import load_model

TOOL = Path(__file__).resolve().parents[1] / "tools" / "add_model.py"

PIPELINE = """\
name: tiny-ladder
seed: 0
device: cpu
data:
  train: {use: samples, split: train, patch: 32, batch: 2}
  test: {use: samples, split: test}
codec:
  use: hyperprior
  transform: {use: factorized, channels: 8, latent: 8}
  entropy: {use: mean-scale-hyperprior, hyper_channels: 8}
  quantizer: mixed
  coder: ans
  ladder: [0.003, 0.01, 0.03]
train:
  loss: {use: rate-distortion, distortion: mse}
  steps: 3
evaluate: {metrics: [bpp, psnr], max_images: 1}
"""


@pytest.fixture(scope="module")
def point(tmp_path_factory):
    root = tmp_path_factory.mktemp("ladder")
    (root / "p.yaml").write_text(PIPELINE)
    subprocess.run([sys.executable, "-m", "nc_core", "run", str(root / "p.yaml"), "--out", str(root / "runs"),
                    "--quiet"], check=True)
    (run,) = (root / "runs" / "tiny-ladder").iterdir()
    return run


def _add(point, into, *more):
    return subprocess.run([sys.executable, str(TOOL), str(point), "tiny", "--summary", "a test ladder",
                           "--command", "nc run p.yaml", "--no-baselines", "--into", str(into), *more],
                          capture_output=True, text=True)


@pytest.mark.slow
def test_a_ladder_becomes_a_zoo_model_measured_as_shipped(point, tmp_path):
    done = _add(point, tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.pt", "pipeline.yaml", "zoo.json"]
    state = torch.load(folder / "model.pt", weights_only=True)
    assert state["log_gains"].dtype == torch.float16  # parameters in fp16
    assert all(v.dtype != torch.float16 for k, v in state.items() if k.endswith("pmfs"))  # tables kept exact
    codec = load_model(folder)
    assert json.loads((folder / "model.json").read_text())["weights"] == weights_hash(codec).hex()
    zoo = json.loads((folder / "zoo.json").read_text())
    kodak = zoo["results"]["kodak"]
    assert len(kodak["bpp"]) == 3 and kodak["bpp"] == sorted(kodak["bpp"]) and len(kodak["psnr"]) == 3
    assert zoo["budget"]["steps"] == 3 and zoo["command"] == "nc run p.yaml"
    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    for rung in range(3):
        at = codec.with_quality(rung)
        assert np.array_equal(at.decompress(at.compress(image)), at.reconstruct(image))
    assert zoo["bd_rate"]["kodak"] == {}  # no baselines measured, none given
    anchors = tmp_path / "baselines.json"  # a run's baselines on the same images: BD-rates without re-measuring
    anchors.write_text(json.dumps([{"name": "jpeg", "kind": "baseline", "bpp": [0.01, 0.1, 1.0, 10.0, 100.0],
                                    "psnr-rgb": [0.5, 5.0, 15.0, 40.0, 80.0]}]))
    again = subprocess.run([sys.executable, str(TOOL), str(point), "tiny", "--summary", "a test ladder", "--command",
                            "nc run p.yaml", "--anchors", str(anchors), "--into", str(tmp_path), "--replace"],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    zoo = json.loads((folder / "zoo.json").read_text())
    assert isinstance(zoo["bd_rate"]["kodak"]["jpeg"]["psnr"], float)
    refused = _add(point, tmp_path)
    assert refused.returncode != 0 and "exists (use --replace)" in refused.stderr
    assert json.loads((folder / "zoo.json").read_text()) == zoo
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


@pytest.mark.slow
def test_int8_weights_ship_smaller_and_load_to_their_hash_and_a_fine_tune_keeps_its_warm_start(point, tmp_path):
    fp16, int8 = tmp_path / "fp16", tmp_path / "int8"
    assert _add(point, fp16).returncode == 0
    refused = _add(point, int8, "--from-zoo", "no-such-model")
    assert refused.returncode != 0 and "--from-zoo: no zoo model 'no-such-model'" in refused.stderr
    done = _add(point, int8, "--weights", "int8", "--from-zoo", "mean-scale-mse")  # a fine-tune of a shipped model
    assert done.returncode == 0, done.stderr
    budget = json.loads((int8 / "tiny" / "zoo.json").read_text())["budget"]
    assert budget["steps"] == 3 and budget["warm_start"]["zoo"] == "mean-scale-mse" and budget["warm_start"]["steps"]
    state = torch.load(int8 / "tiny" / "model.pt", weights_only=True)
    assert (int8 / "tiny" / "model.pt").stat().st_size < (fp16 / "tiny" / "model.pt").stat().st_size
    convs = [k for k, v in state.items() if v.dtype == torch.int8]
    assert convs and all(k.endswith(".weight") and state[k].dim() == 4 for k in convs)
    codec = load_model(int8 / "tiny")
    assert json.loads((int8 / "tiny" / "model.json").read_text())["weights"] == weights_hash(codec).hex()
    assert weights_hash(codec) != weights_hash(load_model(fp16 / "tiny"))
    assert "int8" in json.loads((int8 / "tiny" / "zoo.json").read_text())["weights"]
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert np.array_equal(codec.decompress(codec.compress(image)), codec.reconstruct(image))
    kept = tmp_path / "kept"
    done = _add(point, kept, "--weights", "int8", "--keep-fp16", "transform.g_s")
    assert done.returncode == 0, done.stderr
    state = torch.load(kept / "tiny" / "model.pt", weights_only=True)
    g_s = [k for k in state if k.startswith("transform.g_s") and k.endswith(".weight") and state[k].dim() == 4]
    assert g_s and all(state[k].dtype == torch.float16 for k in g_s)  # the synthesis stays fp16 ...
    assert any(state[k].dtype == torch.int8 for k in state if k.startswith("transform.g_a"))  # ... the rest int8
    assert "transform.g_s* fp16" in json.loads((kept / "tiny" / "zoo.json").read_text())["weights"]
    for args, says in ((["--weights", "int8", "--keep-fp16", "no.such"], "names no parameter"),
                       (["--keep-fp16", "transform.g_s"], "--keep-fp16 is for --weights int8")):
        refused = _add(point, tmp_path / "refused", *args)
        assert refused.returncode != 0 and says in refused.stderr
