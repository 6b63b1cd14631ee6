"""How much the searched motion helps the latent residual: for bikes' frames START+1 .. START+N-1,
the PSNR of the previous frame unmoved, moved by the 8x8 block search and by its quarter-pel 16x16
means (motion_vectors: 4), and the mean square of y - c (y the frame's latents at zoo:mean-scale-mse's
rung 1, c the prediction's; and of y - a c with the best a).
    python benchmarks/results/video-conditional/probes/motion_latent_mse.py START N"""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from nc_video.search import block_flow
from nc_video.warp import warp

from nc_core import models
from nc_core.frames import read_frames

torch.set_num_threads(2)
start, n = int(sys.argv[1]), int(sys.argv[2])
frames = list(read_frames("../shared/data/video/bikes.mp4", limit=start + n))[start:]
x = torch.tensor(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
x = F.pad(x, (0, 0, 0, 320 - 272), mode="replicate")
intra = models.load_model(models.model_dir("zoo:mean-scale-mse")).with_quality(1)


def psnr(a, b):
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


with torch.no_grad():
    for t in range(1, n):
        ref, cur = x[t - 1 : t], x[t : t + 1]
        f = block_flow(cur, ref, 8)
        vec = F.interpolate(
            torch.round(4 * F.avg_pool2d(f, 16)) / 4, scale_factor=16, mode="bilinear", align_corners=False
        )
        pb = warp(ref, torch.cat([f, torch.zeros_like(f[:, :1])], 1))
        pv = warp(ref, torch.cat([vec, torch.zeros_like(f[:, :1])], 1))
        y = intra.latents(cur)

        def lat(p, y=y):
            c = intra.latents(p)
            a = (y * c).sum() / (c * c).sum()
            return float(((y - c) ** 2).mean()), float(((y - a * c) ** 2).mean())

        print(
            t,
            f"psnr ref {psnr(ref, cur):.2f} block {psnr(pb, cur):.2f} vec16 {psnr(pv, cur):.2f} | latent mse y {float((y**2).mean()):.2f} ref {lat(ref)} vec16 {lat(pv)} | mean |flow| {float(f.abs().mean()):.2f}",
            flush=True,
        )
