"""The analysis/synthesis pair of the factorized-prior image codec (Ballé et al. 2017,
with the 5x5 stride-2 layout of Ballé et al. 2018 / CompressAI's ``bmshj2018-factorized``)."""

from __future__ import annotations

import torch
from torch import nn

from nc_core import exact, layers
from nc_core._deprecation import moved
from nc_core.contracts import Transform


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


class FactorizedTransform(Transform):
    """Four 5x5 stride-2 convolutions with GDN (analysis) and their transposes with IGDN
    (synthesis): ``channels`` hidden channels, ``latent`` latent channels, stride 16."""

    name = "factorized"
    stride = 16

    def __init__(self, channels: int = 128, latent: int = 192):
        super().__init__()
        if channels < 1 or latent < 1:
            raise ValueError("channels and latent must be positive")
        n, m = channels, latent
        self.latent_channels = m
        self.g_a = nn.Sequential(
            _conv(3, n), layers.GDN(n), _conv(n, n), layers.GDN(n), _conv(n, n), layers.GDN(n), _conv(n, m)
        )
        self.g_s = nn.Sequential(
            _deconv(m, n), layers.GDN(n, inverse=True), _deconv(n, n), layers.GDN(n, inverse=True),
            _deconv(n, n), layers.GDN(n, inverse=True), _deconv(n, 3),
        )

    def analysis(self, x):
        return self.g_a(x)

    def synthesis(self, y_hat):
        return self.g_s(y_hat)

    @torch.no_grad()
    def exact_synthesis(self, y_hat):
        """``g_s`` in exact fixed point: transposed convolutions and IGDN on integers."""
        return exact.from_fixed(exact.run_layers(exact.program_of(self.g_s), exact.to_fixed(y_hat).cpu()))


TRANSFORMS = [FactorizedTransform]

__getattr__ = moved(__name__, {name: "nc_core.layers" for name in ("GDN", "LowerBound", "lower_bound")})
