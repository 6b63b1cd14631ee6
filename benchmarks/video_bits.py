"""Where a video model's P-frame bits go, frame by frame: motion and residual information
content, and how good the prediction is before the residual is added.

For the first ``--frames`` frames of a clip (default: bikes), coded as the model codes them
(its intra period, each P-frame predicted from the previous decoded frame), prints per frame:
intra or P, motion and residual bits per pixel (information content ``-log2 P`` of each branch's
symbols under its entropy model: what the coder writes, within its small overhead), and the
PSNR (RGB, dB) of three pictures of the frame: the reference unmoved (``ref``), the warped
prediction (``pred``), and the decoded frame (``rec``). Then the means over P-frames.

``pred - ref`` is what motion compensation gains over repeating the last frame; the residual's
bits buy ``rec - pred``.

    python benchmarks/video_bits.py RUN_DIR/POINT [--clip PATH] [--frames N] [--json F]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.coding import information_bits
from nc_core.frames import read_frames
from nc_core.imaging import fixed_threads, pad_to, to_image, to_tensor
from nc_core.models import load_model


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="a trained video model's directory (model.pt inside)")
    data = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--clip", type=Path, default=data / "video" / "bikes.mp4")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    codec = load_model(args.model).eval()
    pf, pad = codec.pframe, 64
    rows, ref = [], None
    for k, frame in enumerate(read_frames(args.clip, limit=args.frames)):
        h, w = frame.shape[:2]
        if codec.is_intra(k):
            payload, rec = codec.intra.encode_with_reconstruction(frame)
            row = {"frame": k, "intra": True, "intra_bpp": payload.ideal_bits / (h * w), "rec": psnr(rec, frame)}
        else:
            x, r = pad_to(to_tensor(frame), pad), pad_to(to_tensor(ref), pad)
            motion, mgroups = pf.motion_entropy.encode(pf.motion_latent(x, r)[0], pf.quantizer, 0)
            with fixed_threads():
                pred, sigma, _ = pf.predict(r, motion.float())
            res, rgroups = pf.residual_entropy.encode(pf.residual_analysis((x - pred) / sigma), pf.quantizer, 1)
            with fixed_threads():
                x_hat = pred + sigma * pf.residual_synthesis(res.float())
            rec = to_image(x_hat[..., :h, :w])
            bits = [sum(information_bits(s, d) for s, d in g[0]) for g in (mgroups, rgroups)]
            row = {"frame": k, "intra": False, "motion_bpp": bits[0] / (h * w), "residual_bpp": bits[1] / (h * w),
                   "ref": psnr(ref, frame), "pred": psnr(to_image(pred[..., :h, :w]), frame), "rec": psnr(rec, frame)}
        rows.append(row)
        ref = rec
        print(" ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in row.items()), flush=True)
    p = [r for r in rows if not r["intra"]]
    if p:
        means = {key: float(np.mean([r[key] for r in p])) for key in ("motion_bpp", "residual_bpp", "ref", "pred", "rec")}
        print(f"P-frames ({len(p)}): " + ", ".join(f"{key} {v:.4f}" for key, v in means.items()))
        write_json(args.json, model=str(args.model), clip=str(args.clip), frames=args.frames, p_means=means, rows=rows)


if __name__ == "__main__":
    main()
