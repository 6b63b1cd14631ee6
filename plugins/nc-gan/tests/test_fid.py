"""FID and KID: the distances against closed forms and direct sums, the patch protocol, the
Inception network's layout, and its weights file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nc_core.pipeline import PipelineError, build
from nc_gan.fid import FIDInception, features, frechet_distance, kernel_inception_distance, patches


def test_frechet_distance_of_gaussian_samples_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (200_000, 3))
    b = rng.normal(0.5, 2.0, (200_000, 3))
    # diagonal covariances: |mu_a - mu_b|^2 + sum (s_a + s_b - 2 sqrt(s_a s_b)) = 3 * 0.25 + 3 * (1 + 4 - 4)
    assert frechet_distance(a, b) == pytest.approx(0.75 + 3.0, rel=0.01)
    assert frechet_distance(a[:5000], a[:5000]) == pytest.approx(0.0, abs=1e-8)


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 4)), rng.normal(0.3, 1.0, size=(25, 4))

    def k(x, y):
        return (x @ y / 4 + 1) ** 3

    aa = sum(k(a[i], a[j]) for i in range(30) for j in range(30) if i != j) / (30 * 29)
    bb = sum(k(b[i], b[j]) for i in range(25) for j in range(25) if i != j) / (25 * 24)
    ab = sum(k(x, y) for x in a for y in b) / (30 * 25)
    assert kernel_inception_distance(a, b) == pytest.approx(aa + bb - 2 * ab, rel=1e-10)


def test_patches_follow_the_shifted_grid_protocol():
    image = np.arange(512 * 768 * 3, dtype=np.int64).reshape(512, 768, 3)
    cut = patches(image)
    assert len(cut) == 8 and all(p.shape == (256, 256, 3) for p in cut)  # 3 x 2 + 2 x 1
    assert np.array_equal(cut[6], image[128:384, 128:384]) and np.array_equal(cut[7], image[128:384, 384:640])
    assert len(patches(np.zeros((300, 300, 3)))) == 1


@pytest.mark.slow
def test_inception_layout_and_features_with_injected_weights():
    torch.manual_seed(0)
    net = FIDInception().eval()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    # torchvision's names and shapes, for a few layers of each block type
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == (192, 192, 1, 7)
    assert shapes["Mixed_7a.branch3x3_2.conv.weight"] == (320, 192, 3, 3)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    # torchvision's inception_v3 has 27,161,264 parameters: 3,326,696 in its auxiliary
    # classifier and 2,049,000 in its fc layer; the rest are these convolutions and batch norms
    convs = sum(v.numel() for k, v in net.state_dict().items() if k.endswith("conv.weight"))
    norms = sum(v.numel() for k, v in net.state_dict().items() if k.endswith(("bn.weight", "bn.bias")))
    assert convs + norms == 27_161_264 - 3_326_696 - 2_049_000
    with torch.no_grad():
        out = net(torch.rand(2, 3, 256, 256))
    assert out.shape == (2, 2048) and torch.all(out >= 0)
    images = [np.random.default_rng(2).integers(0, 256, (384, 512, 3), dtype=np.uint8)]
    assert features(lambda x: x.mean(dim=(2, 3)), images).shape == (3, 3)  # two patches + one shifted


def test_missing_weights_are_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("NC_FID_WEIGHTS", raising=False)
    for name in ("fid", "kid"):
        with pytest.raises(PipelineError, match="needs pt_inception-2015-12-05-6726825d.pth"):
            build({"use": name}, "metric")
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(PipelineError, match="the FID Inception weights lack"):
        build({"use": "fid", "weights": str(tmp_path / "partial.pth")}, "metric")


@pytest.mark.slow
def test_fid_and_kid_metrics_from_a_weights_file(tmp_path):
    torch.manual_seed(1)
    torch.save(FIDInception().state_dict(), tmp_path / "inception.pth")
    fid = build({"use": "fid", "weights": str(tmp_path / "inception.pth")}, "metric")
    kid = build({"use": "kid", "weights": str(tmp_path / "inception.pth")}, "metric")
    rng = np.random.default_rng(3)
    a = [rng.integers(0, 256, (256, 384, 3), dtype=np.uint8) for _ in range(2)]
    b = [np.clip(x.astype(int) + rng.integers(-60, 60, x.shape), 0, 255).astype(np.uint8) for x in a]
    assert fid.per_image is False and kid.per_image is False
    assert fid.extractor is kid.extractor  # one network per weights file
    assert fid.compute_set(a, a) == pytest.approx(0.0, abs=1e-3)
    assert fid.compute_set(a, b) > 0 and np.isfinite(kid.compute_set(a, b))
