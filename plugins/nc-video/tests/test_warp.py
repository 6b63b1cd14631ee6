"""Scale-space warping against known shifts, blurs and scale mixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nc_video.warp import gaussian_blur, gaussian_kernel, scale_space_volume, scale_space_warp, warp


@pytest.fixture
def frame() -> torch.Tensor:
    return torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _flow(frame, dx, dy, s=0.0):
    n, _, h, w = frame.shape
    return torch.stack([torch.full((n, h, w), float(v), dtype=frame.dtype) for v in (dx, dy, s)], dim=1)


def test_an_integer_shift_moves_the_frame_and_repeats_the_border(frame):
    out = warp(frame, _flow(frame, 3, -2))
    assert torch.allclose(out[:, :, 2:, :-3], frame[:, :, :-2, 3:], atol=1e-12)
    assert torch.allclose(out[:, :, :2, :-3], frame[:, :, :1, 3:].expand(-1, -1, 2, -1), atol=1e-12)
    assert torch.allclose(out[:, :, 2:, -3:], frame[:, :, :-2, -1:].expand(-1, -1, -1, 3), atol=1e-12)


def test_a_half_pixel_shift_is_bilinear(frame):
    out = warp(frame, _flow(frame, 0.5, 0))
    assert torch.allclose(out[..., :-1], (frame[..., :-1] + frame[..., 1:]) / 2, atol=1e-12)


def test_a_per_pixel_flow_gathers_each_pixel_from_its_own_source(frame):
    flow = torch.zeros(2, 3, 20, 24, dtype=frame.dtype)
    flow[:, 0, 5, 7], flow[:, 1, 5, 7] = 4, 3  # pixel (5, 7) from (8, 11)
    out = warp(frame, flow)
    assert torch.equal(out[:, :, 5, 7], frame[:, :, 8, 11])
    mask = torch.ones(20, 24, dtype=torch.bool)
    mask[5, 7] = False
    assert torch.allclose(out[:, :, mask], frame[:, :, mask], atol=1e-12)


def test_the_scale_coordinate_picks_and_mixes_blur_levels(frame):
    volume = scale_space_volume(frame, levels=4, sigma0=1.0)
    assert volume.shape == (2, 3, 4, 20, 24) and torch.equal(volume[:, :, 0], frame)
    for k, sigma in ((1, 1.0), (2, 2.0), (3, 4.0)):
        assert torch.equal(volume[:, :, k], gaussian_blur(frame, sigma))
    for k in range(4):
        assert torch.allclose(scale_space_warp(volume, _flow(frame, 0, 0, k)), volume[:, :, k], atol=1e-12)
    mixed = scale_space_warp(volume, _flow(frame, 0, 0, 1.25))
    assert torch.allclose(mixed, 0.75 * volume[:, :, 1] + 0.25 * volume[:, :, 2], atol=1e-12)
    assert torch.allclose(scale_space_warp(volume, _flow(frame, 0, 0, 9)), volume[:, :, 3], atol=1e-12)
    assert torch.allclose(scale_space_warp(volume, _flow(frame, 0, 0, -2)), frame, atol=1e-12)


def test_the_blur_is_a_normalised_gaussian_with_replicated_borders(frame):
    k = gaussian_kernel(1.5)
    assert len(k) == 11 and float(k.sum()) == pytest.approx(1.0) and torch.equal(k, k.flip(0))
    blurred = gaussian_blur(frame, 1.5)
    padded = F.pad(frame, (5, 5, 5, 5), mode="replicate").numpy()
    k2 = np.outer(k.numpy(), k.numpy())
    direct = np.zeros_like(frame.numpy())
    for i in range(11):
        for j in range(11):
            direct += k2[i, j] * padded[:, :, i:i + 20, j:j + 24]
    assert np.allclose(blurred.numpy(), direct, atol=1e-12)
    flat = torch.full((1, 1, 9, 9), 0.3, dtype=torch.float64)
    assert torch.allclose(gaussian_blur(flat, 4.0), flat)
    with pytest.raises(ValueError, match="sigma must be positive"):
        gaussian_kernel(0)


def test_gradients_reach_the_flow_and_bad_shapes_are_refused(frame):
    flow = _flow(frame, 0.3, 0.2, 0.5).requires_grad_()
    warp(frame, flow).sum().backward()
    assert flow.grad is not None and flow.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="flow must be 2 x 3 x 20 x 24"):
        scale_space_warp(scale_space_volume(frame), torch.zeros(2, 2, 20, 24, dtype=frame.dtype))


def test_the_scale_learns_from_zero_where_an_untrained_coder_starts(frame):
    """At the zero flow of an untrained coder the prediction is the frame itself, and a loss
    that wants blur pulls s up: grid_sample's border gives no gradient, so level 0 must not
    sit on the volume's border."""
    flow = torch.zeros(frame.shape[0], 3, *frame.shape[-2:], dtype=frame.dtype, requires_grad=True)
    predicted = warp(frame, flow)
    assert torch.allclose(predicted, frame, atol=1e-6)
    ((predicted - gaussian_blur(frame, 1.5)) ** 2).sum().backward()
    assert (flow.grad[:, 2] < 0).any() and flow.grad[:, 2].abs().sum() > 1e-3  # descent raises s
