"""Bits-back coding of a whole dataset as one chained message.

Items (flat integer arrays) are pushed one after another onto one stack (ANS) message: each
item's posterior samples are decoded from the bits the items before it left, so after the
first few items the bits-back discount is taken in full (chaining, BB-ANS's "bits back with
feedback"). Decoding pops the items in reverse order and restores every borrowed bit.

The initial bits are honest: the first samples need bits on the message before any item was
pushed. They come from ``initial_bits`` seeded random bits (``"auto"``: as many as a dry run of
the first item's samples reaches into the message) and/or from ``classical_items`` first items
coded with LZMA and pushed as bytes, as HiLLoC seeds its chain with FLIF. Both are part of the
message: every reported rate includes them, and they are also reported separately.

Message, bottom to top: check word, initial random words, LZMA bytes, item ``k``, ..., item
``n - 1``. Header: ``[items, initial words, classical items, LZMA bytes]``.
"""

from __future__ import annotations

import lzma

import numpy as np
import torch

from nc_bitsback.buckets import Buckets
from nc_bitsback.models import MarkovVAE
from nc_bitsback.schemes import SCHEMES, ItemCoder
from nc_core import container
from nc_core.coding import closed_categorical
from nc_core.contracts import Coder, LosslessCodec, Payload

WORD_DIGITS = 2  # a random 32-bit word is pushed as two uniform 16-bit digits
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
PROBE_WORDS = 1 << 14  # random words under the dry run that sizes the initial bits


class BitsBackCodec(LosslessCodec):
    """A :class:`MarkovVAE` and a stack coder, coding datasets as bits-back chains.

    ``shape`` is one item's shape (``C x H x W``) and ``levels`` its largest value (1: binary,
    255: 8-bit). ``latents`` are the latent layer sizes, bottom first (one layer: BB-ANS's
    VAE); ``precision`` the bits per latent bucket.
    """

    name = "bits-back"

    def __init__(self, coder: Coder, shape: list[int], levels: int = 255, latents: list[int] = (40,),
                 hidden: int = 200, likelihood: str = "logistic", scheme: str = "bb-ans", precision: int = 12,
                 initial_bits: int | str = "auto", classical_items: int = 0, seed: int = 0):
        super().__init__()
        if coder.order != "stack":
            raise ValueError(f"bits-back coding needs a stack coder (ans), not {coder.name!r} ({coder.order} order)")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        if not (initial_bits == "auto" or (isinstance(initial_bits, int) and initial_bits >= 0)):
            raise ValueError(f"initial_bits must be 'auto' or a number of bits >= 0, got {initial_bits!r}")
        if levels < 1:
            raise ValueError(f"levels (the largest item value) must be >= 1, got {levels}")
        if classical_items < 0:
            raise ValueError("classical_items must be >= 0")
        if classical_items and levels > 255:
            raise ValueError("classical_items codes items as bytes: levels must be <= 255")
        self.coder, self.shape, self.levels = coder, tuple(int(s) for s in shape), int(levels)
        self.scheme, self.initial_bits, self.classical_items, self.seed = scheme, initial_bits, int(classical_items), int(seed)
        dims = int(np.prod(self.shape))
        self.model = MarkovVAE(dims, self.levels, list(latents), int(hidden), likelihood)
        self.buckets = Buckets(precision)
        self.items = ItemCoder(self.model, self.buckets, scheme)

    # -- training -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict:
        """``{"bits": -ELBO in bits per item}`` for a batch of ``values / levels``."""
        return {"bits": self.model.negative_elbo_bits(torch.round(x * self.levels))}

    def model_bits(self, items: np.ndarray) -> np.ndarray:
        return self.negative_elbo_bits(items)

    @torch.no_grad()
    def negative_elbo_bits(self, items: np.ndarray, samples: int = 16, seed: int = 0) -> np.ndarray:
        """Test -ELBO per item in bits (continuous latents, mean over ``samples`` draws: an
        unbiased estimate of the -ELBO the coded rate is compared with)."""
        generator_state = torch.get_rng_state()
        torch.manual_seed(seed)
        try:
            x = torch.from_numpy(self._check_items(items))
            return np.mean([self.model.negative_elbo_bits(x, coding=True).double().numpy() for _ in range(samples)],
                           axis=0)
        finally:
            torch.set_rng_state(generator_state)

    # -- coding -------------------------------------------------------------------------------
    def _check_items(self, items) -> np.ndarray:
        a = np.asarray(items)
        if a.ndim < 1 or a.shape[1:] != self.shape:
            raise ValueError(f"items of shape {a.shape[1:]} for a codec of item shape {self.shape}")
        if a.dtype.kind not in "iub":
            raise ValueError(f"items must be integers, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() > self.levels):
            raise ValueError(f"item values must lie in 0..{self.levels}")
        return a.astype(np.int64).reshape(len(a), int(np.prod(self.shape)))

    def _random_words(self, count: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, count])
        return rng.integers(0, 1 << 16, count * WORD_DIGITS)

    @staticmethod
    def _digits(n: int, bits: int):
        return closed_categorical(np.ones(1 << bits), 0, shape=(n,))

    def _initial_words(self, first: np.ndarray) -> int:
        """Random words the first item's samples need (dry run on a deep random message)."""
        if self.initial_bits != "auto":
            return -(-int(self.initial_bits) // 32)
        if self.scheme == "two-part":
            return 0
        probe = self.coder.stack()
        probe.push(self._random_words(PROBE_WORDS), self._digits(PROBE_WORDS * WORD_DIGITS, 16))
        start = probe.num_bits()
        low = [start]
        self.items.push(probe, first, watch=lambda: low.append(probe.num_bits()))
        return -(-(start - min(low)) // 32) + 1  # one word of margin: samples differ slightly

    @torch.no_grad()
    def encode_set(self, items: np.ndarray, trace: list | None = None) -> Payload:
        """Code ``items`` (N x shape) as one message. ``trace`` (a list) receives the message
        size in bits after the initial bits and after each item."""
        flat = self._check_items(items)
        k = min(self.classical_items, len(flat))
        classical = lzma.compress(flat[:k].astype(np.uint8).tobytes(), format=lzma.FORMAT_RAW,
                                  filters=_LZMA_FILTERS) if k else b""
        words = self._initial_words(flat[k]) if len(flat) > k else 0
        if k and self.initial_bits == "auto":  # the LZMA bytes supply what they can
            words = max(0, words - len(classical) // 4)
        stack = self.coder.stack()
        if words:
            stack.push(self._random_words(words), self._digits(words * WORD_DIGITS, 16))
        if classical:
            stack.push(np.frombuffer(classical, dtype=np.uint8), self._digits(len(classical), 8))
        if trace is not None:
            trace.append(stack.num_bits())
        for x in flat[k:]:
            self.items.push(stack, x)
            if trace is not None:
                trace.append(stack.num_bits())
        return Payload([stack.to_bytes()], [len(flat), words, k, len(classical)])

    @torch.no_grad()
    def decode_set(self, payload: Payload) -> np.ndarray:
        if len(payload.header) != 4 or len(payload.streams) != 1:
            raise container.ContainerError("not a bits-back chain (header or streams)")
        n, words, k, nbytes = payload.header
        if min(payload.header) < 0 or k > n or (k == 0) != (nbytes == 0):
            raise container.ContainerError("corrupt bits-back header")
        limit = 8 * len(payload.streams[0]) + 64  # an item costs at least a few bits: no endless loop
        if n - k > limit or words * 32 > limit + 64 or nbytes * 8 > limit + 64:
            raise container.ContainerError("bits-back header claims more than the message holds")
        stack = self.coder.stack(payload.streams[0])
        out = np.empty((n, int(np.prod(self.shape))), dtype=np.int64)
        for i in range(n - 1, k - 1, -1):
            out[i] = self.items.pop(stack)
        if k:
            raw = stack.pop(self._digits(nbytes, 8)).astype(np.uint8).tobytes()
            try:
                first = np.frombuffer(lzma.decompress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS),
                                      dtype=np.uint8)
            except lzma.LZMAError as exc:
                raise ValueError(f"corrupt classical part of the chain ({exc})") from None
            if first.size != out[:k].size:
                raise ValueError("corrupt classical part of the chain (wrong size)")
            out[:k] = first.reshape(k, -1)
        if words and not np.array_equal(stack.pop(self._digits(words * WORD_DIGITS, 16)), self._random_words(words)):
            raise ValueError("corrupt bits-back chain (initial bits differ)")
        stack.close()
        return out.reshape(n, *self.shape)


CODECS = [BitsBackCodec]
