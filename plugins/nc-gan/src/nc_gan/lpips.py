"""LPIPS (Zhang et al. 2018), learned perceptual image patch similarity, offline.

The network is an ImageNet backbone (AlexNet or VGG-16 ``features``, in torchvision's layout)
and one linear head per tapped layer (the ``lpips`` package's ``v0.1`` weights). nc defines
both networks itself and loads their weights from files the user gives; nothing is ever
downloaded. The two files:

* the backbone: torchvision's ``alexnet-owt-7be5be79.pth`` or ``vgg16-397923af.pth`` (any state
  dict with the ``features.N.weight`` keys of that layout);
* the heads: ``alex.pth`` or ``vgg.pth`` from the ``lpips`` wheel (``lpips/weights/v0.1/``),
  keys ``linK.model.1.weight``.

Name them in the pipeline (``{use: lpips, net: alex, backbone: PATH, heads: PATH}``) or with
``NC_LPIPS_ALEX_BACKBONE`` / ``NC_LPIPS_ALEX_HEADS`` (``VGG`` for ``net: vgg``).

LPIPS(x, y) = sum over tapped layers l of the spatial mean of ``w_l . (f_l(x) - f_l(y))**2``,
features unit-normalised over channels, inputs scaled to [-1, 1] and then shifted and scaled
per channel as the reference implementation does. Lower is more similar.
"""

from __future__ import annotations

import torch
from torch import nn

from nc_gan.weights import weights_file

#: torchvision ``features`` layers: (out channels, kernel, stride, padding) per conv, "M" a max-pool
ALEX = [(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)]
VGG = [(64,), (64,), "M", (128,), (128,), "M", (256,), (256,), (256,), "M", (512,), (512,), (512,), "M",
       (512,), (512,), (512,)]
#: where LPIPS taps each backbone (the end index of each slice of ``features``)
TAPS = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30)}
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}  # at each tap
FILES = {"alex": ("alexnet-owt-7be5be79.pth", "alex.pth"), "vgg": ("vgg16-397923af.pth", "vgg.pth")}
SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


def backbone(net: str) -> nn.Sequential:
    """torchvision's ``alexnet().features`` / ``vgg16().features`` layout, up to the last tap."""
    layers: list[nn.Module] = []
    cin = 3
    for spec in ALEX if net == "alex" else VGG:
        if spec == "M":
            layers.append(nn.MaxPool2d(3, 2) if net == "alex" else nn.MaxPool2d(2, 2))
            continue
        cout, kernel, stride, padding = spec if net == "alex" else (spec[0], 3, 1, 1)
        layers += [nn.Conv2d(cin, cout, kernel, stride, padding), nn.ReLU()]
        cin = cout
    return nn.Sequential(*layers[: TAPS[net][-1]])


def loaded_backbone(net: str, state: dict, who: str) -> nn.Sequential:
    """:func:`backbone` with the ``features.N`` weights of a torchvision state dict."""
    features = backbone(net)
    own = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    wanted = set(features.state_dict())
    if not wanted <= set(own):
        raise ValueError(f"the {who} backbone weights lack features.{sorted(wanted - set(own))[0]} "
                         f"(torchvision's {'alexnet' if net == 'alex' else 'vgg16'} layout)")
    features.load_state_dict({k: own[k] for k in wanted})
    return features


class LPIPSNet(nn.Module):
    """The LPIPS network: backbone, taps and heads (weights loaded, frozen, eval mode)."""

    def __init__(self, net: str, backbone_state: dict, heads_state: dict):
        super().__init__()
        if net not in TAPS:
            raise ValueError(f"net must be alex or vgg, not {net!r}")
        self.net = net
        layers = list(loaded_backbone(net, backbone_state, net))
        ends = TAPS[net]
        self.slices = nn.ModuleList(nn.Sequential(*layers[start:end]) for start, end in zip((0, *ends), ends))
        self.heads = nn.ParameterList()
        for i, channels in enumerate(CHANNELS[net]):
            key = f"lin{i}.model.1.weight"
            if key not in heads_state or tuple(heads_state[key].shape) != (1, channels, 1, 1):
                raise ValueError(f"the {net} heads weights lack {key} of shape (1, {channels}, 1, 1)")
            self.heads.append(nn.Parameter(heads_state[key].float(), requires_grad=False))
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS per image of two ``N x 3 x H x W`` batches in [0, 1] (differentiable)."""
        fx, fy = self._taps(x), self._taps(y)
        total = 0
        for a, b, w in zip(fx, fy, self.heads):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + ((a - b) ** 2 * w.view(1, -1, 1, 1)).sum(dim=1).mean(dim=(1, 2))
        return total

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = ((2 * x - 1) - SHIFT.to(x)) / SCALE.to(x)
        out = []
        for piece in self.slices:
            h = piece(h)
            out.append(h)
        return out


def load(net: str = "alex", backbone_path: str | None = None, heads_path: str | None = None) -> LPIPSNet:
    if net not in TAPS:
        raise ValueError(f"net must be alex or vgg, not {net!r}")
    backbone_name, heads_name = FILES[net]
    b = weights_file(f"lpips ({net})", "backbone", backbone_path, f"NC_LPIPS_{net.upper()}_BACKBONE",
                     f"{backbone_name} (torchvision's ImageNet weights)")
    h = weights_file(f"lpips ({net})", "heads", heads_path, f"NC_LPIPS_{net.upper()}_HEADS",
                     f"{heads_name} (the lpips wheel's weights/v0.1/)")
    return LPIPSNet(net, b, h)

