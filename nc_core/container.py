"""The nc container: one self-describing file per compressed image.

Layout (all integers unsigned LEB128 varints unless stated; header fields zigzag-encoded)::

    magic        4 bytes  b"NC\\xc0\\xde"
    version      1 byte   1, or 2 when an image section follows the streams
    codec name   varint length + UTF-8
    weights      8 bytes  first bytes of SHA-256 over the codec's state dict
    header       varint count + zigzag varints (shapes, seeds: codec specific)
    streams      varint count + (varint length + bytes) each
    image        version 2 only: varint mode (index in IMAGE_MODES), then for RGBA and LA
                 varint length + the alpha plane (empty: fully opaque; else a PNG)
    crc32        4 bytes  little-endian CRC32 of everything before it

Every byte counts in the reported rate. A plain RGB image needs no image section, so its file
is a version-1 file, byte for byte what version 1 wrote. Reading validates the magic, CRC,
version and lengths before anything is decoded, so a corrupt or truncated file fails with one
clear :class:`ContainerError` instead of decoding garbage.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

import torch

MAGIC = b"NC\xc0\xde"
#: the newest version this nc writes and reads (it writes 1 when there is no image section)
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: the decoded image's mode, by its code in the image section (version 1 files are RGB)
IMAGE_MODES = ("RGB", "L", "RGBA", "LA")
WEIGHTS_HASH_BYTES = 8
MAX_FIELDS = 1 << 16


class Payload:
    """What a codec's ``encode`` returns and its ``decode`` takes: coded streams plus the
    integer header fields (shapes, seeds) needed to decode them. The container
    (:mod:`nc_core.container`) adds framing, codec identity and integrity checks.
    ``ideal_bits`` is the information content ``-sum log2 P`` of the coded symbols, when the
    encoder knows it (reports compare the real stream size with it)."""

    __slots__ = ("streams", "header", "ideal_bits")

    def __init__(self, streams: Sequence[bytes], header: Sequence[int], ideal_bits: float | None = None):
        self.streams = [bytes(s) for s in streams]
        self.header = [int(h) for h in header]
        self.ideal_bits = ideal_bits


class ImageSection:
    """What a file records about the image besides the codec's payload: the decoded file's
    ``mode`` (one of :data:`IMAGE_MODES`) and, for ``RGBA``/``LA``, the alpha plane as
    :func:`nc_core.imaging.encode_alpha` codes it (empty: fully opaque)."""

    __slots__ = ("mode", "alpha")

    def __init__(self, mode: str = "RGB", alpha: bytes = b""):
        if mode not in IMAGE_MODES:
            raise ValueError(f"image mode must be one of {', '.join(IMAGE_MODES)}, not {mode!r}")
        if alpha and not mode.endswith("A"):
            raise ValueError(f"a {mode} image has no alpha plane")
        self.mode, self.alpha = mode, bytes(alpha)

    def __eq__(self, other) -> bool:
        return isinstance(other, ImageSection) and (self.mode, self.alpha) == (other.mode, other.alpha)

    def __repr__(self) -> str:
        return f"ImageSection({self.mode!r}, {len(self.alpha)} alpha bytes)"


#: a version-1 file's image: RGB, no alpha
PLAIN_RGB = ImageSection()


class Contents:
    """Everything a container holds: codec name, weights hash, payload and image section."""

    __slots__ = ("name", "digest", "payload", "image")

    def __init__(self, name: str, digest: bytes, payload: Payload, image: ImageSection):
        self.name, self.digest, self.payload, self.image = name, digest, payload, image


class ContainerError(ValueError):
    """A file that is not a valid nc container for this model (user input error)."""


def weights_hash(module: torch.nn.Module) -> bytes:
    """SHA-256 over names, dtypes, shapes and bytes of the state dict, in key order."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.digest()[:WEIGHTS_HASH_BYTES]


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) if n >= 0 else ((-n << 1) - 1)


def _unzigzag(z: int) -> int:
    return (z >> 1) ^ -(z & 1)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):  # n is a length read from the file, never negative
            raise ContainerError(f"truncated file (while reading {what})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def varint(self, what: str) -> int:
        n = shift = 0
        while True:
            byte = self.take(1, what)[0]
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise ContainerError(f"corrupt file (oversized {what})")


def codec_digest(codec) -> bytes:
    """The weights hash of a codec, cached until :func:`forget_digest` (called when weights
    are loaded and after ``update()`` builds new tables)."""
    cached = getattr(codec, "_nc_weights_hash", None)
    if cached is None:
        cached = weights_hash(codec)
        codec._nc_weights_hash = cached
    return cached


def forget_digest(codec, *_) -> None:
    """Drop a cached weights hash (usable as a ``load_state_dict`` post hook)."""
    codec._nc_weights_hash = None


def pack(codec, payload: Payload, image: ImageSection | None = None) -> bytes:
    """A file holding ``payload`` coded by ``codec``; ``image`` (when not plain RGB) adds the
    image section (format version 2)."""
    return _pack(codec.name, codec_digest(codec), payload, image)


def _pack(name: str, digest: bytes, payload: Payload, image: ImageSection | None) -> bytes:
    image = None if image == PLAIN_RGB else image
    encoded = name.encode()
    parts = [MAGIC, bytes([1 if image is None else 2]), _varint(len(encoded)), encoded, digest]
    parts.append(_varint(len(payload.header)))
    parts += [_varint(_zigzag(h)) for h in payload.header]
    parts.append(_varint(len(payload.streams)))
    for stream in payload.streams:
        parts += [_varint(len(stream)), stream]
    if image is not None:
        parts.append(_varint(IMAGE_MODES.index(image.mode)))
        if image.mode.endswith("A"):
            parts += [_varint(len(image.alpha)), image.alpha]
    body = b"".join(parts)
    return body + zlib.crc32(body).to_bytes(4, "little")


def with_image(data: bytes, image: ImageSection | None) -> bytes:
    """``data`` (a file, checked as :func:`read` does) with its image section replaced: how
    ``nc compress`` adds the input's mode and alpha to whatever a codec's ``compress`` wrote."""
    contents = parse(data)
    return _pack(contents.name, contents.digest, contents.payload, image)


def header_size(data: bytes, payload: Payload) -> int:
    """Bytes of ``data`` that are not entropy-coded stream content."""
    return len(data) - sum(len(s) for s in payload.streams)


def read(data: bytes) -> tuple[str, bytes, Payload]:
    """Parse and check a container: ``(codec name, weights hash, payload)``."""
    contents = parse(data)
    return contents.name, contents.digest, contents.payload


def parse(data: bytes) -> Contents:
    """Parse and check a container (all of it, CRC first): its :class:`Contents`."""
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise ContainerError("not an nc compressed file (bad magic bytes)")
    if len(data) < len(MAGIC) + 1 + 4:
        raise ContainerError("truncated file")
    body, crc = data[:-4], int.from_bytes(data[-4:], "little")
    if zlib.crc32(body) != crc:
        raise ContainerError("corrupt or truncated file (CRC32 mismatch)")
    r = _Reader(body)
    r.take(len(MAGIC), "magic")
    version = r.take(1, "version")[0]
    if version not in READABLE_VERSIONS:
        raise ContainerError(f"unsupported format version {version} "
                             f"(this nc reads {' and '.join(map(str, READABLE_VERSIONS))})")
    try:
        name = r.take(r.varint("codec name"), "codec name").decode()
    except UnicodeDecodeError:
        raise ContainerError("corrupt file (codec name is not UTF-8)") from None
    digest = r.take(WEIGHTS_HASH_BYTES, "weights hash")
    n = r.varint("header")
    if n > MAX_FIELDS:
        raise ContainerError("corrupt file (too many header fields)")
    header = [_unzigzag(r.varint("header")) for _ in range(n)]
    n = r.varint("stream count")
    if n > MAX_FIELDS:
        raise ContainerError("corrupt file (too many streams)")
    streams = [r.take(r.varint("stream length"), "stream") for _ in range(n)]
    image = PLAIN_RGB
    if version >= 2:
        code = r.varint("image mode")
        if code >= len(IMAGE_MODES):
            raise ContainerError(f"corrupt file (image mode {code})")
        mode = IMAGE_MODES[code]
        alpha = r.take(r.varint("alpha plane"), "alpha plane") if mode.endswith("A") else b""
        image = ImageSection(mode, alpha)
    if r.pos != len(body):
        raise ContainerError("corrupt file (trailing bytes)")
    return Contents(name, digest, Payload(streams, header), image)


def unpack(codec, data: bytes) -> Payload:
    """Read a container written by ``codec`` with these very weights."""
    name, digest, payload = read(data)
    if name != codec.name:
        raise ContainerError(f"file was made by codec {name!r}, not {codec.name!r}")
    if digest != codec_digest(codec):
        raise ContainerError(
            f"file was made with other weights (weights {digest.hex()}, this model {codec_digest(codec).hex()})"
        )
    return payload


def unpack_and_decode(codec, data: bytes, decode):
    """Check the container, then ``decode(payload)``; a coder that rejects a stream which
    passed the CRC is a corrupt file too (:class:`ContainerError`)."""
    payload = unpack(codec, data)
    try:
        return decode(payload)
    except ContainerError:
        raise
    except ValueError as exc:
        raise ContainerError(f"corrupt compressed stream ({exc})") from None


def peek_weights(data: bytes) -> tuple[str, str]:
    """``(codec name, weights hash hex)`` of a valid container, to find its model."""
    name, digest, _ = read(data)
    return name, digest.hex()
