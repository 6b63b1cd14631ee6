"""The realism branch: a generator conditioned on the realism level ``beta`` that adds detail
to the distortion-optimised reconstruction.

``x_hat(beta) = x_base + beta * G(y_hat, noise, x_base, beta)``, where ``x_base`` is the
synthesis transform's output (stage 1). Realism 0 is therefore exactly the distortion-optimised
reconstruction, for any weights of ``G``; the conditioning (FiLM: a per-channel scale and
shift of every block, computed from ``beta``) lets the branch learn a different texture, not
only a different amplitude, at each level, as in Agustsson et al. 2023 ("Multi-realism image
compression with a conditional generator"). ``noise`` is the decoder noise input ``Z`` of
Agustsson et al. 2019, drawn at the latent's resolution; the codec seeds it from the file.

From ``y_hat`` (stride 16) the branch upsamples four times (nearest, then a 3x3 convolution:
no checkerboard), meets features of ``x_base`` at full resolution and ends in a 3x3 convolution
initialised to zero, so an untrained branch adds nothing.

``texture_noise``: StyleGAN's noise inputs (Karras et al. 2019): after each upsampling
convolution, one map of normal noise at that resolution, scaled per channel by a learned
strength (initially zero), is added. Fine stochastic detail (foliage, grain) then costs the
branch no capacity: ``Z`` alone, at the latent's resolution, must be turned into pixel-scale
texture by the convolutions. The codec draws these maps from the file's seed too.

``detail_scale``: the residual loses its content below that scale (minus its Gaussian blur of
that standard deviation, in pixels; 0 keeps all of it). Colour and shading, which the
bitstream fixes well, then stay the base synthesis's at every realism; the branch can only add
texture and edges, which is where a distortion-optimised reconstruction falls short.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Film(nn.Module):
    """``h * (1 + scale(beta)) + shift(beta)``, per channel."""

    def __init__(self, embed: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(embed, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.proj(e)[:, :, None, None].chunk(2, dim=1)
        return h * (1 + scale) + shift


class RealismBranch(nn.Module):
    """``G(y_hat, noise, x_base, beta)``: an ``N x 3 x H x W`` residual (``H, W`` those of
    ``x_base``, at most ``stride`` times the latent's size)."""

    def __init__(self, latent_channels: int, noise_channels: int = 4, widths: tuple[int, ...] = (96, 64, 32, 16),
                 embed: int = 64, texture_noise: bool = False, detail_scale: float = 0.0):
        super().__init__()
        if latent_channels < 1 or noise_channels < 0 or not widths or min(widths) < 1:
            raise ValueError("latent_channels and every width must be positive, noise_channels >= 0")
        if not 0 <= detail_scale <= 64:
            raise ValueError(f"detail_scale must be in [0, 64] pixels, not {detail_scale}")
        self.detail_scale = float(detail_scale)
        self.noise_channels = int(noise_channels)
        self.strengths = nn.ParameterList([nn.Parameter(torch.zeros(1, w, 1, 1)) for w in widths]) \
            if texture_noise else None
        self.stride = 2 ** len(widths)
        self.embed = nn.Sequential(nn.Linear(1, embed), nn.SiLU(), nn.Linear(embed, embed), nn.SiLU())
        self.inp = nn.Conv2d(latent_channels + noise_channels, widths[0], 3, padding=1)
        self.ups = nn.ModuleList()
        self.films = nn.ModuleList()
        cin = widths[0]
        for width in widths:
            self.ups.append(nn.Conv2d(cin, width, 3, padding=1))
            self.films.append(_Film(embed, width))
            cin = width
        last = widths[-1]
        self.image = nn.Conv2d(3, last, 3, padding=1)
        self.fuse = nn.Sequential(nn.Conv2d(2 * last, last, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(last, last, 3, padding=1), nn.LeakyReLU(0.2))
        self.fuse_film = _Film(embed, last)
        self.out = nn.Conv2d(last, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def texture_noise_shapes(self, y_hat_shape) -> list[tuple[int, ...]]:
        """The shapes of the noise maps :meth:`forward` takes as ``texture`` (none without
        ``texture_noise``), for a latent of shape ``N x M x h x w``."""
        if self.strengths is None:
            return []
        n, _, h, w = y_hat_shape
        return [(n, 1, h * 2 ** (i + 1), w * 2 ** (i + 1)) for i in range(len(self.ups))]

    def forward(self, y_hat: torch.Tensor, noise: torch.Tensor, x_base: torch.Tensor,
                beta: torch.Tensor, texture: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``beta``: ``N`` realism levels in [0, 1]; ``texture``: the noise maps of
        :meth:`texture_noise_shapes` (drawn afresh when omitted)."""
        if self.strengths is not None and texture is None:
            texture = [torch.randn(s, device=y_hat.device, dtype=y_hat.dtype)
                       for s in self.texture_noise_shapes(y_hat.shape)]
        e = self.embed(beta.reshape(-1, 1).to(y_hat.dtype))
        h = F.leaky_relu(self.inp(torch.cat([y_hat, noise], dim=1)), 0.2)
        for i, (up, film) in enumerate(zip(self.ups, self.films)):
            h = up(F.interpolate(h, scale_factor=2, mode="nearest"))
            if self.strengths is not None:
                h = h + self.strengths[i] * texture[i]
            h = F.leaky_relu(film(h, e), 0.2)
        h = h[..., : x_base.shape[-2], : x_base.shape[-1]]
        h = torch.cat([h, F.leaky_relu(self.image(x_base * 2 - 1), 0.2)], dim=1)
        residual = self.out(self.fuse_film(self.fuse(h), e))
        return residual - gaussian_blur(residual, self.detail_scale) if self.detail_scale else residual


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``N x C x H x W`` images (radius ``ceil(3 sigma)``, edges
    replicated, so any image size works)."""
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
