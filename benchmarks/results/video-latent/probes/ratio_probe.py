"""P-frame / intra bytes on the first 9 frames of bikes at rungs 1 and 4, from a video-latent run's checkpoint:
python benchmarks/results/video-latent/probes/ratio_probe.py RUN_DIR [CLIP]"""

import io
import sys

import numpy as np
import torch
import yaml

from nc_core.frames import read_frames
from nc_core.pipeline import build

torch.set_num_threads(1)
run = sys.argv[1]
cfg = yaml.safe_load(open(run + "/pipeline.yaml"))
codec = build(cfg["codec"], "codec")
ck = torch.load(run + "/checkpoint.pt", weights_only=True, map_location="cpu")
codec.load_state_dict(ck["model"])
codec.update()
codec.eval()
print("step", ck.get("step"))
frames = list(read_frames(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/video/bikes.mp4", limit=9))


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2))


for q in (1, 4):
    out = {}
    for ip in (32, 1):
        v = codec.with_quality(q)
        v.intra_period = ip
        rows = []
        v.compress_sequence(frames, io.BytesIO(), on_frame=lambda f, r, n: rows.append((n, psnr(r, f))))  # noqa: B023 (called at once)
        out[ip] = rows
    p = np.mean([n for n, _ in out[32][1:]])
    i = np.mean([n for n, _ in out[1][1:]])
    print(
        f"rung {q}: P-frame bytes {p:.0f}, intra {i:.0f}, ratio {p / i:.3f}; psnr P {np.mean([s for _, s in out[32][1:]]):.2f} intra {np.mean([s for _, s in out[1][1:]]):.2f}"
    )
