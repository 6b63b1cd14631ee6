"""Real information content (bits under the coding distributions) of each P-frame group, bikes frames."""

import sys

import numpy as np
import torch
import yaml

from nc_core.coding import information_bits
from nc_core.frames import read_frames
from nc_core.imaging import pad_to, to_tensor
from nc_core.pipeline import build

torch.set_num_threads(1)
run = sys.argv[1]
start = int(sys.argv[2]) if len(sys.argv) > 2 else 0
n = int(sys.argv[3]) if len(sys.argv) > 3 else 4
cfg = yaml.safe_load(open(run + "/pipeline.yaml"))
codec = build(cfg["codec"], "codec")
ck = torch.load(run + "/checkpoint.pt", weights_only=True, map_location="cpu")
codec.load_state_dict(ck["model"])
codec.update()
codec.eval()
v = codec.with_quality(1)
intra = v._intra()
frames = list(read_frames("../shared/data/video/bikes.mp4", limit=start + n))[start:]
names = (
    ["motion-z", "motion-y", "residual-z", "residual-y"]
    if codec.pframe.motion
    else ["residual-z", "residual-y"]
)
tot = np.zeros(len(names))
with torch.no_grad():
    ref = pad_to(to_tensor(frames[0]), 64)
    for f in frames[1:]:
        x = pad_to(to_tensor(f), 64)
        pairs, x_hat = codec.pframe.encode(x, ref, 0, intra)
        tot += [information_bits(s, d) / 8 for s, d in pairs]
        ref = x_hat.clamp(0, 1)
print(
    "step", ck.get("step"), "bytes/P-frame:", ", ".join(f"{k} {b / (n - 1):.0f}" for k, b in zip(names, tot))
)
