"""Component contracts: the base classes every registered component derives from.

A component is a class with a unique, stable ``name`` and a ``kind``. A pipeline names it with
``use: NAME``; the other keys of that YAML mapping are the keyword arguments of its
constructor, validated against the constructor's signature and type annotations before any
work starts (see :mod:`nc_core.pipeline`). A constructor parameter annotated with a component
kind (e.g. ``transform: Transform``) takes a nested ``{use: ...}`` mapping; one annotated with
a *sub-contract* of a kind (a subclass of its base, e.g. ``prior: Prior``) takes only components
deriving from that subclass, and validation names the ones that fit.
"""

from __future__ import annotations

import io
from itertools import chain
from typing import Any, BinaryIO, ClassVar, Iterable, Iterator, Literal, Protocol, Sequence

import attrs
import numpy as np
import torch
from torch import nn

from nc_core import container
from nc_core.coding import CodingDistribution
from nc_core.container import Payload
from nc_core.sequence_file import SequenceReader, SequenceWriter

__all__ = [
    "has_exact_synthesis",
    "module_device",
    "Component",
    "Coder",
    "Encoder",
    "Decoder",
    "ProbabilityModel",
    "Prior",
    "EntropyModel",
    "Transform",
    "Quantizer",
    "Metric",
    "Dataset",
    "Codec",
    "LearnedCodec",
    "LosslessCodec",
    "VideoCodec",
    "SequenceEncoder",
    "SequenceDecoder",
    "Baseline",
    "Loss",
    "Player",
    "Importer",
    "KINDS",
    "Payload",
]


class Component:
    """Base of every component. Subclasses set ``name`` (unique across all plugins).

    ``contract`` says in a few words what a component deriving from a class is, for messages
    (``"plain prior"``): the base of each kind and each sub-contract a constructor may annotate
    a slot with (:class:`Prior`, :class:`EntropyModel`, or a plugin's own) set it.
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    contract: ClassVar[str]


# ------------------------------------------------------------------------------ coders


class Encoder(Protocol):
    def encode(self, symbols: np.ndarray, dist: CodingDistribution) -> None:
        """Append ``symbols`` (any integers, shaped like ``dist.shape``) coded under ``dist``."""

    def finish(self) -> bytes:
        """The compressed bytes. The encoder is unusable afterwards."""


class Decoder(Protocol):
    def decode(self, dist: CodingDistribution) -> np.ndarray:
        """Decode ``dist.size`` symbols (int64, shaped ``dist.shape``)."""

    def finish(self) -> None:
        """Check the stream was consumed exactly; raise ``ValueError`` if not."""


class Coder(Component):
    """An entropy coder: integer symbols + coding distributions <-> bytes.

    Within one ``encode`` call, symbols come back from one ``decode`` call in the same order.
    Across calls, ``order`` says which call is decoded first: ``"stack"`` (last encoded, first
    decoded: ANS; bits-back needs this) or ``"queue"`` (first in, first out: arithmetic/range
    coding; autoregressive models need this). :func:`nc_core.coders.encode_all` and
    :func:`nc_core.coders.decode_all` handle the order for a fixed list of groups.
    """

    kind = "coder"
    order: ClassVar[Literal["stack", "queue"]]
    #: coding-distribution families this coder supports (see :data:`nc_core.coding.FAMILIES`)
    families: ClassVar[frozenset[str]]

    def encoder(self) -> Encoder:
        raise NotImplementedError

    def decoder(self, data: bytes) -> Decoder:
        raise NotImplementedError

    def stack(self, data: bytes | None = None):
        """A :class:`nc_core.coders.Stack`: one message symbols are pushed onto and popped
        from in any interleaving (bits-back coding). Only ``"stack"`` coders have one."""
        raise TypeError(f"coder {self.name!r} ({self.order} order) has no stack; bits-back coding needs a stack coder")


# -------------------------------------------------------------------- learned components


class ProbabilityModel(Component, nn.Module):
    """An entropy model over latents: the ``probability-model`` kind, holding two contracts.

    * :class:`Prior`: a plain prior. ``forward(y_tilde)`` gives likelihoods of the quantizer's
      training surrogate, ``coding_distribution(shape)`` the coder's distribution of the
      integer symbols (``transform-coding``'s ``prior``).
    * :class:`EntropyModel`: a hyperprior (conditional) entropy model that quantizes and codes
      side information itself: ``forward(y, quantizer, z=None)``, ``encode`` and ``decode``
      (``hyperprior``'s ``entropy``).

    A codec annotates its slot with the contract it calls, so validation rejects the other.
    Models with tables build them in ``update()`` (called once after training and before any
    coding); the tables are buffers saved with the weights, so a decoder never recomputes them.
    """

    kind = "probability-model"
    contract = "probability model"

    def bind(self, channels: int) -> "ProbabilityModel":
        """Size the model for ``channels`` latent channels; the codec calls this once, before
        training or loading weights, because the channel count belongs to the transform.
        Returns ``self``. Models whose size does not depend on it keep this default."""
        return self

    def update(self) -> None:
        """Build coding tables from the current parameters (no-op for table-free models)."""


class Prior(ProbabilityModel):
    """A plain prior over latents.

    ``forward(y_tilde, **cond)`` returns differentiable likelihoods (same shape as
    ``y_tilde``, the quantizer's ``for_rate`` output) for training;
    ``coding_distribution(shape, **cond)`` gives the coder an explicit :mod:`nc_core.coding`
    distribution for the integer symbols.
    """

    contract = "plain prior"
    #: a probability model that derives from ProbabilityModel only (a plugin written before the
    #: sub-contracts existed, when a probability model was a plain prior) still fits a Prior
    #: slot, with a DeprecationWarning
    takes_undeclared: ClassVar[bool] = True

    def coding_distribution(self, shape: Sequence[int], **cond: Any) -> CodingDistribution:
        raise NotImplementedError

    def centres(self) -> torch.Tensor | None:
        """Per-channel values (broadcastable to the latents) that the quantizer rounds around:
        symbols are ``round(y - centre)``; ``None`` (the default) rounds around zero."""
        return None


class EntropyModel(ProbabilityModel):
    """A hyperprior entropy model: it models latents ``y`` under side information ``z`` that
    it computes, quantizes and codes itself (e.g. under its own :class:`Prior`).

    ``forward(y, quantizer, z=None, context=None)`` (training) returns ``(y_syn, likelihoods)``:
    the latent the synthesis transform sees and ``{name: likelihoods}`` of every coded part
    (``"y"``, ``"z"``); ``z`` replaces the hyper-analysis of ``y`` (latent refinement optimises it).
    ``encode(y, quantizer, seed, z=None, context=None)`` quantizes a batch: ``(y_hat, groups)``,
    ``groups[i]`` image ``i``'s list of ``(int64 symbols, coding distribution)`` in decode order.
    ``decode(decoder, shape, quantizer, seed, context=None)`` decodes one image's ``y_hat``
    (``shape`` ``1 x M x h x w``) from an open :class:`Decoder`, equal to what ``encode`` gave.

    ``context`` (conditional coding, e.g. a video frame's latents given the previous frame's):
    a tensor ``N x K x h x w`` at the latents' resolution that both sides know, on which ``y``'s
    distribution also depends. A model is bound for ``K`` context channels (``bind(M,
    context=K)``); one that cannot use a context raises :class:`TypeError` there. The codec
    must give the decoder the very tensor the encoder had.
    """

    contract = "hyperprior entropy model"

    def bind(self, channels: int, context: int = 0) -> "EntropyModel":
        if context:
            raise TypeError(f"entropy model {self.name!r} takes no context")
        return self

    def forward(self, y: torch.Tensor, quantizer: Quantizer, z: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def encode(self, y: torch.Tensor, quantizer: Quantizer, seed: int, z: torch.Tensor | None = None,
               context: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, list[list[tuple[np.ndarray, CodingDistribution]]]]:
        raise NotImplementedError

    def decode(self, decoder: Decoder, shape: Sequence[int], quantizer: Quantizer, seed: int,
               context: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Transform(Component, nn.Module):
    """An analysis/synthesis pair: ``analysis(x) -> y``, ``synthesis(y_hat) -> x_hat``.

    ``stride`` is the total down-sampling factor (inputs are padded to a multiple of it);
    ``latent_channels`` the channel count of ``y``.
    """

    kind = "transform"
    stride: int
    latent_channels: int

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def exact_synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """The synthesis in exact fixed point (:mod:`nc_core.exact`): the same pixels for any
        thread count, batch or machine. Transforms that have one override this; a codec asked
        for ``exact_synthesis`` checks :func:`has_exact_synthesis` first."""
        raise NotImplementedError(f"transform {self.name!r} has no exact synthesis")


def has_exact_synthesis(transform: Transform) -> bool:
    """Whether ``transform`` overrides :meth:`Transform.exact_synthesis`."""
    return type(transform).exact_synthesis is not Transform.exact_synthesis


class Quantizer(Component):
    """Training surrogate and test-time map to integer symbols.

    ``for_rate(y)`` is what the entropy model sees during training, ``for_distortion(y)``
    what the synthesis transform sees. ``quantize(y, offset, seed)`` gives int64 symbols and
    ``dequantize(symbols, offset, seed)`` the reconstruction; ``offset`` (e.g. a predicted
    mean) is subtracted before rounding and added back, ``seed`` drives shared dither.
    """

    kind = "quantizer"

    def for_rate(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def for_distortion(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def quantize(self, y: torch.Tensor, offset: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
        raise NotImplementedError

    def dequantize(self, symbols: torch.Tensor, offset: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
        raise NotImplementedError


# ------------------------------------------------------------------------------ metrics


class Metric(Component):
    """A number computed per image.

    ``compute(original, reconstruction, num_bits)`` takes uint8 ``H x W x 3`` arrays (the real
    decoded image) and the coded size in bits. ``results_key`` is the field name in
    ``results.json`` (CompressAI's names). Distortions usable as a training loss also define
    ``distortion(x, x_hat)`` on float tensors in ``[0, 1]`` (lower is better, differentiable).

    A metric of a whole set (a distance between the distributions of the original and the
    decoded images: SWD, FID) sets ``per_image = False`` and defines
    ``compute_set(originals, reconstructions)`` instead: one number per rate point, absent from
    the per-image rows.
    """

    kind = "metric"
    higher_is_better: ClassVar[bool]
    unit: ClassVar[str] = ""
    results_key: ClassVar[str]
    per_image: ClassVar[bool] = True

    def compute(self, original: np.ndarray, reconstruction: np.ndarray, num_bits: int) -> float:
        raise NotImplementedError

    def compute_set(self, originals: Sequence[np.ndarray], reconstructions: Sequence[np.ndarray]) -> float:
        raise TypeError(f"metric {self.name!r} is computed per image, not over a set")

    def distortion(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"metric {self.name!r} cannot be used as a training distortion")


# ------------------------------------------------------------------------------ data


class Dataset(Component):
    """Images (or frame sequences) for training and evaluation.

    ``images()`` yields ``(name, uint8 H x W x 3 array)`` for evaluation (whole images);
    ``batches(seed)`` yields float ``N x 3 x P x P`` tensors in ``[0, 1]`` forever (random
    crops) for training.
    """

    kind = "dataset"

    def images(self) -> Iterator[tuple[str, np.ndarray]]:
        raise NotImplementedError

    def sequences(self) -> Iterator[tuple[str, Iterator[np.ndarray]]]:
        """Frame sequences for evaluating a video codec: ``(name, frames)``, ``frames`` an
        iterator of uint8 ``H x W x 3`` frames, produced as they are consumed (a video dataset's
        ``batches`` yields clips ``N x T x 3 x P x P``)."""
        raise TypeError(f"dataset {self.name!r} has no frame sequences (a video dataset has)")

    def batches(self, seed: int) -> Iterator[torch.Tensor]:
        raise NotImplementedError


# ------------------------------------------------------------------------------ codecs


class Codec(Component):
    """Anything that turns an image into bytes and back."""

    kind = "codec"

    def compress(self, image: np.ndarray) -> bytes:
        raise NotImplementedError

    def decompress(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for one with neither)."""
    for t in chain(module.parameters(), module.buffers()):
        return t.device
    return torch.device("cpu")


_DEVICE_DOC = """Where the networks run (``codec.to(device)`` moves them): images go there for the
analysis, and the synthesis runs there. Entropy models code through their host copies
(:func:`nc_core.devices.host_copy`): the coding distributions come from the exact fixed-point path
(:mod:`nc_core.exact`) on the host, so the symbols and the file are the same whichever device ran."""


class LearnedCodec(Codec, nn.Module):
    """A trainable codec.

    ``forward(x)`` (float ``N x 3 x H x W`` in ``[0, 1]``) returns ``{"x_hat": tensor,
    "likelihoods": {name: tensor}}`` with the training surrogate; ``reconstruct(x)`` gives the
    evaluation reconstruction (real quantization, no coding); ``encode(image)`` /
    ``decode(payload)`` code one uint8 image for real. ``compress`` / ``decompress`` wrap them
    in the container.
    """

    def __init__(self):
        nn.Module.__init__(self)
        # the weights hash written into files must follow the weights actually loaded
        self.register_load_state_dict_post_hook(container.forget_digest)

    def update(self) -> None:
        """Freeze coding tables after training (see :meth:`ProbabilityModel.update`)."""

    device = property(module_device, doc=_DEVICE_DOC)

    def encode(self, image: np.ndarray) -> Payload:
        raise NotImplementedError

    def decode(self, payload: Payload) -> np.ndarray:
        raise NotImplementedError

    def compress(self, image: np.ndarray) -> bytes:
        return container.pack(self, self.encode(image))

    def reconstruct(self, image: np.ndarray) -> np.ndarray:
        """The evaluation reconstruction: what ``decompress(compress(image))`` must return."""
        raise NotImplementedError

    def encode_with_reconstruction(self, image: np.ndarray) -> tuple[Payload, np.ndarray]:
        """``(encode(image), reconstruct(image))``; codecs whose encoder gets the
        reconstruction anyway (or whose encoder is randomised) override this."""
        return self.encode(image), self.reconstruct(image)

    def refined(self, loss: "Loss", steps: int, lr: float) -> "LearnedCodec":
        """This codec with test-time latent refinement: a view sharing the weights whose
        encoder optimises each image's latents for ``loss`` (``steps`` Adam steps at ``lr``)
        before coding them. Files stay decodable by the plain codec."""
        raise TypeError(f"codec {self.name!r} does not support latent refinement")

    def with_realism(self, realism: float) -> "LearnedCodec":
        """This codec decoding at realism ``realism`` in [0, 1] (a generative codec's decoder-side
        knob, ``nc decompress --realism``): a view sharing the weights. Files do not depend on it."""
        raise TypeError(f"codec {self.name!r} has no realism setting (a generative codec has)")

    #: the rung ``encode`` codes at, of ``qualities`` (a variable-rate codec has several, one set of weights)
    quality: int = 0

    @property
    def qualities(self) -> int:
        """How many rungs this codec's ladder has (1: a fixed-rate codec)."""
        return 1

    def with_quality(self, quality: int) -> "LearnedCodec":
        """This codec encoding at rung ``quality`` of its ladder (a variable-rate codec's
        encoder-side knob, ``nc compress --quality``): a view sharing the weights. The rung is
        written in the file, so any rung decodes with the same model."""
        raise TypeError(f"codec {self.name!r} has no quality ladder (a codec with `ladder:` has)")

    #: the total down-sampling of :meth:`latents` (0: the codec has no latent space)
    latent_stride: int = 0

    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous latents this codec's encoder quantizes for ``x`` (float ``N x 3 x H x
        W``, sides multiples of ``latent_stride``) at rung ``quality``: what a video codec can code
        against a prediction's latents (nc-video). Codecs without such a latent raise TypeError."""
        raise TypeError(f"codec {self.name!r} has no latent space to code in")

    def latent_synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """The decoder's image (float ``N x 3 x H x W``) of quantized latents ``y_hat`` at rung
        ``quality``, computed as its decoder computes it (the same on encoder and decoder)."""
        raise TypeError(f"codec {self.name!r} has no latent space to code in")

    def decompress(self, data: bytes) -> np.ndarray:
        return container.unpack_and_decode(self, data, self.decode)


class LosslessCodec(Codec, nn.Module):
    """A trainable lossless codec of *sets* of items: integer arrays of one ``shape``
    (``C x H x W``) with values ``0 .. levels``, coded as one message (a bits-back chain, or
    items one after another).

    ``forward(x)`` takes a training batch (float ``N x C x H x W`` holding ``values / levels``)
    and returns ``{"bits": per-item model code length in bits}`` (differentiable: -ELBO for a
    latent-variable model, the negative log-likelihood for an autoregressive one).
    ``model_bits(items)`` is that number on test items, what coded rates are compared with.
    ``encode_set(items, trace)`` / ``decode_set(payload)`` code ``N x C x H x W`` integer
    arrays; ``trace`` (a list) receives the message size in bits before the first item and
    after each item. ``compress_set`` / ``decompress_set`` wrap them in the container.
    """

    shape: tuple[int, ...]
    levels: int

    def __init__(self):
        nn.Module.__init__(self)
        self.register_load_state_dict_post_hook(container.forget_digest)

    def update(self) -> None:
        """Freeze coding tables after training (none by default)."""

    def model_bits(self, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode_set(self, items: np.ndarray, trace: list | None = None) -> Payload:
        raise NotImplementedError

    def decode_set(self, payload: Payload) -> np.ndarray:
        raise NotImplementedError

    def compress_set(self, items: np.ndarray, trace: list | None = None) -> bytes:
        return container.pack(self, self.encode_set(items, trace))

    def decompress_set(self, data: bytes) -> np.ndarray:
        return container.unpack_and_decode(self, data, self.decode_set)

    def compress(self, image: np.ndarray) -> bytes:
        """One ``H x W x C`` image (as datasets yield them) as a set of one."""
        return self.compress_set(np.asarray(image).transpose(2, 0, 1)[None])

    def decompress(self, data: bytes) -> np.ndarray:
        return self.decompress_set(data)[0].transpose(1, 2, 0)


class SequenceEncoder(Protocol):
    def encode(self, frame: np.ndarray) -> tuple[bool, Payload, np.ndarray]:
        """Code the next frame (uint8 ``H x W x 3``): ``(intra, payload, reconstruction)``, the
        reconstruction being the frame the decoder will output (and predict from)."""


class SequenceDecoder(Protocol):
    def decode(self, intra: bool, payload: Payload) -> np.ndarray:
        """The next decoded frame (uint8 ``H x W x 3``)."""


class VideoCodec(Codec, nn.Module):
    """A trainable low-latency codec of frame sequences: each frame is coded as it arrives,
    from the frames already decoded (no look-ahead), an intra frame every ``intra_period``
    frames (0: only the first), where decoding may start.

    ``forward(clip)`` (float ``N x T x 3 x H x W`` in ``[0, 1]``) is the training pass over
    whole clips with the prediction chain unrolled: ``{"x_hat": N x T x 3 x H x W,
    "likelihoods": {name: tensor}}``. ``sequence_encoder(width, height)`` and
    ``sequence_decoder(width, height)`` return the stateful coders of one sequence
    (:class:`SequenceEncoder`, :class:`SequenceDecoder`); a decoder given an intra frame starts
    afresh. ``compress_sequence`` / ``decompress_sequence`` wrap them in the sequence container
    (:mod:`nc_core.sequence_file`), frame by frame: memory does not grow with the sequence.
    """

    intra_period: int
    device = property(module_device, doc=_DEVICE_DOC)
    #: the rung coded at, of ``qualities`` (a video codec on a variable-rate intra codec has several)
    quality: int = 0

    @property
    def qualities(self) -> int:
        """How many rungs this codec's ladder has (1: a fixed-rate codec)."""
        return 1

    def with_quality(self, quality: int) -> "VideoCodec":
        """This codec coding at rung ``quality``: a view sharing the weights (see
        :meth:`LearnedCodec.with_quality`)."""
        raise TypeError(f"codec {self.name!r} has no quality ladder")

    def __init__(self):
        nn.Module.__init__(self)
        self.register_load_state_dict_post_hook(container.forget_digest)

    def update(self) -> None:
        """Freeze coding tables after training (see :meth:`ProbabilityModel.update`)."""

    def sequence_encoder(self, width: int, height: int) -> SequenceEncoder:
        raise NotImplementedError

    def sequence_decoder(self, width: int, height: int) -> SequenceDecoder:
        raise NotImplementedError

    def compress_sequence(self, frames: Iterable[np.ndarray], stream: BinaryIO, on_frame=None,
                          fps: float = 25.0) -> int:
        """Code ``frames`` into ``stream``; ``on_frame(frame, reconstruction, nbytes)`` sees each
        frame as it is coded (evaluation); ``fps`` is recorded for the decoder's output.
        Returns the file's size in bytes."""
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            raise ValueError("no frames to code")
        height, width = first.shape[:2]
        writer = SequenceWriter(stream, self.name, container.codec_digest(self),
                                [width, height, round(fps * 1000)] + ([self.quality] if self.qualities > 1 else []))
        encoder = self.sequence_encoder(width, height)
        for k, frame in enumerate(chain([first], frames)):
            if frame.shape != first.shape:
                raise ValueError(f"frame {k} is {frame.shape[1]}x{frame.shape[0]}, the sequence {width}x{height}")
            intra, payload, reconstruction = encoder.encode(frame)
            nbytes = writer.write(intra, payload)
            if on_frame is not None:
                on_frame(frame, reconstruction, nbytes)
        return writer.close()

    def decompress_sequence(self, stream: BinaryIO, start: int = 0) -> Iterator[np.ndarray]:
        """The decoded frames from frame ``start`` on (decoding begins at the intra frame at or
        before it), one at a time. A damaged file raises :class:`nc_core.container.ContainerError`
        at the first damaged frame, after every frame before it."""
        reader = SequenceReader(stream)
        if reader.name != self.name:
            raise container.ContainerError(f"file was made by codec {reader.name!r}, not {self.name!r}")
        if reader.digest != container.codec_digest(self):
            raise container.ContainerError(f"file was made with other weights (weights {reader.digest.hex()}, "
                                           f"this model {container.codec_digest(self).hex()})")
        if len(reader.header) < 2 or not all(0 < v <= 1 << 16 for v in reader.header[:2]):
            raise container.ContainerError("corrupt file (frame size)")
        codec = self
        if self.qualities > 1:  # the rung the encoder coded at
            if len(reader.header) < 4 or not 0 <= reader.header[3] < self.qualities:
                raise container.ContainerError(f"corrupt file (no rung of a {self.qualities}-rung ladder)")
            codec = self.with_quality(reader.header[3])
        decoder = codec.sequence_decoder(*reader.header[:2])
        for k, intra, payload in reader.frames(start):
            try:
                frame = decoder.decode(intra, payload)
            except container.ContainerError:
                raise
            except ValueError as exc:
                raise container.ContainerError(f"corrupt compressed stream in frame {k} ({exc})") from None
            if k >= start:
                yield frame

    def compress(self, image: np.ndarray) -> bytes:
        """One image as a sequence of one intra frame."""
        buf = io.BytesIO()
        self.compress_sequence([image], buf)
        return buf.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        return next(self.decompress_sequence(io.BytesIO(data)))


class Baseline(Codec):
    """A classical codec at one quality setting; ``qualities`` is its default sweep, ordered
    from low to high rate. ``lossless`` baselines code sets of items for lossless pipelines:
    ``compress_set(items)`` (``N x H x W x C`` uint8) gives the bytes of the whole set — one
    file per item by default, one file for all of them for a general-purpose compressor.
    ``video`` baselines code frame sequences: ``compress_sequence(frames, fps)`` gives one file,
    ``decompress_sequence(data)`` its frames."""

    kind = "baseline"
    qualities: ClassVar[Sequence[int]]
    lossless: ClassVar[bool] = False
    #: a video baseline codes frame sequences (a video codec's pipeline takes only these)
    video: ClassVar[bool] = False
    #: its curve's kind in results: ``baseline`` (an anchor every nc curve is compared with) or
    #: ``nc`` (another trained nc model: compared with the anchors itself, in the same tables)
    curve_kind: ClassVar[str] = "baseline"

    def __init__(self, quality: int):
        self.quality = quality

    @property
    def label(self) -> str:
        """The curve's name in results and reports (the component's name unless it says more)."""
        return self.name

    def compress_set(self, items: np.ndarray) -> list[bytes]:
        """The files coding ``items`` (``N x H x W x C`` uint8)."""
        raise TypeError(f"baseline {self.name!r} is not a lossless baseline")

    def decompress_set(self, files: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
        """Inverse of :meth:`compress_set` (``shape``: the items' array shape)."""
        raise TypeError(f"baseline {self.name!r} is not a lossless baseline")

    def compress_sequence(self, frames: Iterable[np.ndarray], fps: float = 25.0) -> bytes:
        """The file coding a frame sequence (uint8 ``H x W x 3`` frames), for a video baseline."""
        raise TypeError(f"baseline {self.name!r} codes images, not frame sequences")

    def decompress_sequence(self, data: bytes) -> Iterator[np.ndarray]:
        """The decoded frames of :meth:`compress_sequence`'s file, one at a time."""
        raise TypeError(f"baseline {self.name!r} codes images, not frame sequences")


@attrs.define
class Player:
    """One more optimiser in a multi-player objective (a GAN's discriminator, an auxiliary
    density): its own parameters, learning rate and step drop. The runner calls
    ``step(x, output, codec) -> (scalar, {name: float})`` every training step, before the
    model's own loss, and takes one Adam step on ``parameters`` with that scalar. ``output``
    is the codec's forward pass of this step: detach what the player must not train through."""

    name: str
    parameters: list
    step: Any
    lr: float
    lr_drop: tuple[float, float] = (1.0, 1.0)  # (at this fraction of the steps, multiply by)


class Loss(Component):
    """A training objective: ``loss(batch, output, codec) -> (scalar, {name: float})``.

    ``batch(x)`` may reshape each training batch before the codec sees it (default: as is).
    ``model_parameters(codec)`` says which parameters the model's optimiser trains (default:
    all of the codec's; a second training stage may freeze some). ``players(codec)`` adds
    optimisers of their own (:class:`Player`, default none); a loss that owns networks (a
    discriminator) is an ``nn.Module`` too, and its ``state_dict`` is checkpointed with the model.
    """

    kind = "loss"

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """The training batch this objective trains on, from the dataset's (default: as is);
        e.g. a video codec's first stage keeps the first two frames of each clip."""
        return x

    def __call__(self, x: torch.Tensor, output: dict, codec: LearnedCodec) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def model_parameters(self, codec: LearnedCodec) -> list:
        return list(codec.parameters())

    def players(self, codec: LearnedCodec) -> list[Player]:
        return []


class Importer(Component):
    """Converts another framework's trained checkpoint into an nc model (``nc import NAME``).

    ``architectures`` lists what ``--arch`` accepts. ``convert(state, arch)`` takes the
    checkpoint's state dict (tensors by name) and returns ``(codec, weights)``: the ``codec:``
    section of a pipeline and the state dict of the codec it builds. Coding tables (buffers
    that ``update()`` builds) may be left out; every other key must be there. Raise
    ``ValueError`` with one line naming the key when the checkpoint does not fit ``arch``.
    """

    kind = "importer"
    contract = "checkpoint importer"
    architectures: ClassVar[tuple[str, ...]] = ()

    def convert(self, state: dict[str, torch.Tensor], arch: str) -> tuple[dict, dict[str, torch.Tensor]]:
        raise NotImplementedError


#: kind name -> base class
KINDS: dict[str, type[Component]] = {
    cls.kind: cls
    for cls in (Coder, ProbabilityModel, Transform, Quantizer, Metric, Dataset, Codec, Baseline, Loss, Importer)
}
