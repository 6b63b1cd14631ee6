"""Fixtures for the nc-hyperprior tests: small untrained codecs of every variant."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[3]


def kodak_dir() -> Path | None:
    for candidate in (os.environ.get("NC_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate, "kodak").is_dir():
            return Path(candidate, "kodak")
    return None


def make_codec(model: str, coder: str = "ans", channels: int = 16, latent: int = 24, seed: int = 0,
               gain: float = 8.0):
    """An untrained codec with frozen tables. ``gain`` scales the analysis output so the
    latents span many symbols (an untrained transform gives values near zero)."""
    from nc_hyperprior.codec import HyperpriorCodec

    from nc_core.components.quantizers import Mixed
    from nc_core.components.transforms import FactorizedTransform
    from nc_core.plugins import get_registry

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


MODELS = ["scale-hyperprior", "mean-scale-hyperprior", "joint-autoregressive", "channel-autoregressive"]


@pytest.fixture(params=MODELS)
def model_name(request) -> str:
    return request.param
