"""``nc import compressai``: CompressAI checkpoints become nc models that compute what CompressAI
computes, and code to nc files whose size is their information content.

The reference is ``fixtures/compressai.pt`` (made by ``fixtures/make_compressai_fixture.py``
with CompressAI 1.2.6's own classes): small models with perturbed random weights, one input
image, and CompressAI's eval-mode outputs for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nc_core.cli import main
from nc_core.container import ContainerError
from nc_core.layers import ResizingBuffers
from nc_core.models import build_codec, load_model
from nc_hyperprior.importers import CompressAIImporter

FIXTURE = torch.load(Path(__file__).parent / "fixtures" / "compressai.pt", weights_only=True)
ARCHS = sorted(FIXTURE["models"])
IMAGE = FIXTURE["x"][0].permute(1, 2, 0).numpy()  # 64 x 64 x 3 uint8


def _reference(arch: str) -> dict:
    return FIXTURE["models"][arch]


def test_fixture_covers_every_architecture():
    assert ARCHS == sorted(CompressAIImporter.architectures)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_matches_compressai(arch):
    """Eval mode, rounding as CompressAI rounds (around the medians and means): the same
    latents, likelihoods and reconstruction, to float precision."""
    ref = _reference(arch)
    codec_config, weights = CompressAIImporter().convert(ref["state_dict"], arch)
    codec = build_codec({"codec": codec_config | {"quantizer": {"use": "round"}}})
    missing, unexpected = codec.load_state_dict(weights, strict=False)
    codec.update()
    tables = {f"{name}.{b}" for name, m in codec.named_modules() if isinstance(m, ResizingBuffers)
              for b in m.table_buffers}
    assert not unexpected and set(missing) <= tables  # nc builds its own coding tables
    codec.eval()
    x = FIXTURE["x"].float() / 255
    with torch.no_grad():
        out = codec(x)
        y = codec.transform.analysis(x)
    torch.testing.assert_close(y, ref["y"], rtol=1e-5, atol=1e-5)
    for name, likelihoods in ref["likelihoods"].items():
        torch.testing.assert_close(out["likelihoods"][name], likelihoods, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out["x_hat"], ref["x_hat"], rtol=1e-4, atol=1e-4)
    # the coding tables of the factorized density (y, or the side information z) give each
    # coded symbol the probability CompressAI's model gives it
    factorized = arch == "bmshj2018-factorized"
    prior = codec.prior if factorized else codec.entropy.z_prior
    with torch.no_grad():
        latent = y if factorized else codec.entropy.hyper_analysis(y)
    symbols = torch.round(latent - prior.centres()).to(torch.int64)
    p = prior.coding_distribution(tuple(symbols.shape)).probabilities(symbols.numpy())
    expected = ref["likelihoods"]["y" if factorized else "z"].double().numpy().reshape(p.shape)
    np.testing.assert_allclose(p, expected, rtol=1e-4)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, Path]:
    """Each architecture converted by the command line, as a user does."""
    root = tmp_path_factory.mktemp("imported")
    runs = {}
    for arch in ARCHS:
        checkpoint = root / f"{arch}.pth.tar"
        torch.save(_reference(arch)["state_dict"], checkpoint)
        runs[arch] = root / arch
        assert main(["import", "compressai", str(checkpoint), "--arch", arch, "-o", str(runs[arch])]) == 0
    return runs


@pytest.mark.parametrize("arch", ARCHS)
def test_imported_model_round_trips_at_its_information_content(arch, imported):
    codec = load_model(imported[arch])
    payload = codec.encode(IMAGE)
    stream_bits = 8 * sum(len(s) for s in payload.streams)
    # ANS: the information content, give or take the coder's 24-bit probability resolution
    # (which lifts the tiny probabilities of this fixture's outliers) and its final state words
    assert abs(stream_bits - payload.ideal_bits) <= 0.02 * payload.ideal_bits + 64 * len(payload.streams)
    data = codec.compress(IMAGE)
    decoded = codec.decompress(data)
    assert np.array_equal(decoded, codec.reconstruct(IMAGE))
    if "y_hat_decoded" in _reference(arch):
        _same_latents_as_compressai_s_decoder(codec, arch)
    else:  # the decoded pixels are CompressAI's reconstruction, up to rounding to 8 bits
        ref = (_reference(arch)["x_hat"][0].clamp(0, 1) * 255).permute(1, 2, 0).numpy()
        assert float(np.abs(decoded.astype(np.float64) - ref).mean()) < 0.6
    other = load_model(imported[arch])  # another process would load the same files
    assert np.array_equal(other.decompress(data), decoded)


def _same_latents_as_compressai_s_decoder(codec, arch: str) -> None:
    """A spatial context model decodes position by position, its means from the latents decoded
    so far. nc computes them in exact fixed point, within about 0.01 of CompressAI's floats, so
    a latent that close to a rounding tie may round the other way, and the context carries that
    along the raster order. So: the latents equal CompressAI's decoder's (fixture
    ``y_hat_decoded``) up to the first difference, which is one step, late in the order."""
    from nc_core.imaging import to_tensor

    with torch.no_grad():
        y_hat, _ = codec.entropy.encode(codec.transform.analysis(to_tensor(IMAGE)), codec.quantizer, codec.seed)
    ref = _reference(arch)["y_hat_decoded"]
    differs = ((y_hat.float() - ref).abs() > 0.02).any(dim=1)[0].flatten()  # per position, raster order
    first = int(differs.nonzero()[0]) if differs.any() else differs.numel()
    assert first >= 0.75 * differs.numel(), f"{arch}: latents differ from position {first} of {differs.numel()}"
    if first < differs.numel():
        step = (y_hat.float() - ref).flatten(2)[0, :, first].abs()
        assert float(step.max()) == pytest.approx(1.0, abs=0.02)


def test_imported_run_directory_says_where_it_came_from(imported):
    import json

    info = json.loads((imported["mbt2018-mean"] / "model.json").read_text())
    assert info["training"]["imported"] | {"sha256": "-"} == {
        "importer": "compressai", "arch": "mbt2018-mean", "checkpoint": "mbt2018-mean.pth.tar", "sha256": "-"}
    assert info["codec"] == "hyperprior" and len(info["weights"]) == 16


def test_a_file_from_one_import_is_refused_by_another(imported):
    factorized = load_model(imported["bmshj2018-factorized"])
    data = load_model(imported["mbt2018-mean"]).compress(IMAGE)
    with pytest.raises(ContainerError, match="made by codec 'hyperprior'"):
        factorized.decompress(data)


def _fails(capsys, args: list[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_bad_imports_are_one_line_errors_that_write_nothing(tmp_path, capsys):
    factorized = tmp_path / "f.pth.tar"
    torch.save(_reference("bmshj2018-factorized")["state_dict"], factorized)
    out = tmp_path / "out"
    err = _fails(capsys, ["import", "compressai", str(factorized), "--arch", "mbt2018-mean", "-o", str(out)])
    assert err.endswith(f"{factorized}: not a compressai mbt2018-mean checkpoint (no h_a.0.weight)")
    err = _fails(capsys, ["import", "compressai", str(factorized), "--arch", "cheng2020-attn", "-o", str(out)])
    assert err.endswith("--arch 'cheng2020-attn': the compressai importer converts "
                        "bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean, mbt2018, cheng2020-anchor")
    masked = dict(_reference("mbt2018")["state_dict"])
    masked["context_prediction.mask"] = torch.ones_like(masked["context_prediction.mask"])  # sees the future
    torch.save(masked, factorized)
    err = _fails(capsys, ["import", "compressai", str(factorized), "--arch", "mbt2018", "-o", str(out)])
    assert "context_prediction.mask is not the raster-order mask 'A'" in err and not out.exists()
    err = _fails(capsys, ["import", "tensorflow", str(factorized), "--arch", "x", "-o", str(out)])
    assert "unknown importer 'tensorflow'" in err
    joint = dict(_reference("mbt2018-mean")["state_dict"], **{"context_prediction.weight": torch.zeros(1)})
    torch.save(joint, factorized)
    err = _fails(capsys, ["import", "compressai", str(factorized), "--arch", "mbt2018-mean", "-o", str(out)])
    assert "not a compressai mbt2018-mean checkpoint (unexpected key context_prediction.weight)" in err
    misfit = dict(_reference("mbt2018-mean")["state_dict"], **{"h_s.0.weight": torch.zeros(8, 5, 5, 5)})
    torch.save(misfit, factorized)
    err = _fails(capsys, ["import", "compressai", str(factorized), "--arch", "mbt2018-mean", "-o", str(out)])
    assert err.endswith("the mbt2018-mean conversion does not fit the codec (size mismatch for entropy.h_s.net.0.weight: "
                        "the file has [8, 5, 5, 5], the codec [8, 12, 5, 5])")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    err = _fails(capsys, ["import", "compressai", str(tmp_path / "junk.pth"), "--arch", "mbt2018-mean", "-o", str(out)])
    assert "junk.pth" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pth.tar", "junk.pth"]  # nothing half-written
    out.mkdir()
    torch.save(_reference("mbt2018-mean")["state_dict"], factorized)
    err = _fails(capsys, ["import", "compressai", str(factorized), "--arch", "mbt2018-mean", "-o", str(out)])
    assert err.endswith(f"{out}: already exists; choose a new folder for the imported model")


def test_training_checkpoints_and_data_parallel_prefixes_are_unwrapped(tmp_path):
    state = _reference("bmshj2018-hyperprior")["state_dict"]
    checkpoint = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, checkpoint)
    assert main(["import", "compressai", str(checkpoint), "--arch", "bmshj2018-hyperprior", "-o", str(tmp_path / "r")]) == 0
    assert load_model(tmp_path / "r").compress(IMAGE)[:4] == b"NC\xc0\xde"
