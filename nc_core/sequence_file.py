"""The nc sequence container: one file per compressed frame sequence (video), written and
read one frame at a time, with random access at every intra frame.

Layout (integers unsigned LEB128 varints unless stated; header fields zigzag-encoded)::

    magic        4 bytes  b"NC\\xc0\\xdf"
    version      1 byte   1
    codec name   varint length + UTF-8
    weights      8 bytes  first bytes of SHA-256 over the codec's state dict
    header       varint count + zigzag varints (frame size, intra period: codec specific)
    crc32        4 bytes  of everything above
    records      one per frame, in coding order:
                   varint length of the body (never 0), body, crc32 (4 bytes) of the body
                   body: varint kind (0 intra, 1 predicted), varint count + zigzag varints
                   (the frame's header fields), varint count + (varint length + bytes) streams
    end          varint 0
    index        varint frame count, varint intra count, then per intra frame: varint frame
                 number, varint byte offset of its record; crc32 (4 bytes) of the index
    trailer      4 bytes  little-endian byte offset of the index; 4 bytes b"NCsq"

A reader checks each record's CRC before handing it out, so a damaged or truncated file
yields every frame before the damage and then fails with one :class:`ContainerError` naming
the frame; a decoder that streams its output keeps the frames it already wrote. Random access
(:meth:`SequenceReader.frames` with ``start``) reads the trailer and the index, then seeks to
the last intra frame at or before ``start``. Every byte counts in the reported rate.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, Iterator, Sequence

from nc_core.container import (
    MAX_FIELDS,
    WEIGHTS_HASH_BYTES,
    ContainerError,
    Payload,
    _Reader,
    _unzigzag,
    _varint,
    _zigzag,
)

MAGIC = b"NC\xc0\xdf"
END_MAGIC = b"NCsq"
VERSION = 1
INTRA, PREDICTED = 0, 1
MAX_RECORD = 1 << 31


def _crc(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "little")


def _fields(values: Sequence[int]) -> list[bytes]:
    return [_varint(len(values)), *(_varint(_zigzag(int(v))) for v in values)]


def _read_fields(r: _Reader, what: str) -> list[int]:
    n = r.varint(what)
    if n > MAX_FIELDS:
        raise ContainerError(f"corrupt file (too many {what} fields)")
    return [_unzigzag(r.varint(what)) for _ in range(n)]


def is_sequence_file(head: bytes) -> bool:
    """Whether a file's first bytes are those of a sequence container."""
    return head[: len(MAGIC)] == MAGIC


class SequenceWriter:
    """Writes a sequence container to a binary ``stream``, frame by frame. ``close()`` writes
    the index and trailer; a file without them is truncated (its frames stay readable)."""

    def __init__(self, stream: BinaryIO, name: str, digest: bytes, header: Sequence[int]):
        if len(digest) != WEIGHTS_HASH_BYTES:
            raise ValueError(f"weights hash must be {WEIGHTS_HASH_BYTES} bytes")
        encoded = name.encode()
        head = b"".join([MAGIC, bytes([VERSION]), _varint(len(encoded)), encoded, digest, *_fields(header)])
        self.stream, self.frames, self.intra = stream, 0, []
        self.size = self._put(head + _crc(head))
        self.closed = False

    def _put(self, data: bytes) -> int:
        self.stream.write(data)
        return len(data)

    def write(self, intra: bool, payload: Payload) -> int:
        """Append one frame; the bytes it took (framing included)."""
        if self.closed:
            raise ValueError("the sequence is closed")
        if self.frames == 0 and not intra:
            raise ValueError("a sequence starts with an intra frame")
        parts = [_varint(INTRA if intra else PREDICTED), *_fields(payload.header), _varint(len(payload.streams))]
        for s in payload.streams:
            parts += [_varint(len(s)), s]
        body = b"".join(parts)
        if intra:
            self.intra.append((self.frames, self.size))
        self.frames += 1
        n = self._put(_varint(len(body)) + body + _crc(body))
        self.size += n
        return n

    def close(self) -> int:
        """Write the end marker, the index and the trailer; the file's size in bytes."""
        if not self.closed:
            index = b"".join([_varint(self.frames), _varint(len(self.intra)),
                              *(_varint(f) + _varint(o) for f, o in self.intra)])
            at = self.size + 1
            self.size += self._put(_varint(0) + index + _crc(index) + at.to_bytes(4, "little") + END_MAGIC)
            self.closed = True
        return self.size


class SequenceReader:
    """Reads a sequence container from a binary ``stream``: ``name``, ``digest`` and ``header``
    at once (checked), frames on demand with :meth:`frames`."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        first = stream.read(len(MAGIC) + 1)
        if first[: len(MAGIC)] != MAGIC:
            raise ContainerError("not an nc sequence file (bad magic bytes)")
        if len(first) < len(MAGIC) + 1:
            raise ContainerError("truncated file (in the header)")
        if first[-1] != VERSION:
            raise ContainerError(f"unsupported sequence format version {first[-1]} (this nc reads {VERSION})")
        rest = self._exactly(self._varint("codec name"), "codec name")
        try:
            self.name = rest.decode()
        except UnicodeDecodeError:
            raise ContainerError("corrupt file (codec name is not UTF-8)") from None
        self.digest = self._exactly(WEIGHTS_HASH_BYTES, "weights hash")
        raw = bytearray()
        n = self._varint("header", raw)
        if n > MAX_FIELDS:
            raise ContainerError("corrupt file (too many header fields)")
        for _ in range(n):
            self._varint("header", raw)
        head = first + _varint(len(rest)) + rest + self.digest + bytes(raw)
        if self._exactly(4, "header checksum") != _crc(head):
            raise ContainerError("corrupt file (header CRC32 mismatch)")
        self.header = _read_fields(_Reader(bytes(raw)), "header")
        self._first_record = len(head) + 4

    # -- low-level reads with clear errors ------------------------------------------------
    def _exactly(self, n: int, what: str) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise ContainerError(f"truncated file (while reading {what})")
        return data

    def _varint(self, what: str, raw: bytearray | None = None) -> int:
        n = shift = 0
        while True:
            byte = self._exactly(1, what)[0]
            if raw is not None:
                raw.append(byte)
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise ContainerError(f"corrupt file (oversized {what})")

    # -- frames ---------------------------------------------------------------------------
    def intra_frames(self) -> list[tuple[int, int]]:
        """``(frame number, byte offset)`` of every intra frame, from the index (the file must
        be complete and seekable)."""
        return self._index()[1]

    def _index(self) -> tuple[int, list[tuple[int, int]], int]:
        """``(frame count, intra frames, the index's offset)`` from the trailer and the index."""
        try:
            self.stream.seek(-8, 2)
            tail = self.stream.read(8)
        except OSError:
            raise ContainerError("random access needs a seekable file") from None
        if len(tail) != 8 or tail[4:] != END_MAGIC:
            raise ContainerError("truncated file (no index: decode it from the start)")
        at = int.from_bytes(tail[:4], "little")
        end = self.stream.seek(0, 2)
        if not self._first_record < at <= end - 12:
            raise ContainerError("corrupt file (index offset)")
        self.stream.seek(at)
        index = self.stream.read(end - 12 - at)
        if self.stream.read(4) != _crc(index):
            raise ContainerError("corrupt file (index CRC32 mismatch)")
        r = _Reader(index)
        frames, count = r.varint("index"), r.varint("index")
        if count > frames or count > MAX_FIELDS * 64:
            raise ContainerError("corrupt file (index)")
        intra = [(r.varint("index"), r.varint("index")) for _ in range(count)]
        if r.pos != len(index) or (frames and (not intra or intra[0] != (0, self._first_record))):
            raise ContainerError("corrupt file (index)")
        return frames, intra, at

    def frames(self, start: int = 0) -> Iterator[tuple[int, bool, Payload]]:
        """``(frame number, intra, payload)`` of every frame from the last intra frame at or
        before ``start`` to the end, each checked before it is yielded; then the end marker
        and the index are checked against what was read."""
        first, offset = 0, self._first_record
        if start:
            frames, intra, _ = self._index()
            if not 0 <= start < frames:
                raise ContainerError(f"frame {start} is beyond the {frames} frames of the file")
            first, offset = max((f, o) for f, o in intra if f <= start)
        self.stream.seek(offset)
        k, seen = first, []
        while True:
            at = self.stream.tell()
            length = self._varint(f"frame {k}")
            if length == 0:
                break
            if length > MAX_RECORD:
                raise ContainerError(f"corrupt file (frame {k}: record length)")
            body = self.stream.read(length)
            crc = self.stream.read(4)
            if len(body) != length or len(crc) != 4:
                raise ContainerError(f"truncated file (in frame {k})")
            if _crc(body) != crc:
                raise ContainerError(f"corrupt file (frame {k}: CRC32 mismatch)")
            r = _Reader(body)
            kind = r.varint("frame kind")
            if kind not in (INTRA, PREDICTED) or (k == first and kind != INTRA):
                raise ContainerError(f"corrupt file (frame {k}: kind {kind})")
            header = _read_fields(r, "frame header")
            n = r.varint("stream count")
            if n > MAX_FIELDS:
                raise ContainerError(f"corrupt file (frame {k}: too many streams)")
            streams = [r.take(r.varint("stream length"), "stream") for _ in range(n)]
            if r.pos != len(body):
                raise ContainerError(f"corrupt file (frame {k}: trailing bytes)")
            if kind == INTRA:
                seen.append((k, at))
            yield k, kind == INTRA, Payload(streams, header)
            k += 1
        index_start = self.stream.tell()
        frames_total, intra, at = self._index()
        if at != index_start or frames_total != k or [(f, o) for f, o in intra if f >= first] != seen:
            raise ContainerError("corrupt file (the index does not match the frames)")
