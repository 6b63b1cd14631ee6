"""Models a plugin ships (``nc_register_model_folders``): ``--model zoo:NAME``, ``nc
decompress`` finding them by weights hash, ``nc zoo``, ``init: zoo:NAME``, and the registry
index keeping the folders."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from nc_core import hookimpl
from nc_core.cli import main
from nc_core.plugins import PluginSource, Registry, entry_point_sources, get_registry, set_registry


def run_nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def shipping(*folders: Path):
    class Zoo:
        @staticmethod
        @hookimpl
        def nc_register_model_folders():
            return [str(f) for f in folders]
    return Zoo


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_pipeline_text):
    """One tiny trained model, as a run's point folder."""
    root = tmp_path_factory.mktemp("zoo")
    (root / "tiny.yaml").write_text(tiny_pipeline_text)
    assert run_nc("run", root / "tiny.yaml", "--out", root / "runs", "--quiet")[0] == 0
    (run_dir,) = (root / "runs" / "tiny").iterdir()
    return run_dir


@pytest.fixture
def tiny_image(tmp_path) -> Path:
    import numpy as np
    from PIL import Image

    path = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def zoo(trained, tmp_path, restore_registry):
    """The trained model shipped as zoo:tiny-mse by a plugin, beside the installed ones."""
    folder = tmp_path / "models"
    shutil.copytree(trained, folder / "tiny-mse")
    (folder / "tiny-mse" / "zoo.json").write_text(json.dumps(
        {"summary": "a test model", "results": {"kodak": {"bpp": 1.25, "psnr": 30.5}}}))
    set_registry(Registry([*entry_point_sources(), PluginSource("zoo", "nc-test-zoo", "0", load=lambda: shipping(folder))]))
    return folder / "tiny-mse"


def test_compress_with_a_zoo_model_and_decompress_finding_it_by_hash(zoo, tmp_path, tiny_image):
    coded, decoded = tmp_path / "x.nc", tmp_path / "x.png"
    assert run_nc("compress", "--model", "zoo:tiny-mse", tiny_image, "-o", coded)[0] == 0
    code, _, err = run_nc("decompress", coded, "-o", decoded, "--models", tmp_path / "no-runs-here")
    assert code == 0, err
    assert decoded.stat().st_size > 0


def test_an_unknown_zoo_name_lists_the_installed_ones(zoo, tmp_path, tiny_image):
    code, _, err = run_nc("compress", "--model", "zoo:tiny-mssim", tiny_image, "-o", tmp_path / "x.nc")
    assert code == 2 and "zoo:tiny-mssim: no such zoo model (installed: " in err and "tiny-mse" in err
    assert not (tmp_path / "x.nc").exists()


def test_nc_zoo_lists_models_with_their_recorded_rates(zoo):
    code, out, _ = run_nc("zoo")
    assert code == 0 and "zoo:tiny-mse" in out and "Kodak 1.250 bpp, 30.50 dB" in out and "a test model" in out
    (row,) = [r for r in json.loads(run_nc("zoo", "--json")[1]) if r["name"] == "tiny-mse"]
    weights = json.loads((zoo / "model.json").read_text())["weights"]
    assert row["name"] == "tiny-mse" and row["weights"] == weights and row["folder"] == str(zoo)


def test_nc_zoo_lists_a_ladder_by_its_range_of_rates(zoo):
    (zoo / "zoo.json").write_text(json.dumps({"summary": "a ladder", "results": {"kodak": {
        "bpp": [0.12, 0.4, 1.1], "psnr": [27.0, 31.5, 36.25]}}, "bd_rate": {"kodak": {"jpeg": {"psnr": -38.04, "ms-ssim": -51.26}}}}))
    code, out, _ = run_nc("zoo")
    assert code == 0
    assert ("Kodak 0.120-1.100 bpp, 27.00-36.25 dB (3 rungs, --quality 0..2), "
            "BD-rate vs JPEG -38.0 % (PSNR) / -51.3 % (MS-SSIM)") in out


def test_a_name_shipped_twice_is_an_error(zoo, restore_registry, tmp_path, tiny_image):
    registry = get_registry()
    set_registry(Registry([*entry_point_sources(), PluginSource("a", "nc-a", "0", load=lambda: shipping(zoo.parent)),
                           PluginSource("b", "nc-b", "0", load=lambda: shipping(zoo.parent))]))
    code, _, err = run_nc("compress", "--model", "zoo:tiny-mse", tiny_image, "-o", tmp_path / "x.nc")
    assert code == 2 and "zoo model 'tiny-mse' is shipped twice" in err
    set_registry(registry)


def test_init_from_the_zoo_evaluates_it(zoo, tmp_path, tiny_pipeline_text):
    text = tiny_pipeline_text.split("\ntrain:")[0] + "\n" + "init: zoo:tiny-mse\nevaluate:\n  metrics: [bpp, psnr]\n  max_images: 1\n"
    (tmp_path / "p.yaml").write_text(text)
    code, _, err = run_nc("run", tmp_path / "p.yaml", "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    evaluated = json.loads((run_dir / "model.json").read_text())["weights"]
    assert evaluated == json.loads((zoo / "model.json").read_text())["weights"]


def test_a_zoo_model_is_a_reference_curve_beside_the_pipeline_s_own(zoo, tmp_path, tiny_pipeline_text):
    """``{use: nc-model, model: zoo:NAME}`` in evaluate.baselines: the model's real files on the
    same images, a curve named after it in the results and the report."""
    from nc_core.models import load_model
    from nc_core.pipeline import build

    text = tiny_pipeline_text + "  baselines: [{use: jpeg, qualities: [10, 50, 90]}, {use: nc-model, model: 'zoo:tiny-mse', qualities: [0]}]\n"
    (tmp_path / "p.yaml").write_text(text)
    code, _, err = run_nc("run", tmp_path / "p.yaml", "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    _, curve = json.loads((run_dir / "baselines.json").read_text())
    assert curve["name"] == "nc zoo:tiny-mse" and curve["labels"] == ["q=0"] and curve["kind"] == "nc"
    assert "| nc zoo:tiny-mse | jpeg |" in (run_dir / "report.md").read_text()  # compared with JPEG, not an anchor
    _, image = next(iter(build({"use": "samples", "split": "test"}, "dataset").images()))
    nbytes = len(load_model(zoo).compress(image))
    assert curve["bpp"] == [pytest.approx(8 * nbytes / (image.shape[0] * image.shape[1]))]
    with pytest.raises(Exception, match="has rungs 0..0, not quality 2"):
        build({"use": "nc-model", "model": "zoo:tiny-mse"}, "baseline", quality=2)


def test_the_registry_index_keeps_the_model_folders(zoo):
    registry = get_registry()
    again = Registry.from_index(json.loads(json.dumps(registry.index())))
    assert [p.model_folders for p in again.plugins] == [p.model_folders for p in registry.plugins]
    assert [str(zoo.parent)] in [p.model_folders for p in again.plugins]


def test_half_precision_weights_load_as_the_codec_s_precision(trained, tmp_path):
    import torch

    from nc_core.models import MODEL, load_model

    half = tmp_path / "half"
    shutil.copytree(trained, half)
    state = torch.load(trained / MODEL, weights_only=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, half / MODEL)
    codec = load_model(half)
    assert all(p.dtype == torch.float32 for p in codec.parameters())
    for name, tensor in codec.state_dict().items():
        if tensor.is_floating_point():
            assert torch.equal(tensor, state[name].half().float()), name


def test_int8_weights_load_as_int8_times_their_scales(tmp_path):
    import torch

    from nc_core.errors import UserError
    from nc_core.models import INT8_SCALE, int8_state, load_weights

    w = torch.randn(4, 3, 5, 5) * torch.tensor([1e-3, 1.0, 30.0, 0.0]).view(4, 1, 1, 1)  # a zero slice too
    stored = int8_state({"conv.weight": w, "conv.bias": torch.ones(4)}, ["conv.weight"])
    assert stored["conv.weight"].dtype == torch.int8 and stored["conv.bias"].dtype == torch.float32
    torch.save(stored, tmp_path / "m.pt")
    back = load_weights(tmp_path / "m.pt")
    assert sorted(back) == ["conv.bias", "conv.weight"] and back["conv.weight"].dtype == torch.float32
    peak = w.abs().amax(dim=(1, 2, 3)).view(4, 1, 1, 1)
    assert torch.all((back["conv.weight"] - w).abs() <= peak / 254 * 1.0001)  # half a step of each slice's scale
    assert torch.equal(back["conv.weight"][3], torch.zeros(3, 5, 5))
    torch.save({"conv.weight": w, "conv.weight" + INT8_SCALE: stored["conv.weight" + INT8_SCALE]}, tmp_path / "bad.pt")
    with pytest.raises(UserError, match=r"bad.pt: conv.weight.int8_scale scales no int8 tensor"):
        load_weights(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="conv.bias: int8 storage is for weight tensors"):
        int8_state({"conv.bias": torch.ones(4)}, ["conv.bias"])
