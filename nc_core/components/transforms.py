"""GDN and the analysis/synthesis pair of the factorized-prior image codec (Ballé et al. 2017,
with the 5x5 stride-2 layout of Ballé et al. 2018 / CompressAI's ``bmshj2018-factorized``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nc_core.contracts import Transform


class LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still pulls values up from below the bound, so a
    parameter stuck under it can recover (plain clamp would zero its gradient)."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through, None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """``max(x, bound)`` with the gradient of :class:`LowerBound`."""
    return LowerBound.apply(x, bound)


class GDN(nn.Module):
    """Generalized divisive normalization: ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``
    (``inverse=True``: multiply instead, IGDN). ``beta`` and ``gamma`` are kept non-negative by
    the squared reparametrisation with a pedestal of Ballé et al. 2018."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.pedestal = 2.0**-36
        self.beta_bound = (beta_min + self.pedestal) ** 0.5
        self.gamma_bound = self.pedestal**0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self.pedestal))
        gamma = gamma_init * torch.eye(channels) + self.pedestal
        self.gamma = nn.Parameter(torch.sqrt(gamma))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = lower_bound(self.beta, self.beta_bound) ** 2 - self.pedestal
        gamma = lower_bound(self.gamma, self.gamma_bound) ** 2 - self.pedestal
        c = x.shape[1]
        norm = torch.sqrt(F.conv2d(x * x, gamma.view(c, c, 1, 1), beta))
        return x * norm if self.inverse else x / norm


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
            _conv(3, n), GDN(n), _conv(n, n), GDN(n), _conv(n, n), GDN(n), _conv(n, m)
        )
        self.g_s = nn.Sequential(
            _deconv(m, n), GDN(n, inverse=True), _deconv(n, n), GDN(n, inverse=True),
            _deconv(n, n), GDN(n, inverse=True), _deconv(n, 3),
        )

    def analysis(self, x):
        return self.g_a(x)

    def synthesis(self, y_hat):
        return self.g_s(y_hat)


TRANSFORMS = [FactorizedTransform]
