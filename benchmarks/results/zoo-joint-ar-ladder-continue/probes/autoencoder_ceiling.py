"""Kodak PSNR of zoo:joint-autoregressive-mse's autoencoder with and without rounding at rungs 0, 3, 5 (first 3 images):
python benchmarks/results/zoo-joint-ar-ladder-continue/probes/autoencoder_ceiling.py"""

import glob

import numpy as np
import torch
from PIL import Image

from nc_core import models
from nc_core.imaging import to_tensor

codec = models.load_model(models.model_dir("zoo:joint-autoregressive-mse"))
codec.eval()
fs = sorted(glob.glob("../shared/data/kodak/*.png"))[:3]


def psnr(a, b):
    return (-10 * torch.log10(((a.clamp(0, 1) - b) ** 2).mean())).item()


with torch.no_grad():
    for r in [0, 3, 5]:
        out = []
        for f in fs:
            x = to_tensor(np.asarray(Image.open(f).convert("RGB")))
            y = codec._scaled(codec.transform.analysis(x), r)
            s = lambda q: codec.transform.synthesis(codec._scaled(q, r, inverse=True))  # noqa: B023 (called at once)
            out.append((psnr(s(y), x), psnr(s(y.round()), x), psnr(s(y * 4), x) if False else 0))
        print(r, np.mean(out, 0))
    x = to_tensor(np.asarray(Image.open(fs[0]).convert("RGB")))
    y = codec.transform.analysis(x)
    print("unscaled AE", psnr(codec.transform.synthesis(y), x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = codec._scaled(codec.transform.analysis(x), 5)
        xh = codec.transform.synthesis(codec._scaled(y, 5, inverse=True)).float()
    print("bf16 AE rung5", psnr(xh, x))
    y = codec._scaled(codec.transform.analysis(x), 5)
    print("fp32 AE rung5", psnr(codec.transform.synthesis(codec._scaled(y, 5, inverse=True)), x))
