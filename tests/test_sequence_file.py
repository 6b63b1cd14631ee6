"""The sequence container: any frames round-trip exactly, random access starts at the right
intra frame, and every truncation or flipped byte fails with a ContainerError after yielding
only frames that are exactly what was written."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nc_core.container import ContainerError, Payload
from nc_core.sequence_file import SequenceReader, SequenceWriter, is_sequence_file

DIGEST = bytes(range(8))

frame = st.tuples(st.booleans(), st.lists(st.integers(-2**40, 2**40), max_size=4),
                  st.lists(st.binary(max_size=40), max_size=3))
sequences = st.lists(frame, min_size=1, max_size=12).map(lambda fs: [(True, *fs[0][1:]), *fs[1:]])


def _write(frames, header=(640, 272, 32)) -> bytes:
    buf = io.BytesIO()
    writer = SequenceWriter(buf, "ssf", DIGEST, header)
    sizes = [writer.write(intra, Payload(streams, fields)) for intra, fields, streams in frames]
    assert writer.close() == len(buf.getvalue()) and sum(sizes) < len(buf.getvalue())
    return buf.getvalue()


def _as_tuples(items):
    return [(k, intra, p.header, p.streams) for k, intra, p in items]


def _expected(frames, first=0):
    return [(k, intra, list(fields), list(streams)) for k, (intra, fields, streams) in enumerate(frames)][first:]


@settings(max_examples=80, deadline=None)
@given(sequences, st.lists(st.integers(-5, 10**6), max_size=5))
def test_any_sequence_round_trips(frames, header):
    data = _write(frames, header)
    reader = SequenceReader(io.BytesIO(data))
    assert (reader.name, reader.digest, reader.header) == ("ssf", DIGEST, header)
    assert _as_tuples(reader.frames()) == _expected(frames)
    assert is_sequence_file(data)


@settings(max_examples=60, deadline=None)
@given(sequences, st.data())
def test_random_access_starts_at_the_last_intra_frame(frames, data):
    start = data.draw(st.integers(0, len(frames) - 1))
    reader = SequenceReader(io.BytesIO(_write(frames)))
    first = max(k for k, (intra, *_) in enumerate(frames) if intra and k <= start)
    assert [f for f, _ in reader.intra_frames()] == [k for k, (intra, *_) in enumerate(frames) if intra]
    assert _as_tuples(reader.frames(start)) == _expected(frames, first)
    with pytest.raises(ContainerError, match=f"beyond the {len(frames)} frames"):
        list(reader.frames(len(frames)))


def _read_all(data: bytes) -> list:
    got = []
    with pytest.raises(ContainerError) as err:
        for item in SequenceReader(io.BytesIO(data)).frames():
            got.extend(_as_tuples([item]))
    return got, str(err.value)


@settings(max_examples=40, deadline=None)
@given(sequences, st.data())
def test_truncation_and_flipped_bytes_fail_after_good_frames_only(frames, data):
    whole = _write(frames)
    expected = _expected(frames)
    cut = data.draw(st.integers(0, len(whole) - 1))
    got, message = _read_all(whole[:cut])
    assert got == expected[: len(got)] and ("truncated" in message or "magic" in message)
    pos = data.draw(st.integers(0, len(whole) - 1))
    flipped = bytearray(whole)
    flipped[pos] ^= 1 << data.draw(st.integers(0, 7))
    got, message = _read_all(bytes(flipped))
    assert got == expected[: len(got)] and message


def test_frames_are_named_in_errors_and_writers_check_their_input():
    frames = [(True, [1], [b"abc"]), (False, [2], [b"defg"]), (False, [3], [b"h"])]
    data = bytearray(_write(frames))
    reader = SequenceReader(io.BytesIO(bytes(data)))
    offsets = dict(reader.intra_frames())
    second = bytes(data).index(b"defg")
    data[second] ^= 0xFF
    got, message = _read_all(bytes(data))
    assert len(got) == 1 and message == "corrupt file (frame 1: CRC32 mismatch)" and offsets[0] > 0
    with pytest.raises(ValueError, match="starts with an intra frame"):
        SequenceWriter(io.BytesIO(), "ssf", DIGEST, []).write(False, Payload([], []))
    with pytest.raises(ContainerError, match="not an nc sequence file"):
        SequenceReader(io.BytesIO(b"NC\xc0\xde\x01rest"))
    unfinished = io.BytesIO()
    writer = SequenceWriter(unfinished, "ssf", DIGEST, [])
    writer.write(True, Payload([b"x"], []))
    got, message = _read_all(unfinished.getvalue())
    assert len(got) == 1 and message.startswith("truncated file")
