"""Quantizers: a training surrogate for rounding plus the test-time map to integer symbols.

=========  ==========================  ============================  =====================
name       rate term (training)        distortion term (training)    test time
=========  ==========================  ============================  =====================
noise      y + U(-1/2, 1/2)            y + U(-1/2, 1/2)              round
ste        round, straight-through     round, straight-through       round
mixed      y + U(-1/2, 1/2)            round, straight-through       round
round      round (no gradient)         round (no gradient)           round
dithered   y + U(-1/2, 1/2)            y + U(-1/2, 1/2)              round(y + u) - u,
                                                                     u shared via seed
=========  ==========================  ============================  =====================

``mixed`` is the usual default (Minnen & Singh 2020): the prior learns the density of the
noisy latent while the decoder sees exactly what it will see at test time. ``dithered`` makes
test-time quantization error match the training noise (universal quantization); the dither is
drawn from ``torch.Generator`` seeded with the seed stored in the container, so the decoder
regenerates it exactly.
"""

from __future__ import annotations

import torch

from nc_core.contracts import Quantizer


def _noise(y: torch.Tensor) -> torch.Tensor:
    return y + torch.empty_like(y).uniform_(-0.5, 0.5)


def _ste_round(y: torch.Tensor) -> torch.Tensor:
    return y + (torch.round(y) - y).detach()


class _RoundAtTest(Quantizer):
    """Deterministic rounding at test time, around an optional offset (e.g. a mean)."""

    def quantize(self, y, offset=None, seed=0):
        centred = y if offset is None else y - offset
        return torch.round(centred).to(torch.int64)

    def dequantize(self, symbols, offset=None, seed=0):
        y = symbols.to(torch.float32)
        return y if offset is None else y + offset


class AdditiveNoise(_RoundAtTest):
    """Additive uniform noise for both training terms (Ballé et al. 2017)."""

    name = "noise"

    def for_rate(self, y):
        return _noise(y)

    def for_distortion(self, y):
        return _noise(y)


class StraightThrough(_RoundAtTest):
    """Rounding with the straight-through gradient estimator for both terms."""

    name = "ste"

    def for_rate(self, y):
        return _ste_round(y)

    def for_distortion(self, y):
        return _ste_round(y)


class Mixed(_RoundAtTest):
    """Noise for the rate term, straight-through rounding for the distortion term."""

    name = "mixed"

    def for_rate(self, y):
        return _noise(y)

    def for_distortion(self, y):
        return _ste_round(y)


class Rounding(_RoundAtTest):
    """Hard rounding everywhere, no gradient through the latent: for fine-tuning the
    synthesis transform and the prior on real quantized latents."""

    name = "round"

    def for_rate(self, y):
        return torch.round(y).detach()

    def for_distortion(self, y):
        return torch.round(y).detach()


class Dithered(Quantizer):
    """Subtractive dithered quantization with a dither shared through a seed."""

    name = "dithered"

    def for_rate(self, y):
        return _noise(y)

    def for_distortion(self, y):
        return _noise(y)

    @staticmethod
    def _dither(shape, seed: int) -> torch.Tensor:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        return torch.rand(tuple(shape), generator=gen, dtype=torch.float32) - 0.5

    def quantize(self, y, offset=None, seed=0):
        u = self._dither(y.shape, seed).to(y.device)
        centred = y if offset is None else y - offset
        return torch.round(centred + u).to(torch.int64)

    def dequantize(self, symbols, offset=None, seed=0):
        u = self._dither(symbols.shape, seed).to(symbols.device)
        y = symbols.to(torch.float32) - u
        return y if offset is None else y + offset


QUANTIZERS = [AdditiveNoise, StraightThrough, Mixed, Rounding, Dithered]
