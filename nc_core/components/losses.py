"""Training objectives."""

from __future__ import annotations

import math

from nc_core import losses
from nc_core._deprecation import moved
from nc_core.contracts import LearnedCodec, Loss, Metric


class RateDistortion(Loss):
    """The rate-distortion Lagrangian ``lmbda * scale * D + R`` with R in bits per pixel.

    ``scale`` is the distortion metric's ``loss_scale`` (255^2 for MSE, 1 for MS-SSIM), so
    ``lmbda`` values mean what they mean in CompressAI. Clips (``N x T x 3 x H x W``) are
    measured over all their frames: R in bits per pixel of every frame, D their mean.

    A variable-rate codec (one with a ladder) puts the λ of the rung it drew in its output
    (``output["lmbda"]``); that λ is used, and ``lmbda`` is then left out.
    """

    name = "rate-distortion"

    def __init__(self, distortion: Metric, lmbda: float | None = None):
        if lmbda is not None and not lmbda > 0:
            raise ValueError("lmbda must be positive")
        if type(distortion).distortion is Metric.distortion:
            raise ValueError(f"metric {distortion.name!r} is not a training distortion (use mse or ms-ssim)")
        self.lmbda, self.distortion = None if lmbda is None else float(lmbda), distortion
        self.scale = float(getattr(distortion, "loss_scale", 1.0))

    def __call__(self, x, output, codec: LearnedCodec):
        # a batch of clips (N x T x 3 x H x W, a video codec's) counts every frame's pixels
        # in float32 whatever precision the codec ran in (train.precision: bf16)
        x, x_hat = x.reshape(-1, *x.shape[-3:]).float(), output["x_hat"].reshape(-1, *x.shape[-3:]).float()
        n, _, h, w = x.shape
        bpp = losses.rate_bits(output["likelihoods"]) / (n * h * w)
        dist = self.distortion.distortion(x, x_hat)
        loss = self._lmbda(output, codec) * self.scale * dist + bpp
        logs = {"loss": loss.item(), "bpp": bpp.item(), self.distortion.name: dist.item()}
        if self.distortion.name == "mse":
            logs["psnr"] = -10 * math.log10(max(dist.item(), 1e-12))
        return loss, logs

    def _lmbda(self, output: dict, codec) -> float:
        drawn = output.get("lmbda")
        if (drawn is None) == (self.lmbda is None):
            raise ValueError(f"lmbda: codec {codec.name!r} trains a ladder, whose rungs set λ: leave lmbda out"
                             if drawn is not None else "lmbda is required (the codec has no ladder of λ)")
        return self.lmbda if drawn is None else drawn


class NegativeLogLikelihood(Loss):
    """The model's code length in bits per dimension, for lossless codecs: ``-ELBO`` for a
    latent-variable model, the exact negative log-likelihood for an autoregressive one
    (the codec's ``forward`` gives per-item bits)."""

    name = "negative-log-likelihood"

    def __call__(self, x, output, codec):
        bits_per_dim = output["bits"].sum() / x.numel()
        return bits_per_dim, {"loss": bits_per_dim.item(), "bits/dim": bits_per_dim.item()}


LOSSES = [RateDistortion, NegativeLogLikelihood]

__getattr__ = moved(__name__, {"rate_bits": "nc_core.losses"})
