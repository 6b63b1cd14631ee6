"""What better motion could buy the latent P-frames on bikes, without training anything.

For bikes' frames START+1 .. START+N-1 (references: the previous frame coded by zoo:mean-scale-mse
at RUNG, a real file), the bits of the frame's latents y at that rung under a per-channel
Gaussian fitted to y - a c (best per-channel a; c the latents of a prediction), for predictions:

- ``intra``: none (c = 0), the scale the others are read against;
- ``unmoved``: the reference as it is (what video-conditional predicts from);
- ``global``: the reference moved by the best global quarter-pel translation (±12 px);
- ``searched``: moved by the encoder's 8x8 block search (±8 px), unconstrained and at
  ``motion_penalty`` 0.005: free motion, its vectors' bits not counted;
- ``vectors``: the λ = 0.005 search as ``motion_vectors: 4`` codes it (quarter-pel means over
  16x16 blocks, upsampled bilinearly), with the ideal i.i.d. entropy of those vectors;
- ``extrapolated``: moved by the motion between the two previous decoded frames (a decoder can
  find it without bits; needs smooth motion);
- ``requantized``: the frame's own reconstruction, the floor of coding y against latents.

Then the pixel residual (x - searched prediction) coded as an image by the intra codec itself, at
each rung: real bytes and PSNR, against the intra frame's.
    python benchmarks/results/video-ssf/probes/prediction_bound.py START N [RUNG]"""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from nc_video.search import block_flow
from nc_video.warp import warp

from nc_core import models
from nc_core.frames import read_frames

H = 272  # bikes' height; frames are padded to 320 (a multiple of 64) as the codec pads them
BIKES = "../shared/data/video/bikes.mp4"


def padded_frames(n, start):
    return [
        np.pad(f, ((0, 320 - H), (0, 0), (0, 0)), mode="edge")
        for f in read_frames(BIKES, limit=n, start=start)
    ]


def tensor(a):
    return torch.tensor(a).permute(2, 0, 1)[None].float() / 255


def psnr(a, b):
    return float(-10 * torch.log10(((a - b)[..., :H, :] ** 2).mean()))


def coded(base, img, q):
    m = base.with_quality(q)
    data = m.compress(img)
    return len(data), tensor(m.decompress(data))


def bits(y, c):
    """Bits of round(y - a c) under a per-channel zero-mean Gaussian (unit bins)."""
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
    """``ref`` warped by ``flow``, its padding rows rebuilt from the picture as the frame's are."""
    p = warp(ref, torch.cat([flow, torch.zeros_like(flow[:, :1])], 1)).clamp(0, 1)
    return F.pad(p[..., :H, :], (0, 0, 0, p.shape[-2] - H), mode="replicate")


def entropy(v):
    """Ideal i.i.d. entropy (bits per item) of the rows of ``v`` (its values, for a 1-D ``v``)."""
    _, counts = np.unique(v, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def global_shift(x, ref, radius=12):
    """The best global translation, integer then quarter-pel (mean absolute error over the picture)."""
    pad = F.pad(ref, (radius,) * 4, mode="replicate")
    h, w = ref.shape[-2:]
    err = {
        (dx, dy): float(
            (x - pad[..., radius + dy : radius + dy + h, radius + dx : radius + dx + w])[..., :H, :]
            .abs()
            .mean()
        )
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
    }
    gx, gy = min(err, key=err.get)
    best = None
    for fy in range(-3, 4):
        for fx in range(-3, 4):
            flow = torch.zeros(1, 2, h, w)
            flow[:, 0], flow[:, 1] = gx + fx / 4, gy + fy / 4
            p = moved(ref, flow)
            e = float((x - p)[..., :H, :].abs().mean())
            if best is None or e < best[0]:
                best = (e, p)
    return best[1]


def main():
    torch.set_num_threads(1)
    start, n = int(sys.argv[1]), int(sys.argv[2])
    rung = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    frames = padded_frames(n, start)
    base = models.load_model(models.model_dir("zoo:mean-scale-mse"))
    intra = base.with_quality(rung)
    totals: dict[str, float] = {}
    with torch.no_grad():
        refs = [coded(base, frames[0], rung)[1]]
        for t in range(1, n):
            x = tensor(frames[t])
            intra_bytes, rec = coded(base, frames[t], rung)
            ref = refs[-1]
            searched = moved(ref, block_flow(x, ref, 8))
            found = block_flow(x, ref, 8, penalty=0.005)
            penalised = moved(ref, found)
            v = torch.round(4 * F.avg_pool2d(found, 16))
            vector_bytes = (
                (entropy(v[0, 0].flatten().numpy()) + entropy(v[0, 1].flatten().numpy()))
                * v[0, 0].numel()
                / 8
            )
            vectors = moved(ref, F.interpolate(v / 4, scale_factor=16, mode="bilinear", align_corners=False))
            extrapolated = moved(ref, block_flow(ref, refs[-2], 8)) if t >= 2 else ref
            y = intra.latents(x)
            preds = {
                "unmoved": ref,
                "global": global_shift(x, ref),
                "searched": searched,
                "searched λ=0.005": penalised,
                "vectors": vectors,
                "extrapolated": extrapolated,
                "requantized": rec,
            }
            row = {"intra": bits(y, None)} | {k: bits(y, intra.latents(p)) for k, p in preds.items()}
            for k, v in row.items():
                totals[k] = totals.get(k, 0.0) + v
            print(
                f"frame {start + t}: prediction PSNR "
                + ", ".join(f"{k} {psnr(p, x):.2f}" for k, p in preds.items() if k != "requantized"),
                flush=True,
            )
            print(f"  vectors: {vector_bytes:.0f} B (ideal i.i.d.)", flush=True)
            print(
                "  latent bits / intra: " + ", ".join(f"{k} {v / row['intra']:.3f}" for k, v in row.items()),
                flush=True,
            )
            residual = np.clip(
                np.round(255 * (0.5 + x - penalised)[0].permute(1, 2, 0).numpy()), 0, 255
            ).astype(np.uint8)
            out = [f"intra {intra_bytes} B {psnr(rec, x):.2f} dB"]
            for q in range(base.qualities):
                size, r = coded(base, residual, q)
                out.append(f"rung {q} {size} B {psnr((penalised + r - 0.5).clamp(0, 1), x):.2f} dB")
            print("  pixel residual by the intra codec: " + " | ".join(out), flush=True)
            refs.append(rec)
    print(
        f"frames {start + 1}-{start + n - 1}, latent bits / intra: "
        + ", ".join(f"{k} {v / totals['intra']:.3f}" for k, v in totals.items())
    )


if __name__ == "__main__":
    main()
