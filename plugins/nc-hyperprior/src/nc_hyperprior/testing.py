"""Small untrained codecs for tests and benchmarks (weights seeded, tables frozen)."""

from __future__ import annotations

import torch

MODELS = ["scale-hyperprior", "mean-scale-hyperprior", "joint-autoregressive", "channel-autoregressive"]


def make_codec(model: str, coder: str = "ans", channels: int = 16, latent: int = 24, seed: int = 0,
               gain: float = 8.0):
    """An untrained ``hyperprior`` codec with entropy model ``model``, ready to code. ``gain``
    scales the analysis output so the latents span many symbols (an untrained transform
    gives values near zero)."""
    from nc_core.components.quantizers import Mixed
    from nc_core.components.transforms import FactorizedTransform
    from nc_core.plugins import get_registry
    from nc_hyperprior.codec import HyperpriorCodec

    torch.manual_seed(seed)
    registry = get_registry()
    entropy = registry.get("probability-model", model)(hyper_channels=channels)
    codec = HyperpriorCodec(FactorizedTransform(channels, latent), entropy, Mixed(),
                            registry.get("coder", coder)())
    with torch.no_grad():
        codec.transform.g_a[-1].weight.mul_(gain)
        codec.transform.g_a[-1].bias.mul_(gain)
    codec.eval()
    codec.update()
    return codec
