"""Test-time latent refinement with stochastic Gumbel annealing (SGA, Yang et al. 2020).

The encoder is free to send any latents, not only what the analysis transform produces. SGA
optimises an image's ``y`` and ``z`` for the codec's own rate-distortion loss, replacing
rounding by a stochastic soft rounding whose temperature anneals to zero, so that the
optimised latents are good *after* rounding. Weights are untouched: a refined file decodes
with the plain model. The random draws come from a generator seeded with the codec's seed,
so refinement is reproducible.
"""

from __future__ import annotations

import math

import torch

from nc_core.contracts import Quantizer

TAU_START, TAU_END = 0.5, 0.05  # annealed exponentially over the steps
EPS = 1e-5


def sga_round(v: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """Soft rounding of ``v`` to ``floor(v)`` or ``ceil(v)``: a Gumbel-softmax sample over the
    two, with logits ``-atanh(distance) / tau`` (the nearer integer is likelier)."""
    lower = torch.floor(v)
    d = (v - lower).clamp(EPS, 1 - EPS)
    logits = torch.stack([-torch.atanh(d), -torch.atanh(1 - d)], dim=-1) / tau
    # drawn on the host (the generator's device), so a refined file is the same on any device
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).clamp(EPS, 1 - EPS).to(logits.device)
    gumbel = -torch.log(-torch.log(u))
    weights = torch.softmax((logits + gumbel) / tau, dim=-1)
    return lower + weights[..., 1]


class AnnealedRounding(Quantizer):
    """SGA as a training surrogate (both terms), delegating test-time coding to ``base``."""

    name = "sga"

    def __init__(self, base: Quantizer, generator: torch.Generator):
        self.base, self.generator, self.tau = base, generator, TAU_START

    def for_rate(self, y):
        return sga_round(y, self.tau, self.generator)

    for_distortion = for_rate

    def quantize(self, y, offset=None, seed=0):
        return self.base.quantize(y, offset, seed)

    def dequantize(self, symbols, offset=None, seed=0):
        return self.base.dequantize(symbols, offset, seed)


def refine_latents(codec, x: torch.Tensor, loss, steps: int, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SGA-optimised ``(y, z)`` for padded images ``x`` (the codec's weights stay frozen)."""
    params = [p for p in codec.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            y0 = codec.transform.analysis(x)
            y = y0.detach().clone().requires_grad_(True)
            z = codec.entropy.hyper_analysis(y0).detach().clone().requires_grad_(True)
            generator = torch.Generator().manual_seed(codec.seed)
            quantizer = AnnealedRounding(codec.quantizer, generator)
            optimizer = torch.optim.Adam([y, z], lr=lr)
            for step in range(steps):
                quantizer.tau = TAU_START * math.exp(math.log(TAU_END / TAU_START) * step / max(steps - 1, 1))
                y_syn, likelihoods = codec.entropy(y, quantizer, z=z)
                value, _ = loss(x, {"x_hat": codec.transform.synthesis(y_syn), "likelihoods": likelihoods}, codec)
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
    finally:
        for p in params:
            p.requires_grad_(True)
    return y.detach(), z.detach()
