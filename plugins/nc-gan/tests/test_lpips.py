"""LPIPS with injected networks: nc's layout and taps against an independent functional
computation, the weights files found from the pipeline or the environment, and one clear
line when they are missing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nc_core.pipeline import PipelineError, build
from nc_gan.lpips import CHANNELS, LPIPSNet, backbone

# torchvision's AlexNet and VGG-16 `features`, written out independently of nc_gan.lpips:
# (index of the conv in `features`, kernel, stride, padding, pool after it), taps after these convs
ALEX_CONVS = [(0, 11, 4, 2, True), (3, 5, 1, 2, True), (6, 3, 1, 1, False), (8, 3, 1, 1, False), (10, 3, 1, 1, False)]
ALEX_TAPS = [0, 3, 6, 8, 10]
VGG_CONVS = [(i, 3, 1, 1, i in (2, 7, 14, 21, 28)) for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]
VGG_TAPS = [2, 7, 14, 21, 28]


def _random_state(net: str, seed: int = 0) -> tuple[dict, dict]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in backbone(net).state_dict().items():
        state[f"features.{name}"] = torch.randn(t.shape, generator=gen) * (0.05 if t.dim() > 1 else 0.1)
    state["classifier.1.weight"] = torch.zeros(2, 2)  # the rest of a torchvision checkpoint is ignored
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for i, c in enumerate(CHANNELS[net])}
    return state, heads


def _reference(state: dict, heads: dict, convs, taps, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    def features(h):
        h = (2 * h - 1 - torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)) / torch.tensor(
            [0.458, 0.448, 0.450]).view(1, 3, 1, 1)
        out = []
        for index, _kernel, stride, padding, pool in convs:
            h = F.relu(F.conv2d(h, state[f"features.{index}.weight"], state[f"features.{index}.bias"], stride, padding))
            if index in taps:
                out.append(h)
            if pool and index != convs[-1][0]:
                h = F.max_pool2d(h, 3, 2) if convs is ALEX_CONVS else F.max_pool2d(h, 2, 2)
        return out

    total = torch.zeros(x.shape[0])
    for k, (a, b) in enumerate(zip(features(x), features(y))):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        total += (heads[f"lin{k}.model.1.weight"] * (a - b) ** 2).sum(dim=1).mean(dim=(1, 2))
    return total


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_an_independent_computation(net):
    state, heads = _random_state(net)
    model = LPIPSNet(net, state, heads)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 64, 64, generator=gen)
    y = (x + 0.1 * torch.randn(2, 3, 64, 64, generator=gen)).clamp(0, 1)
    convs, taps = (ALEX_CONVS, ALEX_TAPS) if net == "alex" else (VGG_CONVS, VGG_TAPS)
    with torch.no_grad():
        got = model(x, y)
        torch.testing.assert_close(got, _reference(state, heads, convs, taps, x, y), rtol=1e-4, atol=1e-7)
        assert torch.all(got > 0) and torch.equal(model(x, x), torch.zeros(2))
        torch.testing.assert_close(model(y, x), got)


def test_lpips_metric_from_files_or_the_environment(tmp_path, monkeypatch):
    state, heads = _random_state("alex", seed=2)
    torch.save(state, tmp_path / "alexnet-owt-7be5be79.pth")
    torch.save(heads, tmp_path / "alex.pth")
    metric = build({"use": "lpips", "backbone": str(tmp_path / "alexnet-owt-7be5be79.pth"),
                    "heads": str(tmp_path / "alex.pth")}, "metric")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    b = np.clip(a + rng.integers(-20, 20, a.shape), 0, 255).astype(np.uint8)
    value = metric.compute(a, b, 0)
    with torch.no_grad():
        expected = LPIPSNet("alex", state, heads)(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255,
                                                  torch.from_numpy(b).permute(2, 0, 1)[None].float() / 255)
    assert value == pytest.approx(float(expected[0]), rel=1e-6) and value > 0
    monkeypatch.setenv("NC_LPIPS_ALEX_BACKBONE", str(tmp_path / "alexnet-owt-7be5be79.pth"))
    monkeypatch.setenv("NC_LPIPS_ALEX_HEADS", str(tmp_path / "alex.pth"))
    assert build({"use": "lpips"}, "metric").compute(a, b, 0) == value
    # differentiable: a training distortion
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    metric.distortion(x, torch.rand(1, 3, 32, 32)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_missing_or_wrong_weights_are_one_clear_line(tmp_path, monkeypatch):
    for variable in ("NC_LPIPS_ALEX_BACKBONE", "NC_LPIPS_ALEX_HEADS", "NC_LPIPS_VGG_BACKBONE", "NC_LPIPS_VGG_HEADS"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(PipelineError) as caught:
        build({"use": "lpips"}, "metric")
    message = str(caught.value)
    assert "alexnet-owt-7be5be79.pth" in message and "NC_LPIPS_ALEX_BACKBONE=PATH" in message and "\n" not in message
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "some.pth")
    with pytest.raises(PipelineError, match=r"lpips \(vgg\) needs vgg.pth \(the lpips wheel's weights/v0.1/\): name the file with heads: PATH"):
        build({"use": "lpips", "net": "vgg", "backbone": str(tmp_path / "some.pth")}, "metric")
    with pytest.raises(PipelineError, match="test_lpips.py: not a readable nc weights file"):
        build({"use": "lpips", "backbone": __file__, "heads": __file__}, "metric")
    with pytest.raises(PipelineError, match="no such file"):
        build({"use": "lpips", "backbone": str(tmp_path / "nothing.pth")}, "metric")
    state, heads = _random_state("alex")
    torch.save({"features.0.weight": state["features.0.weight"]}, tmp_path / "partial.pth")
    torch.save(heads, tmp_path / "alex.pth")
    with pytest.raises(PipelineError, match="backbone weights lack features.0.bias"):
        build({"use": "lpips", "backbone": str(tmp_path / "partial.pth"), "heads": str(tmp_path / "alex.pth")}, "metric")
    with pytest.raises(PipelineError, match="net must be alex or vgg"):
        build({"use": "lpips", "net": "squeeze"}, "metric")
