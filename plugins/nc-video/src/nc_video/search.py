"""Encoder-side motion search: exhaustive block matching, as a classical encoder does.

The P-frame coder's motion branch learns to *code* a flow field well within a CPU budget, but
not to *find* one: trained from scratch on the prediction's distortion, it codes no motion at
all (``benchmarks/results/README.md``, video-ssf-pixels). With ``motion_search`` the encoder gives
its motion analysis the block-matching flow as two more input channels; finding motion is
then the search's job and the network's is to compress it (and to refine it where the
prediction says so). The decoder never runs the search: files need nothing new.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 8  # block side (px); frames reach the coder padded to a multiple of 64


def block_flow(x: torch.Tensor, ref: torch.Tensor, radius: int, block: int = BLOCK) -> torch.Tensor:
    """The integer flow ``d`` per ``block x block`` block (``N x 2 x H x W``, constant over each
    block, ``(dx, dy)`` in pixels as :func:`nc_video.warp.warp` reads it) minimising the
    block's mean absolute difference ``|x(p) - ref(p + d)|`` over ``d`` in ``[-radius, radius]^2``
    (``ref``'s borders replicated; ties go to the shorter motion). ``H`` and ``W`` must be
    multiples of ``block``."""
    n, _, h, w = x.shape
    if radius < 1 or h % block or w % block:
        raise ValueError(f"block matching needs radius >= 1 and sides that are multiples of {block}")
    pad = F.pad(ref, (radius,) * 4, mode="replicate")
    best = torch.full((n, 1, h // block, w // block), float("inf"), dtype=x.dtype, device=x.device)
    flow = torch.zeros(n, 2, h // block, w // block, dtype=x.dtype, device=x.device)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            moved = pad[..., radius + dy : radius + dy + h, radius + dx : radius + dx + w]
            cost = F.avg_pool2d((x - moved).abs().mean(1, keepdim=True), block) + 1e-6 * (dx * dx + dy * dy)
            better = cost < best
            best = torch.where(better, cost, best)
            flow[:, :1] = torch.where(better, float(dx), flow[:, :1])
            flow[:, 1:] = torch.where(better, float(dy), flow[:, 1:])
    return F.interpolate(flow, scale_factor=block, mode="nearest")
