"""A ladder of λ in one set of weights (``ladder:``, gain vectors per rung): every rung round
trips exactly, the rung travels in the file, rates rise with the rung, a fixed-rate model
warm-starts rung 0 exactly, a trained ladder extends at its top, training draws rungs and hands
their λ to the loss, and bad settings, bad files and bad command lines fail in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nc_core.cli import main
from nc_core.container import ContainerError, pack, unpack_and_decode
from nc_core.pipeline import PipelineError, build, load_pipeline
from nc_hyperprior.codec import HyperpriorCodec

LADDER = (0.0018, 0.0067, 0.025, 0.0932)


def _codec(ladder=LADDER, quality=None, model="mean-scale-hyperprior", seed=0):
    torch.manual_seed(seed)
    spec = {"use": "hyperprior", "transform": {"use": "factorized", "channels": 8, "latent": 12},
            "entropy": {"use": model, "hyper_channels": 8}, "quantizer": "mixed", "coder": "ans"}
    if ladder:
        spec["ladder"] = list(ladder)
    if quality is not None:
        spec["quality"] = quality
    codec = build(spec, "codec")
    with torch.no_grad():  # latents spanning many symbols, as a trained analysis gives
        codec.transform.g_a[-1].weight.mul_(8.0)
    codec.eval().update()
    return codec


def _image(h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 90 * np.sin(xx[..., None] / 6.0 + np.arange(3)) * np.cos(yy[..., None] / 4.0)
    return np.clip(base + rng.normal(0, 15, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def codec():
    return _codec()


@settings(max_examples=12, deadline=None)
@given(rung=st.integers(0, len(LADDER) - 1), h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 99))
def test_every_rung_round_trips_and_the_file_names_its_rung(codec, rung, h, w, seed):
    image = _image(h, w, seed)
    at = codec.with_quality(rung)
    data = at.compress(image)
    assert np.array_equal(at.decompress(data), at.reconstruct(image))
    # the decoder reads the rung from the file, whatever its own default
    assert np.array_equal(codec.with_quality((rung + 1) % len(LADDER)).decompress(data), at.reconstruct(image))


@pytest.mark.parametrize("model", ["scale-hyperprior", "joint-autoregressive", "channel-autoregressive"])
def test_every_entropy_model_takes_a_ladder(model):
    codec, image = _codec(model=model), _image(33, 47)
    sizes = []
    for rung in (0, len(LADDER) - 1):
        at = codec.with_quality(rung)
        data = at.compress(image)
        assert np.array_equal(codec.decompress(data), at.reconstruct(image))
        sizes.append(len(data))
    assert sizes[0] < sizes[1]


def test_a_higher_rung_spends_more_bytes_on_finer_latents(codec):
    from nc_core.imaging import to_tensor

    image = _image(64, 96)
    with torch.no_grad():
        y = codec.transform.analysis(to_tensor(image))
    sizes, errors = [], []
    for rung in range(len(LADDER)):
        sizes.append(len(codec.with_quality(rung).compress(image)))
        with torch.no_grad():
            y_hat, _ = codec.entropy.encode(codec._scaled(y, rung), codec.quantizer, codec.seed)
            errors.append(float(((codec._scaled(y_hat.float(), rung, inverse=True) - y) ** 2).mean()))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes
    assert errors == sorted(errors, reverse=True), errors  # the step is 1 / gain


def test_a_fixed_rate_model_warm_starts_rung_zero_exactly():
    fixed = _codec(ladder=())
    ladder = _codec(seed=1)  # other weights, then the fixed model's: its gains stay at their start
    missing = ladder.load_state_dict(fixed.state_dict())
    assert not missing.missing_keys and not missing.unexpected_keys
    ladder.update()
    image = _image()
    a, b = fixed.encode(image), ladder.with_quality(0).encode(image)
    assert a.streams == b.streams and b.header == a.header + [0]
    assert np.array_equal(fixed.reconstruct(image), ladder.with_quality(0).reconstruct(image))
    assert torch.allclose(ladder.log_gains[:, 0], 0.5 * torch.log(torch.tensor(LADDER) / LADDER[0]))


def test_a_trained_ladder_extends_at_its_top_keeping_its_rungs():
    short = _codec(ladder=LADDER[:2])
    with torch.no_grad():  # trained gains: no longer at their start
        short.log_gains.add_(torch.linspace(-0.2, 0.3, 12))
        short.log_inverse_gains.sub_(torch.linspace(0.1, -0.1, 12))
    long = _codec(seed=1)
    missing = long.load_state_dict(short.state_dict())
    assert not missing.missing_keys and not missing.unexpected_keys
    long.update()
    short.update()
    image = _image()
    for rung in (0, 1):  # the trained rungs code as they did
        a, b = short.with_quality(rung).encode(image), long.with_quality(rung).encode(image)
        assert a.streams == b.streams and a.header == b.header
    step = 0.5 * torch.log(torch.tensor(LADDER[2:]) / LADDER[1])[:, None]
    assert torch.allclose(long.log_gains[2:], short.log_gains[1] + step)
    assert torch.allclose(long.log_inverse_gains[2:], short.log_inverse_gains[1] - step)
    sizes = [len(long.with_quality(r).compress(image)) for r in range(len(LADDER))]
    assert sizes == sorted(sizes) and sizes[3] > sizes[1]  # the new rungs code finer
    with pytest.raises(RuntimeError, match="size mismatch"):  # a longer ladder does not fit a shorter one
        _codec(ladder=LADDER[:2]).load_state_dict(long.state_dict())


def test_training_draws_rungs_and_hands_their_lambda_to_the_loss():
    codec = _codec().train()
    loss = build({"use": "rate-distortion", "distortion": "mse"}, "loss")
    x = torch.rand(2, 3, 32, 32)
    torch.manual_seed(0)
    drawn = {codec(x)["lmbda"] for _ in range(40)}
    assert drawn == set(LADDER)
    out = codec(x)
    value, logs = loss(x, out, codec)
    expected = out["lmbda"] * 255 ** 2 * logs["mse"] + logs["bpp"]
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    assert codec.log_gains.grad is not None and codec.log_gains.grad.abs().sum() > 0
    codec.eval()
    assert codec(x)["lmbda"] == LADDER[-1]  # the codec's quality (default: the top rung)
    fixed_loss = build({"use": "rate-distortion", "distortion": "mse", "lmbda": 0.01}, "loss")
    with pytest.raises(ValueError, match="leave lmbda out"):
        fixed_loss(x, codec(x), codec)


@pytest.mark.parametrize("ladder, quality, message", [
    ((0.01,), None, "two or more increasing positive"),
    ((0.02, 0.01), None, "two or more increasing positive"),
    ((0.0, 0.01), None, "two or more increasing positive"),
    (LADDER, 4, "quality must be one of the ladder's rungs 0..3, not 4"),
    ((), 1, r"quality must be one of 0 \(this codec has no ladder\)"),
])
def test_bad_settings_are_refused(ladder, quality, message):
    with pytest.raises(Exception, match=message):
        _codec(ladder, quality)


def test_a_file_with_a_rung_off_the_ladder_is_corrupt(codec):
    payload = codec.encode(_image())
    payload.header[-1] = len(LADDER)
    with pytest.raises(ContainerError, match="rung 4 of a 4-rung ladder"):
        unpack_and_decode(codec, pack(codec, payload), codec.decode)
    payload.header.pop()  # a fixed-rate layout
    with pytest.raises(ContainerError, match="unexpected header layout"):
        unpack_and_decode(codec, pack(codec, payload), codec.decode)


def test_the_lambda_comes_from_the_ladder_or_the_loss_never_both(tmp_path):
    text = """\
name: vr
data: {train: samples, test: samples}
codec:
  use: hyperprior
  transform: {use: factorized, channels: 8, latent: 8}
  entropy: mean-scale-hyperprior
  quantizer: mixed
  coder: ans
  LADDER
train: {loss: LOSS, steps: 2}
"""
    cases = {
        ("ladder: [0.01, 0.02]", "{use: rate-distortion, distortion: mse, lmbda: 0.01}"):
            "train.loss.lmbda: the codec's ladder sets λ at every step (one per rung): leave lmbda out",
        ("seed: 0", "{use: rate-distortion, distortion: mse}"): "train.loss: missing required key 'lmbda' (or give the codec a ladder of λ)",
    }
    for (ladder, loss), message in cases.items():
        path = tmp_path / "p.yaml"
        path.write_text(text.replace("LADDER", ladder).replace("LOSS", loss))
        with pytest.raises(PipelineError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_pipeline(path)
    path.write_text(text.replace("LADDER", "ladder: [0.01, 0.02]").replace("LOSS", "{use: rate-distortion, distortion: mse}"))
    load_pipeline(path)  # the ladder alone is enough


def test_a_ladder_trains_in_a_pipeline_and_nc_compress_quality_picks_the_rung(tmp_path):
    (tmp_path / "p.yaml").write_text(f"""\
name: vr
seed: 0
device: cpu
data:
  train: {{use: samples, split: train, patch: 32, batch: 2}}
  test: {{use: samples, split: test}}
codec:
  use: hyperprior
  transform: {{use: factorized, channels: 8, latent: 12}}
  entropy: {{use: mean-scale-hyperprior, hyper_channels: 8}}
  quantizer: mixed
  coder: ans
  ladder: {list(LADDER)}
train:
  loss: {{use: rate-distortion, distortion: mse}}
  steps: 4
evaluate: {{metrics: [bpp, psnr], max_images: 1}}
""")
    assert main(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    (run,) = (tmp_path / "runs" / "vr").iterdir()
    # one model, every rung a point of the curve (each rung's per-image rows in results-quality=K.json)
    curve = json.loads((run / "results.json").read_text())["results"]
    assert len(curve["bpp"]) == len(LADDER) and curve["bpp"] == sorted(curve["bpp"])
    assert sorted(f.name for f in run.glob("results-quality=*.json")) == [f"results-quality={k}.json" for k in range(4)]
    report = (run / "report.md").read_text()
    assert "1 model(s), 4 steps" in report
    assert all(f"| quality={k} |" in report for k in range(len(LADDER)))  # the default rung labelled as the others
    before = (run / "results.json").read_text()
    assert main(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "runs"), "--quiet", "--resume"]) == 0
    assert json.loads((run / "results.json").read_text()) == json.loads(before)  # reused, rung by rung
    Image.fromarray(_image(48, 64)).save(tmp_path / "x.png")
    sizes = []
    for rung in (0, 3):
        out = tmp_path / f"x{rung}.nc"
        assert main(["compress", "--model", str(run), str(tmp_path / "x.png"), "-o", str(out),
                     "--quality", str(rung), "-q"]) == 0
        assert main(["decompress", str(out), "-o", str(tmp_path / f"x{rung}.png"), "--model", str(run), "-q"]) == 0
        sizes.append(out.stat().st_size)
    assert sizes[0] < sizes[1]
    assert main(["compress", "--model", str(run), str(tmp_path / "x.png"), "-o", str(tmp_path / "bad.nc"),
                 "--quality", "9"]) == 2
    assert not (tmp_path / "bad.nc").exists()


def test_latent_refinement_of_a_ladder_is_refused(codec):
    with pytest.raises(TypeError, match="ladder"):
        codec.refined(None, 2, 0.01)
    assert isinstance(codec, HyperpriorCodec)
