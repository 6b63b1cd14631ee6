"""The adversarial parts of a generative codec: a conditional PatchGAN discriminator and the
three adversarial objectives a pipeline can choose.

The discriminator follows HiFiC (Mentzer et al. 2020): it sees the image and the quantized
latent ``y_hat`` the decoder saw, so it judges whether a reconstruction is plausible *for that
bitstream*, not only plausible. ``y_hat`` goes through a 3x3 convolution to a few context
channels, is upsampled (nearest) to the image size and concatenated with it; 4x4 convolutions
(stride 2, spectral normalisation, leaky ReLU 0.2) follow, the last width as a 3x3 of stride 1,
and a 1x1 convolution gives one logit per patch.

Objectives, on the discriminator's logits ``d_real = D(x)`` and ``d_fake = D(x_hat)``, each the
mean over patches (the survey's eq. 37 is the least-squares pair):

================  =======================================  ===========================
``loss:``         discriminator                            generator
================  =======================================  ===========================
non-saturating    -log s(d_real) - log(1 - s(d_fake))      -log s(d_fake)
least-squares     ((d_real - 1)^2 + d_fake^2) / 2          (d_fake - 1)^2 / 2
hinge             relu(1 - d_real) + relu(1 + d_fake)      -d_fake
================  =======================================  ===========================

(``s`` the logistic sigmoid; the logs are computed as softplus, stable for any logit.)
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _ns_d(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _ns_g(d_fake):
    return F.softplus(-d_fake).mean()


def _ls_d(d_real, d_fake):
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()


def _ls_g(d_fake):
    return 0.5 * ((d_fake - 1) ** 2).mean()


def _hinge_d(d_real, d_fake):
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def _hinge_g(d_fake):
    return -d_fake.mean()


#: ``loss:`` name -> (discriminator objective, generator objective)
OBJECTIVES: dict[str, tuple[Objective, Callable[[torch.Tensor], torch.Tensor]]] = {
    "non-saturating": (_ns_d, _ns_g),
    "least-squares": (_ls_d, _ls_g),
    "hinge": (_hinge_d, _hinge_g),
}


def objectives(name: str):
    """``(discriminator_loss(d_real, d_fake), generator_loss(d_fake))`` of an objective."""
    if name not in OBJECTIVES:
        raise ValueError(f"adversarial loss must be one of {', '.join(OBJECTIVES)}, not {name!r}")
    return OBJECTIVES[name]


class ConditionalPatchDiscriminator(nn.Module):
    """One logit per patch of ``x``, conditioned on the quantized latent ``y_hat``."""

    def __init__(self, latent_channels: int, widths: tuple[int, ...] = (64, 128, 256, 512), context: int = 12,
                 normalise: bool = True):
        super().__init__()
        if latent_channels < 1 or context < 1 or not widths or min(widths) < 1:
            raise ValueError("latent_channels, context and every width must be positive")
        sn = spectral_norm if normalise else (lambda m: m)  # noqa: E731
        self.context = sn(nn.Conv2d(latent_channels, context, 3, padding=1))
        layers: list[nn.Module] = []
        cin = 3 + context
        for i, width in enumerate(widths):
            last = i == len(widths) - 1  # keeps the patch grid: 3x3, stride 1
            conv = nn.Conv2d(cin, width, 3, padding=1) if last else nn.Conv2d(cin, width, 4, stride=2, padding=1)
            layers += [sn(conv), nn.LeakyReLU(0.2)]
            cin = width
        layers.append(sn(nn.Conv2d(cin, 1, 1)))
        self.net = nn.Sequential(*layers)

    def features(self, x: torch.Tensor, y_hat: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden layer's activations, then the logits ``N x 1 x h x w``, of images ``x``
        (``N x 3 x H x W``) given ``y_hat`` (feature matching compares the hidden ones)."""
        c = F.leaky_relu(self.context(y_hat), 0.2)
        h = torch.cat([x, F.interpolate(c, size=x.shape[-2:], mode="nearest")], dim=1)
        out = []
        for layer in self.net:
            h = layer(h)
            if not isinstance(layer, nn.Conv2d):
                out.append(h)
        return out + [h]

    def forward(self, x: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        """Logits ``N x 1 x h x w`` of images ``x`` (``N x 3 x H x W``) given ``y_hat``."""
        return self.features(x, y_hat)[-1]
