"""The gradient of a PatchGAN's mean logit with respect to a random 128x128 image, as the
generator receives it: its spectral peaks at periods 2, 4 and 8 px (multiples of the median
power), for HiFiC's strided 4x4 halvings and for anti-aliased ones (3x3 convolution, then a
[1, 3, 3, 1] blur and every second pixel), three random initialisations each.

    python gradient_period.py
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class BlurHalve(nn.Module):
    def __init__(self, channels):
        super().__init__()
        k = torch.tensor([1.0, 3.0, 3.0, 1.0])
        self.register_buffer("k", (k[:, None] * k[None] / 64).expand(channels, 1, 4, 4).clone())

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 2, 1, 2), mode="reflect"), self.k, stride=2, groups=x.shape[1])


def discriminator(kind, widths=(32, 64, 128, 256)):
    layers, cin = [], 3
    for i, w in enumerate(widths):
        if i == len(widths) - 1:
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.LeakyReLU(0.2)]
        elif kind == "anti-aliased":
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.LeakyReLU(0.2), BlurHalve(w)]
        else:
            layers += [nn.Conv2d(cin, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        cin = w
    return nn.Sequential(*layers, nn.Conv2d(cin, 1, 1))


def peaks(grad):
    g = grad.mean(1)[0].numpy()
    power = np.abs(np.fft.fft2(g - g.mean())) ** 2
    h, w = power.shape
    return " ".join(f"period {p}: {max(power[h // p, 0], power[0, w // p], power[h // p, w // p]) / np.median(power):.0f}"
                    for p in (2, 4, 8))


torch.manual_seed(100)
x = torch.rand(1, 3, 128, 128, requires_grad=True)
for kind in ("strided", "anti-aliased"):
    for seed in range(3):
        torch.manual_seed(seed)
        (grad,) = torch.autograd.grad(discriminator(kind)(x).mean(), x)
        print(f"{kind:13s} seed {seed}: {peaks(grad)}")
