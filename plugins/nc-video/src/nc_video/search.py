"""Encoder-side motion search: exhaustive block matching, as a classical encoder does.

The P-frame coder's motion branch learns to *code* a flow field well within a CPU budget, but
not to *find* one: trained from scratch on the prediction's distortion, it codes no motion at
all (``benchmarks/results/README.md``, video-ssf-pixels). With ``motion_search`` the encoder gives
its motion analysis the block-matching flow as two more input channels; finding motion is
then the search's job and the network's is to compress it (and to refine it where the
prediction says so). The decoder never runs the search: files need nothing new.

A search that minimises the difference alone finds noise where a block is flat or noisy: on
bikes its vectors, coded as quarter-pel 16x16 means, carry 3.4-4.5 bits per component (ideal
i.i.d. entropy), 700-900 bytes a frame, more than the motion saved. ``penalty`` makes it
rate-constrained as a classical encoder's is: each candidate also pays ``penalty`` per pixel of
distance (L1) from the frame's median unconstrained vector, so a block leaves the global motion
only where that buys a clearly better match (``penalty = 0.002``: 1.1-2.8 bits per component on
bikes, the prediction 0.1-0.35 dB lower).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 8  # block side (px); frames reach the coder padded to a multiple of 64


def block_flow(x: torch.Tensor, ref: torch.Tensor, radius: int, block: int = BLOCK, penalty: float = 0.0) -> torch.Tensor:
    """The integer flow ``d`` per ``block x block`` block (``N x 2 x H x W``, constant over each
    block, ``(dx, dy)`` in pixels as :func:`nc_video.warp.warp` reads it) minimising the
    block's mean absolute difference ``|x(p) - ref(p + d)|`` over ``d`` in ``[-radius, radius]^2``
    (``ref``'s borders replicated; ties go to the shorter motion), plus ``penalty * |d - g|_1``
    with ``g`` the image's median unconstrained vector (see the module docstring). ``H`` and
    ``W`` must be multiples of ``block``."""
    n, _, h, w = x.shape
    if radius < 1 or h % block or w % block:
        raise ValueError(f"block matching needs radius >= 1 and sides that are multiples of {block}")
    if penalty < 0:
        raise ValueError(f"penalty must be >= 0, got {penalty}")
    flow = _search(x, ref, radius, block, None, 0.0)
    if penalty:
        centre = torch.round(flow.flatten(2).median(dim=2).values)  # N x 2, per image
        flow = _search(x, ref, radius, block, centre, penalty)
    return F.interpolate(flow, scale_factor=block, mode="nearest")


def _search(x, ref, radius, block, centre, penalty) -> torch.Tensor:
    """The best vector per block (``N x 2 x H/block x W/block``), each candidate's cost raised by
    ``penalty`` per pixel of L1 distance from ``centre`` (``N x 2``)."""
    n, _, h, w = x.shape
    pad = F.pad(ref, (radius,) * 4, mode="replicate")
    best = torch.full((n, 1, h // block, w // block), float("inf"), dtype=x.dtype, device=x.device)
    flow = torch.zeros(n, 2, h // block, w // block, dtype=x.dtype, device=x.device)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            moved = pad[..., radius + dy : radius + dy + h, radius + dx : radius + dx + w]
            cost = F.avg_pool2d((x - moved).abs().mean(1, keepdim=True), block) + 1e-6 * (dx * dx + dy * dy)
            if centre is not None:
                cost = cost + penalty * ((dx - centre[:, 0]).abs() + (dy - centre[:, 1]).abs()).view(n, 1, 1, 1)
            better = cost < best
            best = torch.where(better, cost, best)
            flow[:, :1] = torch.where(better, float(dx), flow[:, :1])
            flow[:, 1:] = torch.where(better, float(dy), flow[:, 1:])
    return flow
