"""The hyperprior codec assembly: analysis transform -> hyperprior entropy model + coder ->
synthesis transform.

Any image size is accepted: the image is padded (replicating its edges) to a multiple of the
transform's stride and the decoder crops the result back to the size in the header. The
decoder's synthesis runs with a fixed thread count and its entropy parameters in exact fixed point, so
``decompress`` returns the same pixels for any batch size or thread count on the encoder side.

On a GPU (``codec.to("cuda")``) the transforms run there; the latents cross to the host, where
the entropy model (a host copy of it: :func:`nc_core.devices.host_copy`) and the coder run, so
the file is the one the CPU writes.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import torch

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
                 seed: int = 0, exact_synthesis: bool = False):
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

    # -- training ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict:
        y_syn, likelihoods = self.entropy(self.transform.analysis(x), self.quantizer)
        return {"x_hat": self.transform.synthesis(y_syn), "likelihoods": likelihoods}

    def update(self) -> None:
        self.entropy.update()

    # -- coding -----------------------------------------------------------------------------
    def synthesize(self, y_hat: torch.Tensor) -> torch.Tensor:
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
            y, z = self.transform.analysis(x), None
        else:
            y, z = refine_latents(self, x, *self._refine)
        y_hat, groups = host_copy(self.entropy).encode(y.cpu(), self.quantizer, self.seed,
                                                       z=None if z is None else z.cpu())
        payloads, recs = [], []
        for i, pairs in enumerate(groups):
            ideal = sum(information_bits(s, d) for s, d in pairs)
            payloads.append(Payload([encode_all(self.coder, pairs)], [height, width, self.seed], ideal_bits=ideal))
            if reconstruct:
                recs.append(to_image(self.synthesize(y_hat[i:i + 1])[..., :height, :width]))
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
        view = copy.copy(self)  # shares the modules (and the weights hash)
        view._refine = (loss, int(steps), float(lr))
        return view

    @torch.no_grad()
    def decode(self, payload: Payload) -> np.ndarray:
        if len(payload.header) != 3 or len(payload.streams) != 1:
            raise ContainerError(f"corrupt file (unexpected header layout for {self.name})")
        height, width, seed = payload.header
        if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
            raise ContainerError(f"corrupt file (image size {height}x{width})")
        decoder = self.coder.decoder(payload.streams[0])
        y_hat = host_copy(self.entropy).decode(decoder, self._latent_shape(height, width), self.quantizer, seed)
        decoder.finish()
        return to_image(self.synthesize(y_hat)[..., :height, :width])


CODECS = [HyperpriorCodec]
