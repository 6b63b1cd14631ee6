"""The residual analysis/synthesis of Cheng et al. 2020 ("Learned image compression with
discretized Gaussian mixture likelihoods and attention modules"), the layout of CompressAI's
``cheng2020-anchor``: 3x3 residual blocks, GDN in the strided blocks, sub-pixel convolutions
(a 3x3 convolution and a pixel shuffle) for upsampling, stride 16, ``channels`` hidden = latent
channels. Module names follow CompressAI's, so its checkpoints load by renaming prefixes only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nc_core.contracts import Transform
from nc_core.layers import GDN


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def subpel_conv3x3(cin: int, cout: int, r: int) -> nn.Sequential:
    """A 3x3 convolution to ``cout * r**2`` channels, then a pixel shuffle by ``r``."""
    return nn.Sequential(nn.Conv2d(cin, cout * r**2, 3, padding=1), nn.PixelShuffle(r))


class ResidualBlockWithStride(nn.Module):
    """conv3x3 (strided), leaky ReLU, conv3x3, GDN; plus a strided 1x1 skip."""

    def __init__(self, cin: int, cout: int, stride: int = 2):
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.conv2 = _conv3x3(cout, cout)
        self.gdn = GDN(cout)
        self.skip = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = self.gdn(self.conv2(F.leaky_relu(self.conv1(x), 0.01)))
        return out + (self.skip(x) if self.skip is not None else x)


class ResidualBlockUpsample(nn.Module):
    """sub-pixel conv, leaky ReLU, conv3x3, inverse GDN; plus a sub-pixel skip."""

    def __init__(self, cin: int, cout: int, upsample: int = 2):
        super().__init__()
        self.subpel_conv = subpel_conv3x3(cin, cout, upsample)
        self.conv = _conv3x3(cout, cout)
        self.igdn = GDN(cout, inverse=True)
        self.upsample = subpel_conv3x3(cin, cout, upsample)

    def forward(self, x):
        out = self.igdn(self.conv(F.leaky_relu(self.subpel_conv(x), 0.01)))
        return out + self.upsample(x)


class ResidualBlock(nn.Module):
    """conv3x3, leaky ReLU, conv3x3, leaky ReLU; plus the identity (or a 1x1 skip)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = _conv3x3(cin, cout)
        self.conv2 = _conv3x3(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        out = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.01)), 0.01)
        return out + (self.skip(x) if self.skip is not None else x)


class ResidualTransform(Transform):
    """Cheng et al. 2020's anchor transforms (``cheng2020``): ``channels`` N for the hidden and
    the latent channels, stride 16."""

    name = "cheng2020"
    stride = 16

    def __init__(self, channels: int = 128):
        super().__init__()
        if channels < 1:
            raise ValueError("channels must be positive")
        n = self.latent_channels = int(channels)
        self.g_a = nn.Sequential(
            ResidualBlockWithStride(3, n), ResidualBlock(n, n), ResidualBlockWithStride(n, n), ResidualBlock(n, n),
            ResidualBlockWithStride(n, n), ResidualBlock(n, n), _conv3x3(n, n, stride=2),
        )
        self.g_s = nn.Sequential(
            ResidualBlock(n, n), ResidualBlockUpsample(n, n), ResidualBlock(n, n), ResidualBlockUpsample(n, n),
            ResidualBlock(n, n), ResidualBlockUpsample(n, n), ResidualBlock(n, n), subpel_conv3x3(n, 3, 2),
        )

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.g_s(y_hat)


TRANSFORMS = [ResidualTransform]
