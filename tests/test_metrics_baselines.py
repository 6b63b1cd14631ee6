"""Metrics, Pillow baselines, BD-rate and the report writers."""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import PIL.features
import pytest
import torch
from pytorch_msssim import ms_ssim

from nc_core.bdrate import bd_psnr, bd_rate, ms_ssim_db
from nc_core.components import metrics
from nc_core.components.baselines import AVIF, JPEG, JPEG2000, WebP
from nc_core.components.metrics import BPP, MSE, MSSSIM, PSNR, ms_ssim_any_size
from nc_core.runner.report import (
    bd_table,
    load_results_json,
    plot_rd,
    sequence_bd_rows,
    sequence_curves,
    sequence_sections,
    write_report_md,
    write_results_json,
)

REFERENCE = Path(
    os.environ.get(
        "NC_REFERENCE",
        Path(__file__).resolve().parents[2] / "shared/reference/compressai-kodak-results",
    )
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 192 x 192 natural-image crop (> 160 px, so MS-SSIM uses all 5 scales)."""
    skdata = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skdata.astronaut()[40:232, 160:352])


# ------------------------------------------------------------------------------ metrics


def test_psnr_and_mse_of_constant_offset():
    rng = np.random.default_rng(0)
    x = rng.integers(10, 240, size=(32, 48, 3), dtype=np.uint8)
    y = x + np.uint8(5)
    assert MSE().compute(x, y, 0) == pytest.approx(25 / 255**2, rel=1e-12)
    assert PSNR().compute(x, y, 0) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-9)
    assert PSNR().compute(x, x, 0) == metrics.PSNR_CAP_DB


def test_mse_distortion_matches_compute():
    rng = np.random.default_rng(1)
    x, y = (rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8) for _ in range(2))
    tx, ty = (torch.tensor(a).permute(2, 0, 1)[None].double() / 255 for a in (x, y))
    assert float(MSE().distortion(tx, ty)) == pytest.approx(MSE().compute(x, y, 0), rel=1e-12)


def test_ms_ssim_identical_is_one_and_matches_pytorch_msssim(photo):
    assert MSSSIM().compute(photo, photo, 0) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(
        photo.astype(int) + np.random.default_rng(2).integers(-12, 13, photo.shape), 0, 255
    )
    noisy = noisy.astype(np.uint8)
    value = MSSSIM().compute(photo, noisy, 0)
    as_t = lambda a: torch.tensor(a).permute(2, 0, 1)[None].float() / 255
    assert value == pytest.approx(
        float(ms_ssim(as_t(photo), as_t(noisy), data_range=1.0)), abs=1e-7
    )
    assert 0.5 < value < 1.0


def test_ms_ssim_fallback_for_small_crops(photo):
    x = torch.tensor(photo).permute(2, 0, 1)[None].double() / 255
    y = (x + 0.03 * torch.randn_like(x)).clamp(0, 1)
    # the reduced-scale loop with 5 levels is exactly pytorch_msssim's
    assert float(metrics._ms_ssim_levels(x, y, 5, 1.0)) == pytest.approx(
        float(ms_ssim(x, y, data_range=1.0)), abs=1e-12
    )
    small_x, small_y = x[..., :128, :128], y[..., :128, :128].clone().requires_grad_(True)
    assert float(ms_ssim_any_size(small_x, small_x)) == pytest.approx(1.0, abs=1e-9)
    loss = MSSSIM().distortion(small_x, small_y)
    assert 0 < loss.item() < 1
    loss.backward()
    assert torch.isfinite(small_y.grad).all() and small_y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="at least 11 px"):
        ms_ssim_any_size(x[..., :8, :8], y[..., :8, :8])


def test_bpp_and_metric_metadata():
    img = np.zeros((10, 20, 3), np.uint8)
    assert BPP().compute(img, img, 1000) == 5.0
    for cls, key, higher in (
        (MSE, "mse", False),
        (PSNR, "psnr-rgb", True),
        (MSSSIM, "ms-ssim-rgb", True),
        (BPP, "bpp", False),
    ):
        assert cls.results_key == key and cls.higher_is_better is higher and cls.kind == "metric"
    with pytest.raises(TypeError):
        PSNR().distortion(torch.zeros(1), torch.zeros(1))


# ------------------------------------------------------------------------------ baselines


@pytest.mark.parametrize("cls", [JPEG, WebP, AVIF, JPEG2000], ids=lambda c: c.name)
def test_baseline_sweep_round_trips(cls, photo):
    if not cls.available():
        pytest.skip(f"Pillow lacks {cls.feature}")
    assert len(cls.qualities) >= 8
    sizes, psnrs = [], []
    for q in cls.qualities:
        codec = cls(q)
        data = codec.compress(photo)
        out = codec.decompress(data)
        assert out.dtype == np.uint8 and out.shape == photo.shape
        sizes.append(len(data))
        psnrs.append(PSNR().compute(photo, out, 8 * len(data)))
    assert all(a < b for a, b in itertools.pairwise(sizes)), sizes  # low -> high rate
    assert psnrs[0] > 18 and psnrs[-1] > psnrs[0] + 8, psnrs


def test_jpeg2000_hits_its_target_rate(photo):
    if not JPEG2000.available():
        pytest.skip("Pillow lacks jpg_2000")
    for q in (50, 100, 200):
        bpp = 8 * len(JPEG2000(q).compress(photo)) / (photo.shape[0] * photo.shape[1])
        assert bpp == pytest.approx(q / 100, rel=0.1)


def test_baseline_errors(monkeypatch, photo):
    with pytest.raises(ValueError, match="quality"):
        JPEG(0)
    with pytest.raises(ValueError, match="quality"):
        WebP(101)
    with pytest.raises(ValueError, match="uint8"):
        JPEG(50).compress(photo.astype(np.float32))
    monkeypatch.setattr(PIL.features, "check", lambda name: False)
    with pytest.raises(RuntimeError, match="'avif'"):
        AVIF(50)


# ------------------------------------------------------------------------------ BD-rate

RATES = [0.1, 0.2, 0.4, 0.8, 1.6]
PSNRS = [27.0, 29.5, 32.2, 35.1, 38.0]


def test_bd_rate_identical_and_scaled():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(RATES, PSNRS, [0.9 * r for r in RATES], PSNRS) == pytest.approx(-10.0, abs=1e-6)
    # point order does not matter
    assert bd_rate(RATES[::-1], PSNRS[::-1], [0.9 * r for r in RATES], PSNRS) == pytest.approx(
        -10.0, abs=1e-6
    )


def test_bd_rate_shifted_curve():
    # PSNR = 30 + 6 dB per doubling of rate: linear in log-rate, so pchip is exact, and shifting
    # B up by 1 dB saves 1 - 2**(-1/6) of the rate at every quality.
    rates = np.array([0.125, 0.25, 0.5, 1.0, 2.0])
    psnr = 30 + 6 * np.log2(rates)
    assert bd_rate(rates, psnr, rates, psnr + 1) == pytest.approx(
        (2 ** (-1 / 6) - 1) * 100, abs=1e-9
    )
    assert bd_psnr(rates, psnr, rates, psnr + 1) == pytest.approx(1.0, abs=1e-9)
    # swapping the roles inverts the rate ratio
    ab, ba = bd_rate(rates, psnr, rates, psnr + 1), bd_rate(rates, psnr + 1, rates, psnr)
    assert (1 + ab / 100) * (1 + ba / 100) == pytest.approx(1.0, abs=1e-12)


def test_bd_rate_errors():
    with pytest.raises(ValueError, match="overlap"):
        bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS])
    with pytest.raises(ValueError, match="at least 2 points"):
        bd_rate(RATES, PSNRS, [0.5], [30.0])
    with pytest.raises(ValueError, match="positive"):
        bd_rate(RATES, PSNRS, [0.0, 1.0], [30.0, 31.0])
    with pytest.raises(ValueError, match="distinct"):
        bd_rate(RATES, PSNRS, [0.5, 1.0], [30.0, 30.0])


@pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"published results not found at {REFERENCE} (set NC_REFERENCE)"
)
def test_published_curves_load_and_rank():
    jpeg = load_results_json(REFERENCE / "jpeg.json")
    hyper = load_results_json(REFERENCE / "compressai-bmshj2018-hyperprior_mse_cpu.json")
    assert jpeg["kind"] == "reference" and len(jpeg["bpp"]) == len(jpeg["psnr-rgb"]) == 19
    assert bd_rate(jpeg["bpp"], jpeg["psnr-rgb"], hyper["bpp"], hyper["psnr-rgb"]) < -30
    assert (
        bd_rate(
            jpeg["bpp"],
            ms_ssim_db(jpeg["ms-ssim-rgb"]),
            hyper["bpp"],
            ms_ssim_db(hyper["ms-ssim-rgb"]),
        )
        < -30
    )


# ------------------------------------------------------------------------------ report


def _curve(name, kind, scale, shift=0.0):
    rates = [r * scale for r in RATES]
    return {
        "name": name,
        "kind": kind,
        "bpp": rates,
        "psnr-rgb": [p + shift for p in PSNRS],
        "ms-ssim-rgb": [0.90, 0.94, 0.965, 0.98, 0.99],
        "encoding_time": [0.01] * 5,
        "decoding_time": [0.02] * 5,
    }


def test_results_json_round_trip(tmp_path):
    points = [
        {
            "bpp": 0.2,
            "psnr-rgb": 30.0,
            "ms-ssim-rgb": 0.95,
            "encoding_time": 0.1,
            "decoding_time": 0.2,
            "mse": 1e-3,
        },
        {
            "bpp": 0.5,
            "psnr-rgb": np.float64(33.5),
            "ms-ssim-rgb": 0.97,
            "encoding_time": 0.1,
            "decoding_time": float("nan"),
            "mse": 5e-4,
        },
    ]
    per_image = [{"image": "kodim01", "point": 0, "bpp": 0.21}]
    path = tmp_path / "results.json"
    write_results_json(path, "nc", "quickstart", points, per_image)
    doc = json.loads(path.read_text())
    assert list(doc["results"]) == [
        "bpp",
        "psnr-rgb",
        "ms-ssim-rgb",
        "encoding_time",
        "decoding_time",
        "mse",
    ]
    curve = load_results_json(path, kind="nc")
    assert curve["name"] == "nc" and curve["description"] == "quickstart" and curve["kind"] == "nc"
    assert curve["psnr-rgb"] == [30.0, 33.5] and math.isnan(curve["decoding_time"][1])
    assert curve["per_image"] == per_image
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary left behind
    with pytest.raises(ValueError, match="keys"):
        write_results_json(path, "nc", "", [{"bpp": 1.0}, {"psnr-rgb": 30.0}])


def test_plot_and_report(tmp_path):
    curves = [
        _curve("nc", "nc", 0.8),
        _curve("jpeg", "baseline", 1.0),
        _curve("webp", "baseline", 0.9),
        _curve("far", "reference", 1.0, shift=30.0),  # no overlap: n/a, not an error
    ]
    rows = {(r["curve"], r["anchor"]): r for r in bd_table(curves)}
    assert rows[("nc", "jpeg")]["bd_rate_psnr"] == pytest.approx(-20.0, abs=1e-6)
    assert rows[("nc", "webp")]["bd_rate_psnr"] == pytest.approx((0.8 / 0.9 - 1) * 100, abs=1e-6)
    assert rows[("far", "jpeg")]["bd_rate_psnr"] is None
    assert ("jpeg", "jpeg") not in rows and ("webp", "jpeg") not in rows  # anchors are not rows
    only_jpeg = {(r["curve"], r["anchor"]) for r in bd_table(curves, reference_name="jpeg")}
    assert only_jpeg == {("nc", "jpeg"), ("webp", "jpeg"), ("far", "jpeg")}

    plot_rd(tmp_path / "rd.png", curves)
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    write_report_md(
        tmp_path / "report.md",
        "quickstart",
        curves,
        notes=["training: 2000 steps", "header: 24 bytes"],
    )
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# quickstart\n")
    assert (
        "- training: 2000 steps" in text and "## nc (nc)" in text and "## jpeg (baseline)" in text
    )
    assert "| nc | jpeg | \u221220.0 % |" in text and "| far | jpeg | n/a |" in text
    assert sorted(os.listdir(tmp_path)) == ["rd.png", "report.md"]


def test_set_metrics_give_one_number_per_point_from_every_decoded_image(photo):
    """A metric with ``per_image = False`` sees the whole set of (original, decoded) pairs
    once per rate point; its value is in the point, not in the per-image rows."""
    from nc_core.contracts import Metric
    from nc_core.runner.evaluate import baseline_point, evaluate_baseline

    seen = []

    class MeanAbsoluteOverSet(Metric):
        name = "set-mae"
        results_key = "set-mae"
        higher_is_better = False
        per_image = False

        def compute_set(self, originals, reconstructions):
            seen.append(len(originals))
            return float(np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(originals, reconstructions)]))

    images = [("a", photo), ("b", photo[::-1].copy()), ("c", photo[:, ::-1].copy())]
    metrics = [PSNR(), MeanAbsoluteOverSet()]
    rows = evaluate_baseline(JPEG(20), images, metrics)
    point = baseline_point(JPEG(20), images, metrics)
    assert all("set-mae" not in r and "psnr-rgb" in r for r in rows) and seen == [3]
    decoded = [JPEG(20).decompress(JPEG(20).compress(im)) for _, im in images]
    assert point["set-mae"] == pytest.approx(np.mean([np.abs(im.astype(int) - d).mean()
                                                      for (_, im), d in zip(images, decoded)]))
    assert point["psnr-rgb"] == pytest.approx(np.mean([r["psnr-rgb"] for r in rows]))


def _video_curve(name, kind, scales):
    """A curve over two sequences, ``a`` (rates scaled by ``scales[0]``) and ``b``; its mean
    fields are those of ``a`` (the per-sequence split must not read them)."""
    curve = _curve(name, kind, scales[0])
    curve["psnr-yuv"] = [p + 3 for p in PSNRS]
    curve["per_sequence"] = [
        [{"sequence": seq, "frames": 96, "bpp": r * scale, "psnr-yuv": q + 3, "psnr-rgb": q, "bytes": 100}
         for seq, scale in zip("ab", scales)]
        for r, q in zip(RATES, PSNRS)
    ]
    return curve


def test_video_curves_split_per_sequence_with_their_own_bd_rates(tmp_path):
    model, intra = _video_curve("ssf", "nc", (0.6, 1.2)), _video_curve("ssf intra_period=1", "nc", (1.0, 1.0))
    x264 = _video_curve("x264", "baseline", (0.8, 0.8))
    seqs = sequence_curves([model, intra, x264])
    assert list(seqs) == ["a", "b"] and [c["name"] for c in seqs["b"]] == ["ssf", "ssf intra_period=1", "x264"]
    assert seqs["b"][0]["bpp"] == pytest.approx([r * 1.2 for r in RATES]) and seqs["b"][0]["frames"] == 96
    rows = {(r["sequence"], r["anchor"]): r for r in sequence_bd_rows([model, intra, x264])}
    assert set(rows) == {(s, a) for s in "ab" for a in ("ssf intra_period=1", "x264")}  # the model's rows only
    assert rows[("a", "ssf intra_period=1")]["bd_rate_psnr_yuv"] == pytest.approx(-40.0, abs=1e-6)
    assert rows[("b", "ssf intra_period=1")]["bd_rate_psnr_yuv"] == pytest.approx(20.0, abs=1e-6)
    assert rows[("b", "x264")]["bd_rate_psnr"] == pytest.approx(50.0, abs=1e-6)
    assert rows[("a", "x264")]["bd_rate_ms_ssim"] is None  # not measured per sequence: n/a

    lines = sequence_sections([model, intra, x264])
    text = "\n".join(lines)
    assert "### a (96 frames)" in text and "### b (96 frames)" in text
    assert "| ssf | ssf intra_period=1 | \u221240.0 % | \u221240.0 % | n/a |" in text
    assert "| ssf | x264 | +50.0 % | +50.0 % | n/a |" in text
    write_report_md(tmp_path / "report.md", "video", [model, intra, x264], sections=lines)
    report = (tmp_path / "report.md").read_text()
    assert report.index("## x264 (baseline)") < report.index("## Per sequence") and "PSNR YUV (dB)" in report
    plot_rd(tmp_path / "rd.png", seqs["a"], title="a")
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
