"""How fast a fresh discriminator learns to tell a fixed generator's realism-1 output from
real photos (hinge loss every 50 steps; 2.0 is chance). Needs commit 28fbb5e for
``HIGH_PASS`` > 0 (the discriminator's ``high_pass`` option, removed after these probes).

    NC_DATA=../shared/data python dtest.py MODEL_DIR [HIGH_PASS] [LR]
"""
import os
import sys

import torch

from nc_core.models import load_model
from nc_core.pipeline import build
from nc_gan.adversarial import ConditionalPatchDiscriminator, objectives

torch.manual_seed(0)
model = load_model(sys.argv[1]).eval()
high_pass = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
lr = float(sys.argv[3]) if len(sys.argv) > 3 else 2e-4
photos = os.path.join(os.environ.get("NC_DATA", "../shared/data"), "photos")
batches = build({"use": "image-folder", "path": photos, "patch": 128, "batch": 8}, "dataset").batches(0)
extra = {"high_pass": high_pass} if high_pass else {}
disc = ConditionalPatchDiscriminator(model.transform.latent_channels, (32, 64, 128, 256), normalise=False, **extra)
opt = torch.optim.Adam(disc.parameters(), lr=lr)
d_loss, _ = objectives("hinge")
for step in range(301):
    x = next(batches)
    with torch.no_grad():
        out = model(x)
        fake = model.realistic(out, torch.ones(x.shape[0]))
    d_real, d_fake = disc(x, out["y_hat"]), disc(fake, out["y_hat"])
    loss = d_loss(d_real, d_fake)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"{step} d_loss {loss.item():.3f} real {d_real.mean().item():.2f} fake {d_fake.mean().item():.2f}", flush=True)
