"""DISTS with an injected network: nc's stages and pooling against an independent functional
computation, and its weights files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nc_core.pipeline import PipelineError, build
from nc_gan.dists import DISTSNet
from nc_gan.lpips import backbone

# VGG-16 `features` conv indices per DISTS stage (torchvision's layout), written out here
STAGE_CONVS = [(0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28)]
CHANNELS = [3, 64, 128, 256, 512, 512]


def _random(seed: int = 0) -> tuple[dict, dict]:
    gen = torch.Generator().manual_seed(seed)
    state = {f"features.{k}": torch.randn(v.shape, generator=gen) * (0.05 if v.dim() > 1 else 0.1)
             for k, v in backbone("vgg").state_dict().items()}
    weights = {"alpha": torch.rand(1, 1475, 1, 1, generator=gen), "beta": torch.rand(1, 1475, 1, 1, generator=gen)}
    return state, weights


def _reference(state, weights, x, y):
    hann = torch.tensor([0.5, 1.0, 0.5])
    g = hann[:, None] * hann[None, :]
    g = g / g.sum()

    def feats(h):
        out = [h]
        h = (h - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        for s, convs in enumerate(STAGE_CONVS):
            if s > 0:
                c = h.shape[1]
                h = torch.sqrt(F.conv2d(h * h, g.expand(c, 1, 3, 3), stride=2, padding=1, groups=c) + 1e-12)
            for i in convs:
                h = F.relu(F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))
            out.append(h)
        return out

    alpha, beta = weights["alpha"].flatten(), weights["beta"].flatten()
    total = alpha.sum() + beta.sum()
    result, start = torch.zeros(x.shape[0]), 0
    for fx, fy, c in zip(feats(x), feats(y), CHANNELS):
        a, b = alpha[start:start + c] / total, beta[start:start + c] / total
        start += c
        for n in range(x.shape[0]):
            px, py = fx[n].flatten(1), fy[n].flatten(1)
            mx, my = px.mean(1), py.mean(1)
            cov = ((px - mx[:, None]) * (py - my[:, None])).mean(1)
            vx, vy = px.var(1, unbiased=False), py.var(1, unbiased=False)
            result[n] += (a * (2 * mx * my + 1e-6) / (mx**2 + my**2 + 1e-6)).sum()
            result[n] += (b * (2 * cov + 1e-6) / (vx + vy + 1e-6)).sum()
    return 1 - result


def test_dists_matches_an_independent_computation():
    state, weights = _random()
    net = DISTSNet(state, weights)
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 64, 64, generator=gen)
    y = (x + 0.2 * torch.randn(2, 3, 64, 64, generator=gen)).clamp(0, 1)
    with torch.no_grad():
        got = net(x, y)
        torch.testing.assert_close(got, _reference(state, weights, x, y), rtol=1e-4, atol=1e-5)
        assert torch.all(got > 0)
        torch.testing.assert_close(net(x, x), torch.zeros(2), rtol=0, atol=1e-5)


def test_dists_metric_from_files_and_its_errors(tmp_path, monkeypatch):
    state, weights = _random(1)
    torch.save(state, tmp_path / "vgg16-397923af.pth")
    torch.save(weights, tmp_path / "weights.pt")
    metric = build({"use": "dists", "backbone": str(tmp_path / "vgg16-397923af.pth"),
                    "weights": str(tmp_path / "weights.pt")}, "metric")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert metric.compute(a, a, 0) == pytest.approx(0.0, abs=1e-5)
    assert metric.compute(a, 255 - a, 0) > 0.01
    monkeypatch.delenv("NC_DISTS_WEIGHTS", raising=False)
    with pytest.raises(PipelineError, match=r"dists needs weights.pt \(the DISTS_pytorch package's\): name the file with weights: PATH or NC_DISTS_WEIGHTS=PATH"):
        build({"use": "dists", "backbone": str(tmp_path / "vgg16-397923af.pth")}, "metric")
    torch.save({"alpha": torch.ones(3)}, tmp_path / "bad.pt")
    with pytest.raises(PipelineError, match="lack alpha with 1475 values"):
        build({"use": "dists", "backbone": str(tmp_path / "vgg16-397923af.pth"), "weights": str(tmp_path / "bad.pt")},
              "metric")
