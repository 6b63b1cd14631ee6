"""The P-frame coder of the scale-space-flow codec (Agustsson et al. 2020), with Yang et al.'s
scale between prediction and residual as an option.

One P-frame given the previous decoded frame ``ref``:

1. *Motion.* ``y_m = g_a^m([x, ref])`` is quantized and coded under its own hyperprior entropy
   model (any registered one); ``g_s^m(y_m_hat)`` gives the scale-space flow ``(dx, dy, s)``
   (and, with ``scale_mediated``, a per-pixel log-scale ``log sigma``).
2. *Prediction.* ``x_bar = warp(ref, flow)``, trilinear over ``ref``'s Gaussian scale space
   (:mod:`nc_video.warp`).
3. *Residual.* ``y_r = g_a^r((x - x_bar) / sigma)`` is coded under a second hyperprior;
   ``x_hat = x_bar + sigma * g_s^r(y_r_hat)`` (``sigma = 1`` for plain SSF). Yang et al.
   (2021, "Hierarchical autoregressive modeling for neural video compression") show that
   letting the motion branch scale the residual helps where the prediction is poor.

The transforms are SSF's: four 5x5 stride-2 convolutions with ReLU (stride 16) and their
transposes. The flow decoder's last layer starts at zero, so an untrained coder predicts
``x_bar = ref`` (no motion, no blur, ``sigma = 1``). The motion branch's other layers start
with He initialisation (variance ``2 / fan-in``, a transposed convolution's fan-in being what
one output sums over): with PyTorch's default the signal shrank about twofold per layer,
the flow decoder saw inputs ~0.01, and the branch never learned motion (measured in
``benchmarks/results/README.md``, video-ssf-pixels).

``motion_search`` (a radius in pixels, 0: off) gives the motion analysis the encoder's
block-matching flow (:mod:`nc_video.search`) as two more inputs: the network learns to code
motion instead of having to discover it.

``motion_penalty`` makes that search rate-constrained (:mod:`nc_video.search`): its vectors stay
with the frame's global motion unless leaving it buys a clearly better match, so that they cost
few bits.

``motion_vectors`` (``K`` steps per pixel, 0: off; needs ``motion_search``) makes the first two
motion-latent channels explicit motion vectors, as a classical codec codes them: the encoder
adds ``K`` times the searched flow, averaged over each 16x16 block, to them (the analysis's
own contribution to those channels starts at zero), and the decoder adds their bilinear
upsampling, divided by ``K``, to the flow it synthesises. An untrained coder so predicts with
the block-matching flow at ``1/K``-pixel precision from its first step; the networks learn to
refine it and the entropy model to code it. Measured: trained from scratch without it, the
motion branch needs thousands of steps to find motion it could code (README, video-ssf-pixels).

``residual: latent`` codes the frame in the intra codec's latent space instead, conditionally on
the prediction (after Liu et al. 2020, "Conditional entropy coding for efficient video
compression", and DCVC's conditional coding): ``y = g_a(x)`` is the intra codec's analysis (at its
rung) of the frame, ``c = P(g_a(x_bar))`` the latents it predicts from the prediction's (``P``:
:class:`LatentPrediction`, learned), ``y - c`` is coded under
the residual entropy model and ``x_hat = g_s(c + q(y - c))`` is the intra codec's synthesis. The
intra codec's transforms are used as they are (trained beforehand: only the entropy model and
the motion branch train), so a P-frame is decoded at the intra codec's quality for that rung
whatever the prediction, and errors cannot accumulate along the chain: the prediction decides
only how many bits the frame costs. ``conditional: true`` also gives ``c`` to the residual's
entropy model as a context (:class:`nc_core.contracts.EntropyModel`), so that the distribution of
``y - c``, not only its mean, depends on the prediction: conditional coding proper (Liu et al.
2020; DCVC), where the hyperprior alone must spend side bits on where the prediction fails.
``motion: false`` predicts from the previous frame unmoved
(no motion branch, no motion bits).

Encoding returns the symbols to code (motion first, then residual) and the decoder's
reconstruction; the decoder-side computation (flow, warp, residual synthesis) runs with a
fixed thread count in both, so the decoder rebuilds the encoder's frame exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nc_core.coding import CodingDistribution
from nc_core.contracts import Decoder, EntropyModel, LearnedCodec, Quantizer
from nc_core.devices import host_copy
from nc_core.imaging import fixed_threads
from nc_video.search import block_flow
from nc_video.warp import warp

STRIDE = 16
Pairs = list[tuple[np.ndarray, CodingDistribution]]


def _analysis(cin: int, n: int, m: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (cin, n, n):
        layers += [nn.Conv2d(c, n, 5, stride=2, padding=2), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Conv2d(n, m, 5, stride=2, padding=2))


def _he_init(net: nn.Sequential) -> nn.Sequential:
    """He initialisation for a ReLU network of (transposed) convolutions, biases at zero."""
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            k = m.kernel_size[0] * m.kernel_size[1]
            fan_in = m.in_channels * k / (m.stride[0] * m.stride[1] if isinstance(m, nn.ConvTranspose2d) else 1)
            nn.init.normal_(m.weight, std=math.sqrt(2 / fan_in))
            nn.init.zeros_(m.bias)
    return net


def _synthesis(m: int, n: int, cout: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (m, n, n):
        layers += [nn.ConvTranspose2d(c, n, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.ConvTranspose2d(n, cout, 5, stride=2, padding=2, output_padding=1))


class LatentPrediction(nn.Module):
    """``P(c) = a * c + g(c)``: the frame's latents predicted from the prediction's, with a learned
    per-channel weight ``a`` and a small convolutional correction ``g``, both starting at zero:
    an untrained P-frame is coded as an intra frame would be (with ``residual_entropy_init:
    intra``, by the intra codec's own entropy model), and training moves it from there.
    Measured on bikes with the intra codec's rung 1 (a per-channel Gaussian's bits, the first 6
    frames): ``y`` alone 19,825 bits per frame, ``y - c`` 14,466, ``y - a c`` with the best
    ``a`` 12,485: the prediction's latents carry the previous frame's coding noise, which a
    weight below 1 discounts."""

    #: ``a`` is stored divided by this: an optimizer step moves ``a`` this many times the learning
    #: rate (at lr 2e-4 Adam moved it 0.03 in 250 steps, where it has to travel to ~0.7)
    GAIN = 20.0

    def __init__(self, m: int, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, m, 1, 1))
        self.correction = nn.Sequential(nn.Conv2d(m, n, 3, padding=1), nn.ReLU(), nn.Conv2d(n, m, 3, padding=1))
        nn.init.zeros_(self.correction[-1].weight)
        nn.init.zeros_(self.correction[-1].bias)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.GAIN * self.weight * c + self.correction(c)


class PFrameCoder(nn.Module):
    """Motion and residual coding of one frame against a reference (see the module docstring).

    ``channels`` / ``latent``: hidden and latent channels of both branches; ``levels`` and
    ``sigma0``: the scale-space volume; ``scale_mediated``: Yang et al.'s residual scale;
    ``motion_search``: the encoder's block-matching radius (0: none).
    """

    def __init__(self, motion_entropy: EntropyModel, residual_entropy: EntropyModel, quantizer: Quantizer,
                 channels: int = 128, latent: int = 192, levels: int = 5, sigma0: float = 1.5,
                 scale_mediated: bool = False, motion_search: int = 0, motion_vectors: int = 0,
                 residual: str = "pixels", motion: bool = True, intra_latent: int = 0, conditional: bool = False,
                 motion_penalty: float = 0.0):
        super().__init__()
        if channels < 1 or latent < 1 or levels < 1 or not sigma0 > 0 or motion_search < 0 or motion_vectors < 0:
            raise ValueError("channels, latent and levels must be positive, sigma0 > 0, motion_search and "
                             "motion_vectors >= 0")
        if motion_penalty and not motion_search or motion_penalty < 0:
            raise ValueError("motion_penalty must be >= 0 and needs motion_search (it constrains the search)")
        if motion_vectors and not motion_search:
            raise ValueError("motion_vectors needs motion_search (the encoder's block-matching flow)")
        if motion_vectors and latent < 2:
            raise ValueError("motion_vectors needs a motion latent of at least 2 channels")
        if residual not in ("pixels", "latent"):
            raise ValueError(f"residual must be pixels or latent, not {residual!r}")
        if residual == "pixels" and not motion:
            raise ValueError("motion: false needs residual: latent (a pixel residual against the unmoved frame "
                             "is what SSF's motion branch is for)")
        if conditional and residual != "latent":
            raise ValueError("conditional needs residual: latent (the context is the prediction's latents)")
        if scale_mediated and residual == "latent":
            raise ValueError("scale_mediated scales a pixel residual: it needs residual: pixels")
        self.levels, self.sigma0, self.scale_mediated = int(levels), float(sigma0), bool(scale_mediated)
        self.quantizer, self.search, self.vectors = quantizer, int(motion_search), int(motion_vectors)
        self.penalty = float(motion_penalty)
        self.latent_residual, self.motion, self.intra_latent = residual == "latent", bool(motion), int(intra_latent)
        self.conditional = bool(conditional)
        self.motion_analysis = self.motion_synthesis = self.motion_entropy = None
        if self.motion:
            self.motion_analysis = _he_init(_analysis(8 if self.search else 6, channels, latent))
            self.motion_synthesis = _he_init(_synthesis(latent, channels, 6 if scale_mediated else 3))
            nn.init.zeros_(self.motion_synthesis[-1].weight)
            nn.init.zeros_(self.motion_synthesis[-1].bias)
            if self.vectors:  # the vector channels start as the search's vectors alone; with a latent
                # residual (rate the only objective) the other channels start at zero too: random ones
                # cost ~130 KB per bikes frame under an untrained entropy model, to carry nothing
                last = slice(None) if self.latent_residual else slice(0, 2)
                nn.init.zeros_(self.motion_analysis[-1].weight[last])
                nn.init.zeros_(self.motion_analysis[-1].bias[last])
            self.motion_entropy = motion_entropy.bind(latent)
        self.residual_analysis = self.residual_synthesis = None
        if self.latent_residual:  # the intra codec's transforms, its latent's channels
            try:
                self.residual_entropy = residual_entropy.bind(intra_latent, context=intra_latent if conditional else 0)
            except TypeError as exc:
                raise ValueError(f"conditional: {exc}") from None
            self.latent_prediction = LatentPrediction(intra_latent, channels)
        else:
            self.residual_analysis = _analysis(3, channels, latent)
            self.residual_synthesis = _synthesis(latent, channels, 3)
            self.residual_entropy = residual_entropy.bind(latent)

    def predict(self, ref: torch.Tensor, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_bar, sigma, flow)`` from the reference and the decoded motion latent."""
        out = self.motion_synthesis(motion)
        if self.vectors:
            vectors = F.interpolate(motion[:, :2] / self.vectors, scale_factor=STRIDE, mode="bilinear",
                                    align_corners=False)
            out = torch.cat([out[:, :2] + vectors, out[:, 2:]], dim=1)
        sigma = torch.exp(out[:, 3:].clamp(-4, 4)) if self.scale_mediated else torch.ones_like(ref[:, :1])
        return warp(ref, out[:, :3], self.levels, self.sigma0), sigma, out[:, :3]

    def _motion_input(self, x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The motion analysis's input and the search's flow (``None`` without search)."""
        if not self.search:
            return torch.cat([x, ref], dim=1), None
        found = block_flow(x, ref, self.search, penalty=self.penalty)
        return torch.cat([x, ref, found / self.search], dim=1), found

    def motion_latent(self, x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The motion analysis's output (with ``motion_vectors``, the searched vectors added to
        its first two channels) and the search's flow."""
        inputs, found = self._motion_input(x, ref)
        y = self.motion_analysis(inputs)
        if self.vectors:
            y = torch.cat([y[:, :2] + self.vectors * F.avg_pool2d(found, STRIDE), y[:, 2:]], dim=1)
        return y, found

    def forward(self, x: torch.Tensor, ref: torch.Tensor, intra: LearnedCodec | None = None) -> dict[str, torch.Tensor]:
        """Training pass (``N x 3 x H x W``, sides multiples of 16; ``intra`` the intra codec at
        its rung, for ``residual: latent``): ``x_hat``, ``likelihoods`` (``motion-y``,
        ``motion-z``, ``residual-y``, ``residual-z``), the prediction ``x_bar`` and, with the
        motion branch, the decoded ``flow`` (``dx, dy, s``) and, with ``motion_search``, the
        search's ``found``."""
        out, lm = {}, {}
        if self.motion:
            y, found = self.motion_latent(x, ref)
            motion, lm = self.motion_entropy(y, self.quantizer)
            pred, sigma, out["flow"] = self.predict(ref, motion)
            if found is not None:
                out["found"] = found
        else:
            pred, sigma = ref, None
        if self.latent_residual:
            c = self.latent_prediction(intra.latents(pred))
            with torch.no_grad():
                y = intra.latents(x)
            res, lr = self.residual_entropy(y - c, self.quantizer, context=self._context(c))
            with torch.no_grad():  # the intra codec's synthesis: fixed, so no gradient is needed through it
                x_hat = intra.latent_synthesis(c + res)
        else:
            res, lr = self.residual_entropy(self.residual_analysis((x - pred) / sigma), self.quantizer)
            x_hat = pred + sigma * self.residual_synthesis(res)
        likelihoods = {f"motion-{k}": v for k, v in lm.items()} | {f"residual-{k}": v for k, v in lr.items()}
        return {"x_hat": x_hat, "likelihoods": likelihoods, "x_bar": pred} | out

    def update(self) -> None:
        if self.motion:
            self.motion_entropy.update()
        self.residual_entropy.update()

    def _prediction(self, ref: torch.Tensor, motion: torch.Tensor | None, intra: LearnedCodec | None):
        """The decoder's side of a prediction, the same in encoder and decoder (fixed threads):
        ``(x_bar, sigma, c)`` with ``c`` the intra codec's latents of ``x_bar`` (latent residual)."""
        with fixed_threads():
            pred, sigma = (self.predict(ref, motion.float().to(ref.device))[:2] if self.motion else (ref, None))
            c = self.latent_prediction(intra.latents(pred)).cpu().double() if self.latent_residual else None
        return pred, sigma, c

    def _context(self, c: torch.Tensor | None) -> torch.Tensor | None:
        """The residual entropy model's context: the prediction's latents, when conditional."""
        return c if self.conditional else None

    def _latent_shape(self, ref: torch.Tensor, intra: LearnedCodec | None) -> tuple[int, int, int, int]:
        h, w = ref.shape[-2:]
        if self.latent_residual:
            return 1, self.intra_latent, h // intra.latent_stride, w // intra.latent_stride
        return 1, self.residual_synthesis[0].in_channels, h // STRIDE, w // STRIDE

    @torch.no_grad()
    def encode(self, x: torch.Tensor, ref: torch.Tensor, seed: int,
               intra: LearnedCodec | None = None) -> tuple[Pairs, torch.Tensor]:
        """One frame (``1 x 3 x H x W``): the symbol groups in decode order and the decoder's
        reconstruction (float, before rounding to pixels). The networks run where the frames are;
        the entropy models (their host copies) and so the symbols on the host."""
        device, motion, mgroups = x.device, None, [[]]
        if self.motion:
            y = self.motion_latent(x, ref)[0].cpu()
            motion, mgroups = host_copy(self.motion_entropy).encode(y, self.quantizer, seed)
        pred, sigma, c = self._prediction(ref, motion, intra)
        if self.latent_residual:
            res, rgroups = host_copy(self.residual_entropy).encode((intra.latents(x).cpu().double() - c).float(),
                                                                   self.quantizer, seed + 1, context=self._context(c))
            x_hat = intra.latent_synthesis(c + res.double())
        else:
            res, rgroups = host_copy(self.residual_entropy).encode(self.residual_analysis((x - pred) / sigma).cpu(),
                                                                   self.quantizer, seed + 1)
            with fixed_threads():
                x_hat = pred + sigma * self.residual_synthesis(res.float().to(device))
        return mgroups[0] + rgroups[0], x_hat

    @torch.no_grad()
    def decode(self, decoder: Decoder, ref: torch.Tensor, seed: int, intra: LearnedCodec | None = None) -> torch.Tensor:
        """The frame coded against ``ref`` (``1 x 3 x H x W``), read from an open decoder."""
        h, w = ref.shape[-2:]
        motion = None
        if self.motion:
            shape = (1, self.motion_synthesis[0].in_channels, h // STRIDE, w // STRIDE)  # latent channels
            motion = host_copy(self.motion_entropy).decode(decoder, shape, self.quantizer, seed)
        pred, sigma, c = self._prediction(ref, motion, intra)
        res = host_copy(self.residual_entropy).decode(decoder, self._latent_shape(ref, intra), self.quantizer, seed + 1,
                                                      context=self._context(c))
        if self.latent_residual:
            return intra.latent_synthesis(c + res.double())
        with fixed_threads():
            return pred + sigma * self.residual_synthesis(res.float().to(ref.device))
