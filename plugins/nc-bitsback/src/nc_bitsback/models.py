"""Latent-variable models for bits-back coding: VAEs with a Markov chain of Gaussian latents.

``x <- z_1 <- z_2 <- ... <- z_L`` with ``p(z_L) = N(0, 1)``, Gaussian conditionals
``p(z_l | z_l+1)`` and posteriors ``q(z_1 | x)``, ``q(z_l+1 | z_l)`` (the Markov structure
Bit-Swap needs). One latent layer is the plain VAE of BB-ANS. The likelihood ``p(x | z_1)``
is Bernoulli (binarised data) or a discretised logistic over 0..255 (8-bit data, the
PixelCNN++ form with the tails in the edge bins; for coding, mixed with a small uniform floor).

Training uses the float networks and the continuous -ELBO (reparameterised, one sample).
Coding uses the same networks in exact fixed point (:mod:`nc_core.exact`) and the discretised
latents of :mod:`nc_bitsback.buckets`, so encoder and decoder compute identical tables.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from torch import nn

from nc_core.coding import Categorical, bin_masses, closed_categorical
from nc_core.exact import ExactNet, from_fixed, to_fixed

LOG2 = math.log(2.0)
MIN_SCALE = 1e-3  # Gaussian scales are softplus(raw) + MIN_SCALE
LOG_SCALE_MIN = -4.0  # discretised logistic scales are at least exp(-4) grey levels
# Coded pixels are (1 - w) logistic + w uniform: no value costs more than ~20 bits, well inside
# the coder's 24-bit tables, so the -ELBO reported for coding is what the coder pays, outliers
# too. Training leaves the floor out: under it an outlier's gradient vanishes and the scales
# grow overconfident (8-bit MNIST coded 6 % worse when trained with it).
UNIFORM_WEIGHT = 2.0**-12
LIKELIHOODS = ("bernoulli", "logistic")


def _mlp(sizes: list[int]) -> ExactNet:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return ExactNet(*layers)


def _softplus64(raw: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, raw)


class MarkovVAE(nn.Module):
    """A VAE with ``latents`` Gaussian layers (sizes, bottom first) over ``dims`` data values
    of ``levels + 1`` possible integers each (``levels`` 1: binary, 255: 8-bit)."""

    def __init__(self, dims: int, levels: int, latents: list[int], hidden: int, likelihood: str):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}")
        if likelihood == "bernoulli" and levels != 1:
            raise ValueError("a bernoulli likelihood needs binary data (levels 1)")
        if not latents or min(latents) < 1:
            raise ValueError("latents must be a non-empty list of positive sizes")
        self.dims, self.levels, self.latents, self.likelihood = int(dims), int(levels), list(latents), likelihood
        sizes = [self.dims, *self.latents]
        # q(z_l | z_l-1): input size, then posterior mean and raw scale
        self.posteriors = nn.ModuleList(
            _mlp([a, hidden, hidden, 2 * b] if i == 0 else [a, hidden, 2 * b])
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        )
        out = self.dims * (1 if likelihood == "bernoulli" else 2)
        # p(x | z_1), then p(z_l | z_l+1) for l < L
        self.conditionals = nn.ModuleList(
            [_mlp([self.latents[0], hidden, hidden, out])]
            + [_mlp([b, hidden, 2 * a]) for a, b in zip(self.latents[:-1], self.latents[1:])]
        )

    # -- data scaling ------------------------------------------------------------------------
    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """Integer data -> the posterior network's input (``[-1/2, 1/2]``)."""
        return x.reshape(x.shape[0], -1).float() / self.levels - 0.5

    # -- training ---------------------------------------------------------------------------
    @staticmethod
    def _gaussian(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, s = raw.chunk(2, dim=-1)
        return mean, F.softplus(s) + MIN_SCALE

    @staticmethod
    def _log_normal(z, mean, scale) -> torch.Tensor:
        return (-0.5 * ((z - mean) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def negative_elbo_bits(self, x: torch.Tensor, coding: bool = False) -> torch.Tensor:
        """One-sample estimate of -ELBO in bits, per item (reparameterised, differentiable):
        of the coding model (pixel floor included) with ``coding``, else the training one."""
        recon, kls, _ = self.elbo_terms(x, coding)
        return recon + sum(kls)

    def elbo_terms(self, x: torch.Tensor, coding: bool = False):
        """The -ELBO's terms in bits per item, from one posterior sample: ``-log p(x | z_1)``,
        the per-layer ``log q(z_l | .) - log p(z_l | z_l+1)`` (bottom first), and the samples."""
        h = self.net_input(x)
        log_q, zs = [], []
        for net in self.posteriors:
            mean, scale = self._gaussian(net(h))
            z = mean + scale * torch.randn_like(mean)
            log_q.append(self._log_normal(z, mean, scale))
            zs.append(z)
            h = z
        log_p = [self._log_normal(zs[layer], *self._gaussian(self.conditionals[layer + 1](zs[layer + 1])))
                 for layer in range(len(zs) - 1)]
        log_p.append(self._log_normal(zs[-1], torch.zeros_like(zs[-1]), torch.ones_like(zs[-1])))
        log_px = self._log_likelihood(x.reshape(x.shape[0], -1), self.conditionals[0](zs[0]), coding)
        return -log_px / LOG2, [(q - p) / LOG2 for q, p in zip(log_q, log_p)], zs

    def _log_likelihood(self, x: torch.Tensor, out: torch.Tensor, coding: bool) -> torch.Tensor:
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x.float(), reduction="none").sum(-1)
        mean_raw, log_scale = out.chunk(2, dim=-1)
        mean, log_scale = (mean_raw + 0.5) * self.levels, torch.clamp(log_scale, min=LOG_SCALE_MIN)
        x = x.float()
        inv = torch.exp(-log_scale)
        upper, lower = (x - mean + 0.5) * inv, (x - mean - 0.5) * inv
        # PixelCNN++'s discretised logistic: edge bins take the tails
        log_first = -F.softplus(-upper)  # log sigmoid(upper), x = 0
        log_last = -F.softplus(lower)  # log (1 - sigmoid(lower)), x = levels
        mid = torch.sigmoid(upper) - torch.sigmoid(lower)
        # log of the density at the bin centre times the bin width, where the difference underflows
        log_pdf = (x - mean) * inv - log_scale - 2 * F.softplus((x - mean) * inv)
        log_mid = torch.where(mid > 1e-5, torch.log(mid.clamp(min=1e-12)), log_pdf)
        log_mass = torch.where(x <= 0, log_first, torch.where(x >= self.levels, log_last, log_mid))
        if not coding:
            return log_mass.sum(-1)
        log_mass = torch.logaddexp(
            log_mass + math.log1p(-UNIFORM_WEIGHT), torch.tensor(math.log(UNIFORM_WEIGHT / (self.levels + 1)))
        )
        return log_mass.sum(-1)

    # -- coding (exact, numpy float64) ---------------------------------------------------------
    def posterior_params(self, layer: int, h_fixed: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Mean and scale of ``q(z_layer+1 | .)`` for one item, from fixed-point input."""
        return self._params(self.posteriors[layer].exact(h_fixed))

    def conditional_params(self, layer: int, z_fixed: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Mean and scale of ``p(z_layer | z_layer+1)`` (``layer >= 1``) for one item."""
        return self._params(self.conditionals[layer].exact(z_fixed))

    @staticmethod
    def _params(out_fixed: torch.Tensor):
        out = from_fixed(out_fixed).numpy().reshape(-1)
        mean, raw = np.split(out, 2)
        return mean, _softplus64(raw) + MIN_SCALE

    def likelihood_distribution(self, z1_fixed: torch.Tensor) -> Categorical:
        """``p(x | z_1)`` for one item: a closed categorical row per data value."""
        out = from_fixed(self.conditionals[0].exact(z1_fixed)).numpy().reshape(-1)
        if self.likelihood == "bernoulli":
            rows = np.stack([expit(-out), expit(out)], axis=1)
            return closed_categorical(rows)
        mean_raw, log_scale = np.split(out, 2)
        mean = (mean_raw + 0.5) * self.levels
        inv = np.exp(-np.maximum(log_scale, LOG_SCALE_MIN))
        edges = np.concatenate([[-np.inf], np.arange(self.levels, dtype=np.float64) + 0.5, [np.inf]])
        masses = bin_masses((edges[None, :] - mean[:, None]) * inv[:, None], expit)
        return closed_categorical((1.0 - UNIFORM_WEIGHT) * masses + UNIFORM_WEIGHT / (self.levels + 1))

    def fixed_input(self, x: np.ndarray) -> torch.Tensor:
        """One item's data as the posterior network's fixed-point input."""
        return to_fixed(self.net_input(torch.from_numpy(np.asarray(x)).reshape(1, -1)))
