"""The rate-distortion-perception objective of a generative codec (HiFiC's, with the realism
level of Agustsson et al. 2023):

    loss = R + lmbda * scale * D(x, x_hat_b) + perceptual_weight * P(x, x_hat_b)
           + weight * mean_i b_i * g(D(x_hat_b_i | y_hat_i))
           + feature_matching * mean_i b_i * FM_i


``x_hat_b`` the codec's reconstruction at realism ``b`` (one level per image, drawn with
density ``2b`` on [0, 1]: the levels where the adversarial term acts are drawn more often),
``g`` the generator side of the chosen adversarial objective, ``D`` the conditional PatchGAN
discriminator (:mod:`nc_gan.adversarial`), trained as a second player with its own learning
rate and step drop. With ``freeze`` (stage 2) only the realism branch trains: the analysis
transform, the entropy model and the base synthesis keep stage 1's weights, so the bitstream,
and the realism-0 image, are stage 1's exactly; the rate is then a constant, logged only.

``FM_i`` is pix2pixHD's feature matching (Wang et al. 2018): the mean absolute difference of the
discriminator's hidden activations on ``x_hat_b_i`` and on ``x_i``, averaged over its layers. It
is a perceptual distortion learned by the discriminator, so it needs no weights file, and it
steadies the adversarial game where the generator alone would find one pattern that fools
``D`` everywhere.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from nc_core import losses
from nc_core.contracts import LearnedCodec, Loss, Metric, Player
from nc_gan.adversarial import ConditionalPatchDiscriminator, objectives

_FAKE = "realistic"  # the step's reconstruction at realism b, shared by the two players


class RateDistortionPerception(Loss, nn.Module):
    """Stage 2 of a generative codec (``rate-distortion-perception``); see the module docstring."""

    name = "rate-distortion-perception"

    def __init__(self, lmbda: float, distortion: Metric, weight: float = 0.15,
                 adversarial: Literal["non-saturating", "least-squares", "hinge"] = "non-saturating",
                 perceptual: Metric | None = None, perceptual_weight: float = 1.0,
                 discriminator_lr: float = 1e-4, discriminator_lr_drop: tuple[float, float] = (1.0, 1.0),
                 discriminator_widths: tuple[int, ...] = (32, 64, 128, 256), spectral_norm: bool = True,
                 feature_matching: float = 0.0, freeze: bool = True):
        nn.Module.__init__(self)
        if not lmbda > 0 or not discriminator_lr > 0 or not min(weight, perceptual_weight, feature_matching) >= 0:
            raise ValueError("lmbda and discriminator_lr must be positive, weight, perceptual_weight and "
                             "feature_matching >= 0")
        for metric in (distortion, perceptual):
            if metric is not None and type(metric).distortion is Metric.distortion:
                raise ValueError(f"metric {metric.name!r} is not a training distortion")
        self.lmbda, self.weight, self.perceptual_weight = float(lmbda), float(weight), float(perceptual_weight)
        self.feature_matching = float(feature_matching)
        self.distortion, self.perceptual = distortion, perceptual
        self.scale = float(getattr(distortion, "loss_scale", 1.0))
        self.d_loss, self.g_loss = objectives(adversarial)
        self.d_lr, self.d_drop = float(discriminator_lr), tuple(discriminator_lr_drop)
        self.widths, self.spectral_norm, self.freeze = tuple(discriminator_widths), bool(spectral_norm), bool(freeze)
        self.discriminator: ConditionalPatchDiscriminator | None = None

    @staticmethod
    def _generator(codec: LearnedCodec) -> nn.Module:
        if not hasattr(codec, "realistic") or not hasattr(codec, "generator"):
            raise ValueError(f"loss rate-distortion-perception needs a generative codec, not {codec.name!r}")
        return codec.generator

    def model_parameters(self, codec: LearnedCodec) -> list:
        gen = self._generator(codec)
        return list(gen.parameters()) if self.freeze else list(codec.parameters())

    def players(self, codec: LearnedCodec) -> list[Player]:
        self._generator(codec)
        if self.discriminator is None:
            with torch.random.fork_rng(devices=[]):  # the same initial weights whatever ran before
                torch.manual_seed(0)
                disc = ConditionalPatchDiscriminator(codec.transform.latent_channels, self.widths,
                                                     normalise=self.spectral_norm)
            self.discriminator = disc.to(next(codec.parameters()).device)
        return [Player("discriminator", list(self.discriminator.parameters()), self._discriminator_step,
                       self.d_lr, self.d_drop)]

    def _fake(self, x: torch.Tensor, output: dict, codec: LearnedCodec) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_hat_b, b)`` of this step, computed once for both players."""
        if _FAKE not in output:
            beta = torch.rand(x.shape[0], device=x.device).sqrt()  # density 2b on [0, 1]
            base = {k: output[k].detach() for k in ("x_hat", "y_hat")} if self.freeze else output
            output[_FAKE] = (codec.realistic(base, beta), beta)
        return output[_FAKE]

    def _discriminator_step(self, x, output, codec):
        fake, _ = self._fake(x, output, codec)
        y_hat = output["y_hat"].detach()
        d_real, d_fake = self.discriminator(x, y_hat), self.discriminator(fake.detach(), y_hat)
        loss = self.d_loss(d_real, d_fake)
        return loss, {"d_loss": loss.item(), "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()}

    def __call__(self, x, output, codec: LearnedCodec):
        n, _, h, w = x.shape
        fake, beta = self._fake(x, output, codec)
        bpp = losses.rate_bits(output["likelihoods"]) / (n * h * w)
        dist = self.distortion.distortion(x.float(), fake.float())  # float32 under train.precision: bf16 too
        y_hat = output["y_hat"].detach()
        *hidden, logits = self.discriminator.features(fake, y_hat)
        adv = torch.stack([self.g_loss(logits[i]) for i in range(n)])
        adv = (beta * adv).mean()
        loss = self.lmbda * self.scale * dist + self.weight * adv + (0 if self.freeze else bpp)
        logs = {"bpp": bpp.item(), self.distortion.name: dist.item(), "g_adv": adv.item()}
        if self.feature_matching > 0:
            with torch.no_grad():
                real = self.discriminator.features(x, y_hat)[:-1]
            fm = sum((f - r).abs().flatten(1).mean(1) for f, r in zip(hidden, real)) / len(real)
            fm = (beta * fm).mean()
            loss = loss + self.feature_matching * fm
            logs["feature_matching"] = fm.item()
        if self.perceptual is not None:
            perceptual = self.perceptual.distortion(x.float(), fake.float())
            loss = loss + self.perceptual_weight * perceptual
            logs[self.perceptual.name] = perceptual.item()
        logs["loss"] = loss.item()
        if self.distortion.name == "mse":
            logs["psnr"] = -10 * math.log10(max(dist.item(), 1e-12))
        return loss, logs


LOSSES = [RateDistortionPerception]
