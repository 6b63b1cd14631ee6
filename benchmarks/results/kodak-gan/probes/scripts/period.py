"""The realism branch's residual on kodim13 (realism 1 minus realism 0, one file): its rms, the
true missing detail's (original minus realism 0), its colour part's, and the spectral peak at
periods 2, 4, 8 and 16 px as a multiple of the median power in the 11x11 frequencies around it.

    NC_DATA=../shared/data python period.py MODEL_DIR
"""
import os
import sys

import numpy as np

from nc_core.imaging import read_image
from nc_core.models import load_model

model = load_model(sys.argv[1])
image = read_image(os.path.join(os.environ.get("NC_DATA", "../shared/data"), "kodak", "kodim13.png"))[0]
payload = model.encode(image)
base = model.with_realism(0.0).decode(payload).astype(float)
real = model.with_realism(1.0).decode(payload).astype(float)
grey = (real - base).mean(2)
power = np.abs(np.fft.fft2(grey - grey.mean())) ** 2
h, w = power.shape
print(f"residual rms {grey.std():.1f} true detail rms {(image - base).mean(2).std():.1f} "
      f"colour rms {(real - base - grey[..., None]).std():.1f}")
peaks = []
for period in (2, 4, 8, 16):
    fy, fx = h // period, w // period
    peak = max(power[fy, 0], power[0, fx], power[fy, fx])
    peaks.append(f"period {period}: {peak / np.median(power[max(fy - 5, 0):fy + 6, max(fx - 5, 0):fx + 6]):.0f}")
print(" ".join(peaks))
