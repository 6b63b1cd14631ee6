"""The generative codec: a hyperprior codec (any registered transform and hyperprior entropy
model, through their public contracts) whose decoder chooses how realistic to be.

One bitstream, decoded at any realism level ``beta`` in [0, 1] (``realism:`` in the pipeline,
``nc decompress --realism``): ``x_hat = x_base + beta * G(y_hat, Z, x_base, beta)``
(:mod:`nc_gan.generator`), ``x_base`` the distortion-optimised synthesis. The file never
depends on ``beta``: the encoder codes ``y_hat`` exactly as the hyperprior codec does, and the
weights hash covers the generator, so a file names the one decoder that can read it.

Bit-exact decoding: the noise ``Z`` is drawn from a generator seeded with the SHA-256 of the
coded stream (the same file, the same noise), and the synthesis and the branch run with a fixed
thread count on one image at a time, exactly as the evaluation reconstruction does.

On a GPU the transforms and the branch run there, and the noise is drawn on the host from the
same seed; the entropy model and the coder run on the host (:func:`nc_core.devices.host_copy`),
so a file is the same whichever device wrote it.
"""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Sequence

import numpy as np
import torch

from nc_core.coders import encode_all
from nc_core.coding import information_bits
from nc_core.container import ContainerError
from nc_core.contracts import Coder, EntropyModel, LearnedCodec, Payload, Quantizer, Transform
from nc_core.devices import host_copy
from nc_core.imaging import MAX_SIDE, fixed_threads, pad_to, to_image, to_tensor
from nc_gan.generator import RealismBranch


def noise_seed(stream: bytes) -> int:
    """The decoder noise's seed, a function of the coded stream only."""
    return int.from_bytes(hashlib.sha256(stream).digest()[:8], "little") >> 1


class GenerativeCodec(LearnedCodec):
    """A hyperprior codec with a realism-conditioned generator (``generative``).

    ``realism`` is the decoder's default level; ``noise_channels`` the channels of ``Z``
    (0: none); ``generator_widths`` the branch's widths, one per factor-2 upsampling (their
    count must match the transform's stride); ``texture_noise`` adds the branch's per-resolution
    noise maps and ``detail_scale`` keeps the branch's residual to detail finer than that many
    pixels (:mod:`nc_gan.generator`; 0: no limit; the default 4 measured best on Kodak, see
    ``benchmarks/results/kodak-gan/probes``).
    """

    name = "generative"

    def __init__(self, transform: Transform, entropy: EntropyModel, quantizer: Quantizer, coder: Coder,
                 realism: float = 1.0, noise_channels: int = 4,
                 generator_widths: tuple[int, ...] = (96, 64, 32, 16), texture_noise: bool = False, detail_scale: float = 4.0,
                 seed: int = 0):
        super().__init__()
        if not 0.0 <= realism <= 1.0:
            raise ValueError(f"realism must be in [0, 1], not {realism}")
        if 2 ** len(generator_widths) != transform.stride:
            raise ValueError(f"generator_widths needs {int(math.log2(transform.stride))} entries, one per factor-2 "
                             f"upsampling of the transform's stride {transform.stride}; got {len(generator_widths)}")
        self.transform, self.quantizer, self.coder = transform, quantizer, coder
        self.entropy = entropy.bind(transform.latent_channels)
        self.generator = RealismBranch(transform.latent_channels, noise_channels, tuple(generator_widths),
                                       texture_noise=texture_noise, detail_scale=detail_scale)
        self.realism = float(realism)
        self.seed = int(seed)

    # -- training ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict:
        """The hyperprior codec's training pass; ``x_hat`` is the distortion-optimised
        reconstruction and ``y_hat`` what the synthesis saw (a loss that trains the generator
        calls :meth:`realistic` on this output)."""
        y_syn, likelihoods = self.entropy(self.transform.analysis(x), self.quantizer)
        return {"x_hat": self.transform.synthesis(y_syn), "likelihoods": likelihoods, "y_hat": y_syn}

    def realistic(self, output: dict, beta: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
        """``x_hat`` at realism ``beta`` (``N`` levels) from a :meth:`forward` output; the noise
        (``Z``, then any texture maps) is drawn from ``rng``, or afresh (training)."""
        y_hat, x_base = output["y_hat"], output["x_hat"]
        gen = self.generator
        shapes = [(y_hat.shape[0], gen.noise_channels, *y_hat.shape[-2:]), *gen.texture_noise_shapes(y_hat.shape)]
        # a decoder's noise comes from its seeded host generator whatever the device
        where = y_hat.device if rng is None else rng.device
        noise, *texture = [torch.randn(s, generator=rng, device=where, dtype=y_hat.dtype).to(y_hat.device)
                           for s in shapes]
        residual = gen(y_hat, noise, x_base, beta, texture)
        return x_base + beta.reshape(-1, 1, 1, 1).to(x_base.dtype) * residual

    def update(self) -> None:
        self.entropy.update()

    def with_realism(self, realism: float) -> "GenerativeCodec":
        if not 0.0 <= realism <= 1.0:
            raise ValueError(f"realism must be in [0, 1], not {realism}")
        view = copy.copy(self)  # shares the modules (and the weights hash)
        view.realism = float(realism)
        return view

    # -- coding -----------------------------------------------------------------------------
    def _decoded(self, y_hat: torch.Tensor, stream: bytes, height: int, width: int) -> np.ndarray:
        """The decoder's image of one ``y_hat`` (``1 x M x h x w``) at ``self.realism``."""
        with fixed_threads():
            y_hat = y_hat.float().to(self.device)
            x_base = self.transform.synthesis(y_hat)
            if self.realism > 0:
                rng = torch.Generator().manual_seed(noise_seed(stream))
                beta = torch.full((1,), self.realism, device=self.device)
                x_base = self.realistic({"y_hat": y_hat, "x_hat": x_base}, beta, rng)
        return to_image(x_base[..., :height, :width])

    def _latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        s = self.transform.stride
        return 1, self.transform.latent_channels, math.ceil(height / s), math.ceil(width / s)

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], reconstruct: bool = True
                     ) -> tuple[list[Payload], list[np.ndarray]]:
        """Encode same-sized images in one batch: payloads and (with ``reconstruct``) what
        decoding each returns at this codec's realism."""
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise ValueError(f"a batch needs images of one size, got {sorted(shapes)}")
        height, width = images[0].shape[:2]
        x = torch.cat([pad_to(to_tensor(im, self.device), self.transform.stride) for im in images])
        y_hat, groups = host_copy(self.entropy).encode(self.transform.analysis(x).cpu(), self.quantizer, self.seed)
        payloads, recs = [], []
        for i, pairs in enumerate(groups):
            ideal = sum(information_bits(s, d) for s, d in pairs)
            stream = encode_all(self.coder, pairs)
            payloads.append(Payload([stream], [height, width, self.seed], ideal_bits=ideal))
            if reconstruct:
                recs.append(self._decoded(y_hat[i:i + 1], stream, height, width))
        return payloads, recs

    def encode(self, image: np.ndarray) -> Payload:
        return self.encode_batch([image], reconstruct=False)[0][0]

    def reconstruct(self, image: np.ndarray) -> np.ndarray:
        return self.encode_batch([image])[1][0]

    def encode_with_reconstruction(self, image: np.ndarray) -> tuple[Payload, np.ndarray]:
        (payload,), (rec,) = self.encode_batch([image])
        return payload, rec

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
        return self._decoded(y_hat, payload.streams[0], height, width)


CODECS = [GenerativeCodec]
