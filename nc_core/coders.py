"""The coder API every codec uses (public, see docs/plugin-guide.md): code a fixed list of
``(symbols, distribution)`` groups so that decoding returns them in list order whatever the
coder's ``order`` (:func:`encode_all` / :func:`decode_all`), and the byte form of
constriction's 32-bit words. Coders built on constriction live in
:mod:`nc_core.constriction_coders`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nc_core._deprecation import moved
from nc_core.coding import CodingDistribution

__all__ = ["bytes_to_words", "decode_all", "encode_all", "is_stack", "words_to_bytes"]


# --------------------------------------------------------------------------- group order


def encode_all(coder, pairs: Sequence[tuple[np.ndarray, CodingDistribution]]) -> bytes:
    """Code ``[(symbols, dist), ...]`` so that :func:`decode_all` returns them in list order.

    A ``"stack"`` coder gets the groups in reverse list order, a ``"queue"`` coder in order.
    """
    enc = coder.encoder()
    for symbols, dist in _in_coding_order(coder, list(pairs)):
        enc.encode(symbols, dist)
    return enc.finish()


def decode_all(coder, data: bytes, dists: Sequence[CodingDistribution]) -> list[np.ndarray]:
    """Inverse of :func:`encode_all`: the groups' symbols (int64, ``dist.shape``) in list
    order. Checks with ``finish()`` that the whole stream was consumed (``ValueError`` if not).
    """
    dec = coder.decoder(data)
    out = [dec.decode(dist) for dist in dists]
    dec.finish()
    return out


def _in_coding_order(coder, items: list) -> list:
    return items[::-1] if is_stack(coder) else items


def is_stack(coder) -> bool:
    """Whether ``coder`` is a stack (last in, first out) coder; ``ValueError`` if its
    ``order`` is neither ``"stack"`` nor ``"queue"``."""
    order = getattr(coder, "order", None)
    if order not in ("stack", "queue"):
        raise ValueError(f"coder {getattr(coder, 'name', coder)!r} has invalid order {order!r}")
    return order == "stack"


# ---------------------------------------------------------------------- serialisation


def words_to_bytes(words: np.ndarray) -> bytes:
    """constriction's uint32 words as little-endian bytes."""
    return np.asarray(words, dtype="<u4").tobytes()


def bytes_to_words(data: bytes) -> np.ndarray:
    """Inverse of :func:`words_to_bytes` (native uint32; ``ValueError`` unless ``len % 4 == 0``)."""
    data = bytes(data)
    if len(data) % 4:
        raise ValueError(f"coded stream of {len(data)} bytes is not a whole number of 32-bit words")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


__getattr__ = moved(__name__, {name: "nc_core.constriction_coders" for name in (
    "CHECK_WORD", "CHUNK", "NATIVE_MAX_SUPPORT", "WINDOW_BINS", "ConstrictionBackend", "ConstrictionCoder", "Stack")})
