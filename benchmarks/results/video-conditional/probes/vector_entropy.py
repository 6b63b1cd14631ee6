"""What the searched motion vectors would cost on bikes: ideal i.i.d. entropy of the quarter-pel
16x16-block vectors (motion_vectors: 4) per component, and the PSNR of the prediction they give,
for a rate-constrained search at several penalties (nc_video.search.block_flow).
    python benchmarks/results/video-conditional/probes/vector_entropy.py"""

import numpy as np
import torch
import torch.nn.functional as F
from nc_video.search import block_flow
from nc_video.warp import warp

from nc_core.frames import read_frames

torch.set_num_threads(1)
frames = list(read_frames("../shared/data/video/bikes.mp4", limit=51))


def entropy(v):
    _, c = np.unique(v, return_counts=True)
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum())


def psnr(a, b):
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


for t in (1, 40, 50):
    x = torch.tensor(np.stack(frames[t - 1 : t + 1])).permute(0, 3, 1, 2).float() / 255
    x = F.pad(x, (0, 0, 0, 320 - 272), mode="replicate")
    for penalty in (0, 0.002, 0.005, 0.01):
        v = torch.round(4 * F.avg_pool2d(block_flow(x[1:], x[:1], 8, penalty=penalty), 16))
        vec = F.interpolate(v / 4, scale_factor=16, mode="bilinear", align_corners=False)
        pred = warp(x[:1], torch.cat([vec, torch.zeros_like(vec[:, :1])], 1))
        bits = (entropy(v[0, 0].numpy()) + entropy(v[0, 1].numpy())) / 2
        print(
            f"frame {t} penalty {penalty}: {bits:.2f} bits/component ({v[0, 0].numel() * 2 * bits / 8:.0f} bytes), "
            f"prediction {psnr(pred, x[1:]):.2f} dB, unmoved {psnr(x[:1], x[1:]):.2f} dB"
        )
