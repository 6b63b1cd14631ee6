"""Does explicit block motion pay for its vectors in the latent P-frames? On bikes' frames 1 and 41
(reference: the previous frame coded by zoo:mean-scale-mse at rung 1, a real file): the latents'
bits relative to intra (per-channel Gaussian fitted to y - a c, as prediction_bound.py) with the
prediction copied by the rate-constrained integer block search (``nc_video.search.block_flow``,
±8 px) at 8 and 16 px blocks and three penalties, beside the ideal i.i.d. entropy of its vectors
(joint over the two components): what a P-frame would pay for them coded without context.
    python benchmarks/results/video-ssf/probes/vector_tradeoff.py"""

import numpy as np
import torch
import torch.nn.functional as F
from nc_video.search import block_flow
from nc_video.warp import warp

from nc_core import models
from nc_core.frames import read_frames

torch.set_num_threads(1)
H = 272
base = models.load_model(models.model_dir("zoo:mean-scale-mse"))
intra = base.with_quality(1)


def tensor(a):
    return torch.tensor(a).permute(2, 0, 1)[None].float() / 255


def entropy(v):
    _, c = np.unique(v, axis=0, return_counts=True)
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum())


def bits(y, c):
    if c is not None:
        a = ((y * c).sum((2, 3), keepdim=True) / (c * c).sum((2, 3), keepdim=True).clamp_min(1e-9)).clamp(
            0, 1.2
        )
        y = y - a * c
    r = y[0].flatten(1)
    d = torch.distributions.Normal(0, r.std(1, keepdim=True).clamp_min(0.11))
    k = torch.round(r)
    return float(-torch.log2((d.cdf(k + 0.5) - d.cdf(k - 0.5)).clamp_min(1e-9)).sum())


def moved(ref, flow):
    p = warp(ref, torch.cat([flow, torch.zeros_like(flow[:, :1])], 1)).clamp(0, 1)
    return F.pad(p[..., :H, :], (0, 0, 0, p.shape[-2] - H), mode="replicate")


for start in (0, 40):
    fr = [
        np.pad(f, ((0, 48), (0, 0), (0, 0)), mode="edge")
        for f in read_frames("../shared/data/video/bikes.mp4", limit=2, start=start)
    ]
    with torch.no_grad():
        ref = tensor(base.decompress(base.with_quality(1).compress(fr[0])))
        x = tensor(fr[1])
        y = intra.latents(x)
        ib = bits(y, None)
        ibytes = len(base.with_quality(1).compress(fr[1]))
        out = [f"frame {start + 1} intra {ibytes} B unmoved {bits(y, intra.latents(ref)) / ib:.3f}"]
        for blk in (8, 16):
            for pen in (0.005, 0.01, 0.02):
                f = block_flow(x, ref, 8, block=blk, penalty=pen)
                v = f[0, :, ::blk, ::blk].flatten(1).T.numpy()
                out.append(
                    f"{blk}px λ{pen}: {bits(y, intra.latents(moved(ref, f))) / ib:.3f} joint-iid {entropy(v) * len(v) / 8:.0f} B"
                )
        print(" | ".join(out), flush=True)
