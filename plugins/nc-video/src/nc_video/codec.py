"""The scale-space-flow video codec (``ssf``): intra frames from any registered image codec,
P-frames from the scale-space-flow coder (:mod:`nc_video.pframe`) predicting each frame from
the one decoded before it.

Frames are coded in display order (low latency). Frame 0 and every ``intra_period``-th frame
after it are intra frames (``intra_period: 0``: only frame 0), where a decoder may start. The
reference a P-frame is predicted from is the previous *decoded* frame as pixels (uint8), as a
decoder's frame buffer holds it, so encoder and decoder predict from identical references and
the chain cannot drift. Frames are padded (replicated borders) to a multiple of 64 for the
P-frame coder (its stride 16 and the hyperprior's 4) and cropped back.

With ``residual: latent`` (:mod:`nc_video.pframe`) the P-frames are coded in the intra codec's
latent space and decoded by its synthesis; the intra codec (``intra_model``: a trained one) is
then fixed, and a variable-rate intra codec's rungs are this codec's: one set of weights codes
every rung, the rung is written in the sequence header, and training draws one per clip.

``adaptive_intra`` is an encoder decision the format already allows: a frame due to be
predicted is also intra coded, and the intra coding is kept when it is no larger and no
further from the source (MSE) than the prediction's: a scene cut, where a P-frame coder
without intra blocks pays several times an intra frame's bytes for a worse picture. The
decoder needs nothing new (every frame record says whether it is intra), an extra intra
frame is one more random-access point, and the encoder's time per P-frame roughly doubles.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from nc_core import models
from nc_core.coders import encode_all
from nc_core.coding import information_bits
from nc_core.container import ContainerError
from nc_core.contracts import Coder, EntropyModel, LearnedCodec, Payload, Quantizer, VideoCodec
from nc_core.imaging import pad_to, to_image, to_tensor
from nc_video.pframe import PFrameCoder

PAD = 64


class ScaleSpaceFlowCodec(VideoCodec):
    """SSF (Agustsson et al. 2020) with intra frames from ``intra`` (any learned image codec);
    ``scale_mediated`` adds Yang et al.'s residual scale; ``motion_search`` (a radius in px) gives
    the motion analysis the encoder's block-matching flow (``motion_penalty``: rate-constrained),
    ``motion_vectors`` (steps per pixel) codes
    it as explicit vectors in the motion latent; ``residual: latent`` codes P-frames in the intra
    codec's latent space (``conditional``: under an entropy model conditioned on the prediction's
    latents), ``motion: false`` without a motion branch; ``adaptive_intra`` lets the encoder
    code a frame due to be predicted as an intra frame where that is smaller and closer (scene
    cuts). See the module docstring."""

    name = "ssf"

    def __init__(self, motion_entropy: EntropyModel, residual_entropy: EntropyModel,
                 quantizer: Quantizer, coder: Coder, intra: LearnedCodec | None = None, intra_model: str | None = None,
                 intra_period: int = 32, channels: int = 128, latent: int = 192,
                 levels: int = 5, sigma0: float = 1.5, scale_mediated: bool = False, adaptive_intra: bool = False,
                 motion_search: int = 0, motion_vectors: int = 0, residual: str = "pixels", motion: bool = True,
                 residual_entropy_init: str = "fresh", conditional: bool = False, motion_penalty: float = 0.0,
                 seed: int = 0):
        super().__init__()
        if intra_period < 0:
            raise ValueError(f"intra_period must be >= 0 (0: only the first frame), got {intra_period}")
        if (intra is None) == (intra_model is None):
            raise ValueError("give the intra codec as intra (a codec to build) or intra_model (a trained one: "
                             "a run directory or zoo:NAME), not both or neither")
        if intra_model is not None:
            try:
                intra = models.load_model(models.model_dir(intra_model))
            except (OSError, ValueError) as exc:
                raise ValueError(f"intra_model: {exc}") from None
            if not isinstance(intra, LearnedCodec):
                raise ValueError(f"intra_model: {intra_model} is a {intra.name!r} model, not an image codec")
        intra_latent = 0
        if residual == "latent":  # the latent's channels, from the codec's public interface
            try:
                side = intra.latent_stride
                intra_latent = intra.latents(torch.zeros(1, 3, side, side, device=intra.device)).shape[1]
            except TypeError as exc:
                raise ValueError(f"residual: latent: {exc}") from None
        self.intra, self.coder, self.intra_period, self.seed = intra, coder, int(intra_period), int(seed)
        self.adaptive_intra = bool(adaptive_intra)
        self.quality = intra.quality
        self.pframe = PFrameCoder(motion_entropy, residual_entropy, quantizer, channels, latent, levels, sigma0,
                                  scale_mediated, motion_search, motion_vectors, residual, motion, intra_latent,
                                  conditional, motion_penalty)
        if residual_entropy_init not in ("fresh", "intra"):
            raise ValueError(f"residual_entropy_init must be fresh or intra, not {residual_entropy_init!r}")
        if residual_entropy_init == "intra":
            self._residual_entropy_from_intra()

    def _residual_entropy_from_intra(self) -> None:
        """Start the latent residual's entropy model as the intra codec's own (its only
        :class:`EntropyModel`, of the same kind and size): an untrained P-frame then costs what
        an intra frame costs, and training lowers that from the first step."""
        own = [m for m in self.intra.modules() if isinstance(m, EntropyModel)]
        mine = self.pframe.residual_entropy
        if not self.pframe.latent_residual or len(own) != 1 or type(own[0]) is not type(mine):
            raise ValueError("residual_entropy_init: intra needs residual: latent and an intra codec with one entropy "
                             f"model of the residual's kind ({mine.name!r})")
        try:  # a conditional model's context network is its own (it starts as no change)
            loaded = mine.load_state_dict(own[0].state_dict(), strict=False)
            differ = [k for k in loaded.missing_keys if not k.startswith("context_fusion.")] + loaded.unexpected_keys
            if differ:
                raise RuntimeError(f"keys that differ: {', '.join(differ)}")
        except RuntimeError as exc:
            raise ValueError(f"residual_entropy_init: intra: the intra codec's entropy model differs in size "
                             f"({str(exc).splitlines()[-1].strip()})") from None

    @property
    def qualities(self) -> int:
        """The intra codec's rungs when the P-frames code in its latent space (one set of weights
        for every rung); else 1 (the P-frame coder is trained for one rate)."""
        return self.intra.qualities if self.pframe.latent_residual else 1

    def with_quality(self, quality: int) -> "ScaleSpaceFlowCodec":
        if self.qualities < 2:
            raise TypeError(f"codec {self.name!r} has a ladder only with residual: latent and an intra codec that has one")
        self.intra.with_quality(quality)  # checks the rung
        view = copy.copy(self)  # shares the modules (and the weights hash)
        view.quality = quality
        return view

    def _intra(self, quality: int | None = None) -> LearnedCodec:
        """The intra codec at this codec's rung (or at ``quality``)."""
        quality = self.quality if quality is None else quality
        return self.intra.with_quality(quality) if self.qualities > 1 else self.intra

    def forward(self, clip: torch.Tensor) -> dict:
        """Training over clips ``N x T x 3 x H x W`` (sides multiples of 64): the intra codec's
        pass on frame 0, then the P-frame chain, each frame predicted from the last
        reconstruction (gradients flow along the chain: error propagation is trained).
        ``x_bar`` holds the P-frames' predictions (``N x (T-1) x 3 x H x W``), ``flow`` their
        decoded flows (``dx, dy, s``) and, with ``motion_search``, ``found`` the searched ones."""
        if clip.dim() != 5:
            raise ValueError(f"ssf trains on clips N x T x 3 x H x W, got {tuple(clip.shape)}")
        intra = None
        if self.pframe.latent_residual:  # the intra codec fixed, at a rung drawn for the clip
            rung = int(torch.randint(self.qualities, ())) if self.training else self.quality
            intra = self._intra(rung)
            with torch.no_grad():
                out = {"x_hat": intra.latent_synthesis(torch.round(intra.latents(clip[:, 0]))), "likelihoods": {}}
        else:
            out = self.intra(clip[:, 0])
        likelihoods = {f"intra-{k}": v for k, v in out["likelihoods"].items()}
        frames, per_frame = [out["x_hat"]], []
        for t in range(1, clip.shape[1]):
            p = self.pframe(clip[:, t], frames[-1], intra)
            likelihoods |= {f"p{t}-{k}": v for k, v in p["likelihoods"].items()}
            frames.append(p["x_hat"])
            per_frame.append(p)
        out = {"x_hat": torch.stack(frames, dim=1), "likelihoods": likelihoods}
        for key in ("x_bar", "flow", "found"):  # the P-frames' predictions, flows, searched flows
            if per_frame and key in per_frame[0]:
                out[key] = torch.stack([p[key] for p in per_frame], dim=1)
        return out

    def update(self) -> None:
        self.intra.update()
        self.pframe.update()

    def is_intra(self, k: int) -> bool:
        return k == 0 or (self.intra_period > 0 and k % self.intra_period == 0)

    def sequence_encoder(self, width: int, height: int) -> "_Encoder":
        return _Encoder(self)

    def sequence_decoder(self, width: int, height: int) -> "_Decoder":
        return _Decoder(self, width, height)


class _Encoder:
    def __init__(self, codec: ScaleSpaceFlowCodec):
        self.codec, self.k, self.ref = codec, 0, None

    @torch.no_grad()
    def encode(self, frame: np.ndarray) -> tuple[bool, Payload, np.ndarray]:
        codec, intra = self.codec, self.codec.is_intra(self.k)
        if intra:
            payload, rec = codec._intra().encode_with_reconstruction(frame)
        else:
            h, w = frame.shape[:2]
            device = codec.device
            pairs, x_hat = codec.pframe.encode(pad_to(to_tensor(frame, device), PAD),
                                               pad_to(to_tensor(self.ref, device), PAD), codec.seed, codec._intra())
            ideal = sum(information_bits(s, d) for s, d in pairs)
            payload = Payload([encode_all(codec.coder, pairs)], [], ideal_bits=ideal)
            rec = to_image(x_hat[..., :h, :w])
            if codec.adaptive_intra:
                intra_payload, intra_rec = codec._intra().encode_with_reconstruction(frame)
                if _size(intra_payload) <= _size(payload) and _mse(intra_rec, frame) <= _mse(rec, frame):
                    intra, payload, rec = True, intra_payload, intra_rec
        self.k += 1
        self.ref = rec
        return intra, payload, rec


def _size(payload: Payload) -> int:
    return sum(len(s) for s in payload.streams) + 4 * len(payload.header)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b) ** 2))


class _Decoder:
    def __init__(self, codec: ScaleSpaceFlowCodec, width: int, height: int):
        self.codec, self.size, self.ref = codec, (height, width), None

    @torch.no_grad()
    def decode(self, intra: bool, payload: Payload) -> np.ndarray:
        codec = self.codec
        if intra:
            frame = codec.intra.decode(payload)
        else:
            if self.ref is None:
                raise ContainerError("corrupt file (a predicted frame before any intra frame)")
            if len(payload.streams) != 1 or payload.header:
                raise ContainerError("corrupt file (unexpected P-frame layout)")
            decoder = codec.coder.decoder(payload.streams[0])
            x_hat = codec.pframe.decode(decoder, pad_to(to_tensor(self.ref, codec.device), PAD), codec.seed,
                                        codec._intra())
            decoder.finish()
            frame = to_image(x_hat[..., : self.size[0], : self.size[1]])
        if frame.shape[:2] != self.size:
            raise ContainerError(f"corrupt file (a frame of {frame.shape[1]}x{frame.shape[0]} in a "
                                 f"{self.size[1]}x{self.size[0]} sequence)")
        self.ref = frame
        return frame


CODECS = [ScaleSpaceFlowCodec]
