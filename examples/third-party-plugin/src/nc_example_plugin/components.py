"""The plugin's components. Constructor keyword arguments are the YAML keys users may set;
their type annotations are what nc validates before a pipeline runs."""

from __future__ import annotations

import math

import numpy as np
import torch

from nc_core.contracts import Metric, Quantizer


def soft_round(y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Differentiable approximation of rounding; sharper as ``alpha`` grows."""
    m = torch.floor(y) + 0.5
    return m + 0.5 * torch.tanh(alpha * (y - m)) / math.tanh(alpha / 2)


class SoftRound(Quantizer):
    """Soft rounding plus uniform noise for the rate term, soft rounding for the distortion
    term, hard rounding at test time."""

    name = "soft-round"

    def __init__(self, alpha: float = 4.0):
        if not alpha > 0:
            raise ValueError("alpha must be positive")
        self.alpha = alpha

    def for_rate(self, y):
        return soft_round(y, self.alpha) + torch.empty_like(y).uniform_(-0.5, 0.5)

    def for_distortion(self, y):
        return soft_round(y, self.alpha)

    def quantize(self, y, offset=None, seed=0):
        return torch.round(y if offset is None else y - offset).to(torch.int64)

    def dequantize(self, symbols, offset=None, seed=0):
        y = symbols.to(torch.float32)
        return y if offset is None else y + offset


class LumaPSNR(Metric):
    """PSNR of the BT.601 luma (Y) channel, in dB (capped at 100 for identical images)."""

    name = "psnr-y"
    results_key = "psnr-y"
    higher_is_better = True
    unit = "dB"

    @staticmethod
    def _luma(image: np.ndarray) -> np.ndarray:
        return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])

    def compute(self, original, reconstruction, num_bits):
        mse = float(np.mean((self._luma(original) - self._luma(reconstruction)) ** 2))
        return 100.0 if mse == 0 else min(100.0, 10 * math.log10(255.0**2 / mse))
