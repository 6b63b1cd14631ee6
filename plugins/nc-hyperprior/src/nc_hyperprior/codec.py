"""The hyperprior codec assembly: analysis transform -> hyperprior entropy model + coder ->
synthesis transform.

Any image size is accepted: the image is padded (replicating its edges) to a multiple of the
transform's stride and the decoder crops the result back to the size in the header. The
decoder's synthesis runs with a fixed thread count and its entropy parameters in exact fixed point, so
``decompress`` returns the same pixels for any batch size or thread count on the encoder side.

On a GPU (``codec.to("cuda")``) the transforms run there; the latents cross to the host, where
the entropy model (a host copy of it: :func:`nc_core.devices.host_copy`) and the coder run, so
the file is the one the CPU writes.

A **ladder** (``ladder: [λ_0, λ_1, ...]``) makes one set of weights a variable-rate codec, as
Cui et al. 2021 ("Asymmetric gained deep image compression") do: per rung ``r`` and latent
channel, a gain ``g_r`` scales the latents before quantization and an inverse gain ``g'_r``
scales the decoded latents before the synthesis, so rung ``r``'s quantization step is ``1/g_r``.
Training draws a rung at every step and its λ replaces the loss's (``output["lmbda"]``). The
gains start at ``sqrt(λ_r / λ_0)`` (the step that high-rate theory gives for MSE, relative to
the first rung) and ``g'_r = 1/g_r``: a fixed-rate model trained at ``λ_0`` warm-starts the
ladder (``init:``; its missing gains take these initial values) and codes exactly as before
at rung 0. The encoder's rung (``quality``, ``nc compress --quality``) is written in the file;
the decoder reads it, so every rung decodes with the same model.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from nc_core.coders import encode_all
from nc_core.coding import information_bits
from nc_core.container import ContainerError
from nc_core.contracts import Coder, LearnedCodec, Loss, Payload, Quantizer, Transform, has_exact_synthesis
from nc_core.devices import host_copy
from nc_core.imaging import MAX_SIDE, fixed_threads, pad_to, to_image, to_tensor
from nc_hyperprior.models import HyperpriorModel
from nc_hyperprior.refine import refine_latents


class HyperpriorCodec(LearnedCodec):
    """Learned transform coding with a hyperprior entropy model (``entropy``: one of
    ``scale-hyperprior``, ``mean-scale-hyperprior``, ``joint-autoregressive``,
    ``channel-autoregressive``)."""

    name = "hyperprior"

    def __init__(self, transform: Transform, entropy: HyperpriorModel, quantizer: Quantizer, coder: Coder,
                 seed: int = 0, exact_synthesis: bool = False, ladder: tuple[float, ...] = (),
                 quality: int | None = None):
        super().__init__()
        if not isinstance(entropy, HyperpriorModel):
            raise ValueError(f"entropy model {entropy.name!r} is not a hyperprior model "
                             "(use the transform-coding codec for a factorized prior)")
        if exact_synthesis and not has_exact_synthesis(transform):
            raise ValueError(f"exact_synthesis: transform {transform.name!r} has no exact synthesis")
        self.exact_synthesis = bool(exact_synthesis)
        self.transform, self.quantizer, self.coder = transform, quantizer, coder
        self.entropy = entropy.bind(transform.latent_channels)
        self.seed = int(seed)
        self._refine: tuple[Loss, int, float] | None = None
        self.ladder = tuple(float(v) for v in ladder)
        if len(self.ladder) == 1 or not all(0 < a < b for a, b in zip(self.ladder, self.ladder[1:])) \
                or (self.ladder and not self.ladder[0] > 0):
            raise ValueError(f"ladder must be two or more increasing positive lambdas, not {list(ladder)}")
        if self.ladder:
            start = _gain_steps(self.ladder, self.ladder[0])[:, None].repeat(1, transform.latent_channels)
            self.log_gains = nn.Parameter(start)
            self.log_inverse_gains = nn.Parameter(-start)
            self.register_load_state_dict_pre_hook(_start_missing_gains)
        self.quality = self._rung(max(len(self.ladder) - 1, 0) if quality is None else quality)

    def _rung(self, quality: int) -> int:
        rungs = max(len(self.ladder), 1)
        if not (isinstance(quality, int) and 0 <= quality < rungs):
            what = f"the ladder's rungs 0..{rungs - 1}" if self.ladder else "0 (this codec has no ladder)"
            raise ValueError(f"quality must be one of {what}, not {quality!r}")
        return quality

    @property
    def qualities(self) -> int:
        return max(len(self.ladder), 1)

    def with_quality(self, quality: int) -> "HyperpriorCodec":
        view = copy.copy(self)  # shares the modules (and the weights hash)
        view.quality = self._rung(quality)
        return view

    def _gains(self, rung: int, inverse: bool = False) -> torch.Tensor | None:
        """Rung ``rung``'s per-channel gain as ``1 x M x 1 x 1`` (None without a ladder)."""
        if not self.ladder:
            return None
        return torch.exp((self.log_inverse_gains if inverse else self.log_gains)[rung]).view(1, -1, 1, 1)

    def _scaled(self, y: torch.Tensor, rung: int, inverse: bool = False) -> torch.Tensor:
        g = self._gains(rung, inverse)
        return y if g is None else y * g.to(y.device, y.dtype)

    # -- training ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict:
        """The training pass; with a ladder, at a rung drawn at random in training (the codec's
        ``quality`` in eval mode), whose λ is ``output["lmbda"]``."""
        rung = int(torch.randint(len(self.ladder), ())) if self.ladder and self.training else self.quality
        y_syn, likelihoods = self.entropy(self._scaled(self.transform.analysis(x), rung), self.quantizer)
        out = {"x_hat": self.transform.synthesis(self._scaled(y_syn, rung, inverse=True)), "likelihoods": likelihoods}
        return out | ({"lmbda": self.ladder[rung]} if self.ladder else {})

    def update(self) -> None:
        self.entropy.update()

    @property
    def latent_stride(self) -> int:
        return self.transform.stride

    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """The analysis of ``x`` at rung ``quality`` (its gains applied): what ``encode`` quantizes."""
        return self._scaled(self.transform.analysis(x), self.quality)

    def latent_synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.synthesize(y_hat, self.quality)

    # -- coding -----------------------------------------------------------------------------
    def synthesize(self, y_hat: torch.Tensor, rung: int = 0) -> torch.Tensor:
        """The decoder's image of the decoded latents at ``rung`` (its inverse gains, on the
        host: one float multiplication, the same on every device)."""
        y_hat = self._scaled(y_hat.float(), rung, inverse=True) if self.ladder else y_hat
        if self.exact_synthesis:  # the same pixels on every machine and device
            return self.transform.exact_synthesis(y_hat)
        with fixed_threads():
            return self.transform.synthesis(y_hat.float().to(self.device))

    def _latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        s = self.transform.stride
        return 1, self.transform.latent_channels, math.ceil(height / s), math.ceil(width / s)

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray],
                     reconstruct: bool = True) -> tuple[list[Payload], list[np.ndarray]]:
        """Encode same-sized images in one batch: ``(payloads, reconstructions)``, where each
        reconstruction is what decoding its payload returns (none when not ``reconstruct``)."""
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise ValueError(f"a batch needs images of one size, got {sorted(shapes)}")
        height, width = images[0].shape[:2]
        x = torch.cat([pad_to(to_tensor(im, self.device), self.transform.stride) for im in images])
        if self._refine is None:
            y, z = self._scaled(self.transform.analysis(x), self.quality), None
        else:
            y, z = refine_latents(self, x, *self._refine)
        y_hat, groups = host_copy(self.entropy).encode(y.cpu(), self.quantizer, self.seed,
                                                       z=None if z is None else z.cpu())
        header = [height, width, self.seed] + ([self.quality] if self.ladder else [])
        payloads, recs = [], []
        for i, pairs in enumerate(groups):
            ideal = sum(information_bits(s, d) for s, d in pairs)
            payloads.append(Payload([encode_all(self.coder, pairs)], header, ideal_bits=ideal))
            if reconstruct:
                recs.append(to_image(self.synthesize(y_hat[i:i + 1], self.quality)[..., :height, :width]))
        return payloads, recs

    def encode(self, image: np.ndarray) -> Payload:
        return self.encode_batch([image], reconstruct=False)[0][0]

    def reconstruct(self, image: np.ndarray) -> np.ndarray:
        return self.encode_batch([image])[1][0]

    def encode_with_reconstruction(self, image: np.ndarray) -> tuple[Payload, np.ndarray]:
        (payload,), (rec,) = self.encode_batch([image])
        return payload, rec

    def refined(self, loss: Loss, steps: int, lr: float) -> "HyperpriorCodec":
        """A view sharing these weights whose encoder refines latents with SGA
        (:mod:`nc_hyperprior.refine`); its files decode with the plain codec."""
        if steps < 1 or not lr > 0:
            raise ValueError("refinement needs steps >= 1 and lr > 0")
        if self.ladder:
            raise TypeError(f"codec {self.name!r} with a ladder does not support latent refinement yet")
        view = copy.copy(self)  # shares the modules (and the weights hash)
        view._refine = (loss, int(steps), float(lr))
        return view

    @torch.no_grad()
    def decode(self, payload: Payload) -> np.ndarray:
        if len(payload.header) != 3 + bool(self.ladder) or len(payload.streams) != 1:
            raise ContainerError(f"corrupt file (unexpected header layout for {self.name})")
        height, width, seed, *rung = payload.header
        if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
            raise ContainerError(f"corrupt file (image size {height}x{width})")
        rung = rung[0] if rung else 0
        if not 0 <= rung < max(len(self.ladder), 1):
            raise ContainerError(f"corrupt file (rung {rung} of a {len(self.ladder)}-rung ladder)")
        decoder = self.coder.decoder(payload.streams[0])
        y_hat = host_copy(self.entropy).decode(decoder, self._latent_shape(height, width), self.quantizer, seed)
        decoder.finish()
        return to_image(self.synthesize(y_hat, rung)[..., :height, :width])


def _gain_steps(lambdas, reference: float) -> torch.Tensor:
    """The log-gains that move a rung at ``reference`` to each of ``lambdas``: ``0.5 log(lambda /
    reference)``, the step high-rate theory gives for MSE."""
    return torch.tensor([0.5 * math.log(v / reference) for v in lambdas])


def _start_missing_gains(module, state_dict, prefix, *args) -> None:
    """Warm start: weights saved without a ladder (a fixed-rate model) leave the gains at their
    initial values, under which rung 0 codes as that model did. Weights of a shorter ladder
    extend it at the top: its ``K`` rungs load as they are (they must be this ladder's first
    ``K``), and each rung above starts from the top one's trained gains scaled by
    ``sqrt(lambda_r / lambda_{K-1})``, as a new ladder's rungs start from rung 0's."""
    for name, sign in (("log_gains", 1.0), ("log_inverse_gains", -1.0)):
        own = getattr(module, name).detach()
        saved = state_dict.get(prefix + name)
        if saved is None:
            state_dict[prefix + name] = own.clone()
        elif saved.dim() == 2 and saved.shape[1] == own.shape[1] and 0 < saved.shape[0] < own.shape[0]:
            top = saved.shape[0] - 1
            steps = _gain_steps(module.ladder[top + 1:], module.ladder[top])
            above = saved[top].to(own.dtype) + sign * steps[:, None].to(own.dtype)
            state_dict[prefix + name] = torch.cat([saved.to(own.dtype), above])


CODECS = [HyperpriorCodec]
