"""Small untrained codecs for tests and benchmarks (weights seeded, tables frozen)."""

from __future__ import annotations

import torch

MODELS = ["scale-hyperprior", "mean-scale-hyperprior", "joint-autoregressive", "channel-autoregressive"]


def make_codec(model: str, coder: str = "ans", channels: int = 16, latent: int = 24, seed: int = 0,
               gain: float = 8.0):
    """An untrained ``hyperprior`` codec with entropy model ``model``, ready to code. ``gain``
    scales the analysis output so the latents span many symbols (an untrained transform
    gives values near zero)."""
    from nc_core.pipeline import build
    from nc_hyperprior.codec import HyperpriorCodec

    torch.manual_seed(seed)
    entropy = build({"use": model, "hyper_channels": channels}, "probability-model")
    transform = build({"use": "factorized", "channels": channels, "latent": latent}, "transform")
    codec = HyperpriorCodec(transform, entropy, build("mixed", "quantizer"), build(coder, "coder"))
    with torch.no_grad():
        codec.transform.g_a[-1].weight.mul_(gain)
        codec.transform.g_a[-1].bias.mul_(gain)
    codec.eval()
    codec.update()
    return codec
