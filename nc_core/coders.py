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

__all__ = ["SUPPORT_LIMIT", "bytes_to_words", "check_support", "decode_all", "encode_all", "flat_symbols", "is_stack",
           "words_to_bytes"]

#: supports must lie within +-SUPPORT_LIMIT (int64 arithmetic never overflows then)
SUPPORT_LIMIT = 1 << 62


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


# --------------------------------------------------------------------- input checks


def flat_symbols(symbols, dist: CodingDistribution) -> np.ndarray:
    """What every coder's ``encode`` checks first: integer ``symbols`` shaped like ``dist``
    (``TypeError`` / ``ValueError`` otherwise) on a codable support; returns them flat, int64."""
    a = np.asarray(symbols)
    if a.dtype.kind not in "iub":
        raise TypeError(f"symbols must be integers, got dtype {a.dtype}")
    if a.shape != tuple(dist.shape):
        raise ValueError(f"symbols of shape {a.shape} for a distribution of shape {dist.shape}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError("symbols beyond the int64 range")
    check_support(dist)
    return np.ascontiguousarray(a, dtype=np.int64).reshape(-1)


def check_support(dist: CodingDistribution) -> None:
    """``ValueError`` unless ``dist``'s support lies within ``+-SUPPORT_LIMIT``."""
    if dist.family == "tables":
        lo, hi = dist.offsets, dist.offsets + dist.lengths - 1
        bad = lo.size and (lo.min() < -SUPPORT_LIMIT or hi.max() > SUPPORT_LIMIT)
    else:
        bad = dist.lo < -SUPPORT_LIMIT or dist.hi > SUPPORT_LIMIT
    if bad:
        raise ValueError(f"{dist.family} support beyond +-2**62 cannot be coded")


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
