"""The transform-coding codec assembly: analysis -> quantizer -> prior + coder -> synthesis.

Evaluation and decoding share one path (``_synthesize`` from integer symbols), so the image
``decode`` returns is exactly the one the runner measured, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from nc_core import imaging
from nc_core._deprecation import moved
from nc_core.coders import decode_all, encode_all
from nc_core.coding import information_bits
from nc_core.container import ContainerError
from nc_core.contracts import Coder, LearnedCodec, Payload, Prior, Quantizer, Transform, has_exact_synthesis
from nc_core.devices import host_copy
from nc_core.layers import around


class TransformCoding(LearnedCodec):
    """Learned transform coding with a latent prior (the factorized-prior image codec when
    used with the ``factorized`` transform and the ``deep-factorized`` prior)."""

    name = "transform-coding"

    def __init__(self, transform: Transform, quantizer: Quantizer, prior: Prior, coder: Coder,
                 seed: int = 0, exact_synthesis: bool = False):
        super().__init__()
        if exact_synthesis and not has_exact_synthesis(transform):
            raise ValueError(f"exact_synthesis: transform {transform.name!r} has no exact synthesis")
        self.exact_synthesis = bool(exact_synthesis)
        self.transform, self.quantizer, self.coder = transform, quantizer, coder
        self.prior = prior.bind(transform.latent_channels)
        self.seed = int(seed)  # dither seed written to every file (only dithered quantizers use it)

    # -- training ---------------------------------------------------------------------------
    def _centres(self) -> torch.Tensor | None:
        # a prior written against the pre-1.0 ProbabilityModel has no centres: zero
        return self.prior.centres() if hasattr(self.prior, "centres") else None

    def forward(self, x: torch.Tensor) -> dict:
        y = self.transform.analysis(x)
        c = self._centres()
        likelihoods = self.prior(around(self.quantizer.for_rate, y, c))
        x_hat = self.transform.synthesis(around(self.quantizer.for_distortion, y, c))
        return {"x_hat": x_hat, "likelihoods": {"y": likelihoods}}

    def update(self) -> None:
        self.prior.update()

    # -- coding -----------------------------------------------------------------------------
    def _analyse(self, image: np.ndarray) -> torch.Tensor:
        x = imaging.pad_to(imaging.to_tensor(image, self.device), self.transform.stride)
        return self.quantizer.quantize(self.transform.analysis(x), offset=self._centres(), seed=self.seed)

    def synthesize(self, y_hat: torch.Tensor) -> torch.Tensor:
        """The decoder's synthesis, independent of the thread count (see :func:`nc_core.imaging.fixed_threads`)."""
        if self.exact_synthesis:  # the same pixels on every machine and device
            return self.transform.exact_synthesis(y_hat)
        with imaging.fixed_threads():
            return self.transform.synthesis(y_hat)

    def _synthesize(self, symbols: torch.Tensor, height: int, width: int, seed: int) -> np.ndarray:
        y_hat = self.quantizer.dequantize(symbols, offset=self._centres(), seed=seed)
        return imaging.to_image(self.synthesize(y_hat)[..., :height, :width])

    @torch.no_grad()
    def reconstruct(self, image: np.ndarray) -> np.ndarray:
        """The evaluation reconstruction: real quantization, no entropy coding."""
        return self._synthesize(self._analyse(image), image.shape[0], image.shape[1], self.seed)

    @torch.no_grad()
    def encode(self, image: np.ndarray) -> Payload:
        symbols = self._analyse(image).cpu()  # the coder's input: the one thing that crosses
        dist = host_copy(self.prior).coding_distribution(tuple(symbols.shape))
        stream = encode_all(self.coder, [(symbols.numpy(), dist)])
        header = [image.shape[0], image.shape[1], self.seed]
        return Payload([stream], header, ideal_bits=information_bits(symbols.numpy(), dist))

    @torch.no_grad()
    def decode(self, payload: Payload) -> np.ndarray:
        if len(payload.header) != 3 or len(payload.streams) != 1:
            raise ContainerError("corrupt file (unexpected header layout for transform-coding)")
        height, width, seed = payload.header
        if not (0 < height <= imaging.MAX_SIDE and 0 < width <= imaging.MAX_SIDE):
            raise ContainerError(f"corrupt file (image size {height}x{width})")
        s = self.transform.stride
        shape = (1, self.transform.latent_channels, math.ceil(height / s), math.ceil(width / s))
        (symbols,) = decode_all(self.coder, payload.streams[0], [host_copy(self.prior).coding_distribution(shape)])
        return self._synthesize(torch.from_numpy(symbols).to(self.device), height, width, seed)


CODECS = [TransformCoding]

__getattr__ = moved(__name__, {name: "nc_core.imaging" for name in ("MAX_SIDE", "SYNTHESIS_THREADS", "fixed_threads", "pad_to", "to_image", "to_tensor")})
