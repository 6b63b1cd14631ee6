"""DISTS (Ding, Ma, Wang and Simoncelli 2020): deep image structure and texture similarity,
offline.

A VGG-16 whose max-pools are replaced by L2 pooling (a 3x3 Hann window, stride 2) gives six
representations of each image (the normalised input and five stages). Per channel, a
*texture* term compares the spatial means and a *structure* term the correlation of the two
images' feature maps; learned non-negative weights ``alpha`` (texture) and ``beta``
(structure), normalised to sum to one, combine them. DISTS = 1 - that similarity: 0 for
identical images, lower is better. It tolerates resampled texture, which is why it suits
generative codecs.

Weights: the backbone as torchvision saves it (``vgg16-397923af.pth``, the same file as
``lpips`` with ``net: vgg``) and ``weights.pt`` from the ``DISTS_pytorch`` package (keys
``alpha`` and ``beta``, each ``1 x 1475 x 1 x 1``), named in the pipeline
(``{use: dists, backbone: PATH, weights: PATH}``) or with ``NC_DISTS_BACKBONE`` and
``NC_DISTS_WEIGHTS``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nc_gan.lpips import loaded_backbone
from nc_gan.weights import weights_file

CHANNELS = (3, 64, 128, 256, 512, 512)  # the input, then each stage
STAGES = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))  # slices of VGG-16 `features`; the gaps are its max-pools
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
C1 = C2 = 1e-6


class L2Pool(nn.Module):
    """``sqrt(hann * x**2)`` per channel, stride 2: pooling without aliasing."""

    def __init__(self, channels: int):
        super().__init__()
        a = torch.from_numpy(np.hanning(5)[1:-1]).float()
        g = a[:, None] * a[None, :]
        self.register_buffer("filter", (g / g.sum()).expand(channels, 1, 3, 3).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(F.conv2d(x * x, self.filter, stride=2, padding=1, groups=x.shape[1]) + 1e-12)


class DISTSNet(nn.Module):
    def __init__(self, backbone_state: dict, weights_state: dict):
        super().__init__()
        layers = list(loaded_backbone("vgg", backbone_state, "DISTS"))
        self.stages = nn.ModuleList()
        for i, (start, end) in enumerate(STAGES):
            pool = [L2Pool(CHANNELS[i])] if i > 0 else []
            self.stages.append(nn.Sequential(*pool, *layers[start:end]))
        total = sum(CHANNELS)
        for key in ("alpha", "beta"):
            if key not in weights_state or weights_state[key].numel() != total:
                raise ValueError(f"the DISTS weights lack {key} with {total} values (DISTS_pytorch's weights.pt)")
        self.register_buffer("alpha", weights_state["alpha"].reshape(-1).float())
        self.register_buffer("beta", weights_state["beta"].reshape(-1).float())
        self.requires_grad_(False).eval()

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - MEAN.to(x)) / STD.to(x)
        out = [x]
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """DISTS per image of two ``N x 3 x H x W`` batches in [0, 1] (differentiable)."""
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, CHANNELS)
        betas = torch.split(self.beta / w_sum, CHANNELS)
        texture = structure = 0
        for fx, fy, a, b in zip(self._features(x), self._features(y), alphas, betas):
            mx, my = fx.mean(dim=(2, 3)), fy.mean(dim=(2, 3))
            texture = texture + (a * (2 * mx * my + C1) / (mx**2 + my**2 + C1)).sum(dim=1)
            vx = ((fx - mx[..., None, None]) ** 2).mean(dim=(2, 3))
            vy = ((fy - my[..., None, None]) ** 2).mean(dim=(2, 3))
            cov = (fx * fy).mean(dim=(2, 3)) - mx * my
            structure = structure + (b * (2 * cov + C2) / (vx + vy + C2)).sum(dim=1)
        return 1 - (texture + structure)


def load(backbone_path: str | None = None, weights_path: str | None = None) -> DISTSNet:
    b = weights_file("dists", "backbone", backbone_path, "NC_DISTS_BACKBONE",
                     "vgg16-397923af.pth (torchvision's ImageNet weights)")
    w = weights_file("dists", "weights", weights_path, "NC_DISTS_WEIGHTS", "weights.pt (the DISTS_pytorch package's)")
    return DISTSNet(b, w)
