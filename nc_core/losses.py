"""Helpers for training objectives (public API, see docs/plugin-guide.md)."""

from __future__ import annotations

import torch

__all__ = ["rate_bits"]


def rate_bits(likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
    """Total ideal code length ``-sum log2 p`` of all latents, in bits."""
    return sum(-torch.log2(p).sum() for p in likelihoods.values())
