"""Container format: round trips, identity checks and corrupt input."""

from __future__ import annotations

import zlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nc_core import container
from nc_core.container import ContainerError
from nc_core.contracts import Payload


class Dummy(torch.nn.Module):
    name = "dummy"

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((3,), value))


headers = st.lists(st.integers(-(2**62), 2**62), max_size=8)
streams = st.lists(st.binary(max_size=300), max_size=5)


@settings(max_examples=200, deadline=None)
@given(headers, streams)
def test_pack_read_round_trip(header, data):
    codec = Dummy()
    packed = container.pack(codec, Payload(data, header))
    payload = container.unpack(codec, packed)
    assert payload.header == header and payload.streams == data
    assert container.header_size(packed, payload) == len(packed) - sum(map(len, data))


@settings(max_examples=300, deadline=None)
@given(headers, streams, st.data())
def test_any_corruption_or_truncation_is_a_container_error(header, data, draw):
    codec = Dummy()
    packed = bytearray(container.pack(codec, Payload(data, header)))
    if draw.draw(st.booleans()):
        cut = draw.draw(st.integers(0, len(packed) - 1))
        corrupt = bytes(packed[:cut])
    else:
        pos = draw.draw(st.integers(0, len(packed) - 1))
        packed[pos] ^= draw.draw(st.integers(1, 255))
        corrupt = bytes(packed)
    with pytest.raises(ContainerError):
        container.unpack(codec, corrupt)


def test_other_weights_or_codec_are_rejected():
    packed = container.pack(Dummy(1.0), Payload([b"abc"], [1, 2]))
    with pytest.raises(ContainerError, match="other weights"):
        container.unpack(Dummy(2.0), packed)
    other = Dummy()
    other.name = "another"
    with pytest.raises(ContainerError, match="made by codec 'dummy'"):
        container.unpack(other, packed)


def test_not_an_nc_file():
    with pytest.raises(ContainerError, match="not an nc compressed file"):
        container.read(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(ContainerError):
        container.read(b"")


def test_weights_hash_depends_on_every_tensor():
    a, b = Dummy(), Dummy()
    assert container.weights_hash(a) == container.weights_hash(b)
    with torch.no_grad():
        b.w[2] += 1e-7
    assert container.weights_hash(a) != container.weights_hash(b)


def test_learned_codec_hash_follows_loaded_weights():
    from nc_core.contracts import LearnedCodec

    class Tiny(LearnedCodec):
        name = "tiny"

        def __init__(self, value: float):
            super().__init__()
            self.w = torch.nn.Parameter(torch.full((3,), value))

    a, b = Tiny(1.0), Tiny(2.0)
    before = container.codec_digest(a)
    a.load_state_dict(b.state_dict())
    assert container.codec_digest(a) == container.codec_digest(b) != before


# -- format version 2: the image section -------------------------------------------------------

images = st.one_of(
    st.none(),
    st.sampled_from(["RGB", "L"]).map(container.ImageSection),
    st.tuples(st.sampled_from(["RGBA", "LA"]), st.binary(max_size=200)).map(lambda t: container.ImageSection(*t)),
)


@settings(max_examples=200, deadline=None)
@given(headers, streams, images)
def test_image_section_round_trip(header, data, image):
    codec = Dummy()
    packed = container.pack(codec, Payload(data, header), image)
    contents = container.parse(packed)
    assert contents.payload.header == header and contents.payload.streams == data
    assert contents.image == (image or container.PLAIN_RGB)
    assert container.unpack(codec, packed).streams == data  # codecs read version-2 files as before
    assert container.with_image(container.pack(codec, Payload(data, header)), image) == packed


def test_plain_rgb_files_are_version_1_byte_for_byte():
    """No image section for plain RGB: zero extra bytes, and exactly the version-1 layout."""
    codec = Dummy()
    payload = Payload([b"abc"], [300, 451, 0])
    plain = container.pack(codec, payload)
    assert plain == container.pack(codec, payload, container.ImageSection("RGB"))
    body = (container.MAGIC + b"\x01" + b"\x05dummy" + container.codec_digest(codec)
            + b"\x03" + b"\xd8\x04" + b"\x86\x07" + b"\x00" + b"\x01" + b"\x03abc")
    assert plain == body + zlib.crc32(body).to_bytes(4, "little")
    grey = container.pack(codec, payload, container.ImageSection("L"))
    assert grey[4] == 2 and len(grey) == len(plain) + 1  # one byte: the mode
    alpha = container.pack(codec, payload, container.ImageSection("RGBA", b"xyz"))
    assert len(alpha) == len(plain) + 1 + 1 + 3  # mode, alpha length, alpha bytes: all counted


@settings(max_examples=300, deadline=None)
@given(headers, streams, images, st.data())
def test_any_corruption_of_a_version_2_file_is_a_container_error(header, data, image, draw):
    codec = Dummy()
    packed = bytearray(container.pack(codec, Payload(data, header), image))
    if draw.draw(st.booleans()):
        corrupt = bytes(packed[: draw.draw(st.integers(0, len(packed) - 1))])
    else:
        pos = draw.draw(st.integers(0, len(packed) - 1))
        packed[pos] ^= draw.draw(st.integers(1, 255))
        corrupt = bytes(packed)
    with pytest.raises(ContainerError):
        container.parse(corrupt)


def _recrc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_bad_image_sections_behind_a_valid_crc_are_rejected():
    codec = Dummy()
    packed = container.pack(codec, Payload([b"abc"], [1]), container.ImageSection("LA", b"12"))
    body = packed[:-4]
    with pytest.raises(ContainerError, match="unsupported format version 3"):
        container.parse(_recrc(body[:4] + b"\x03" + body[5:]))
    mode_at = len(body) - 4  # mode, length 2, two alpha bytes
    with pytest.raises(ContainerError, match="image mode 9"):
        container.parse(_recrc(body[:mode_at] + b"\x09" + body[mode_at + 1:]))
    with pytest.raises(ContainerError, match="alpha plane"):
        container.parse(_recrc(body[:-1]))  # alpha cut short
    with pytest.raises(ContainerError, match="trailing"):
        container.parse(_recrc(body + b"!"))
    with pytest.raises(ContainerError, match="truncated"):  # a version-2 file without its section
        container.parse(_recrc(body[:mode_at]))


# -- every rejection names what is wrong, exactly -----------------------------------------------

DIGEST = bytes(range(8))


def _body(version=b"\x01", name=b"\x05dummy", digest=DIGEST, header=b"\x00", streams=b"\x00", image=b""):
    return container.MAGIC + version + name + digest + header + streams + image


MANY = container._varint(container.MAX_FIELDS + 1)
CORRUPT_FILES = [
    (b"", "not an nc compressed file (bad magic bytes)"),
    (b"NC\xc0", "not an nc compressed file (bad magic bytes)"),
    (b"NC\xc0\xdf" + bytes(20), "not an nc compressed file (bad magic bytes)"),
    (container.MAGIC + bytes(4), "truncated file"),
    (_body()[:-1] + b"\x01" + _recrc(_body())[-4:], "corrupt or truncated file (CRC32 mismatch)"),
    (_recrc(container.MAGIC + b"\x01"), "truncated file (while reading codec name)"),
    (_recrc(_body(version=b"\x00")), "unsupported format version 0 (this nc reads 1 and 2)"),
    (_recrc(_body(version=b"\x03")), "unsupported format version 3 (this nc reads 1 and 2)"),
    (_recrc(_body(name=b"\x02\xff\xfe")), "corrupt file (codec name is not UTF-8)"),
    (_recrc(_body(name=b"\x7fdummy")), "truncated file (while reading codec name)"),
    (_recrc(_body(digest=b"", header=b"", streams=b"")), "truncated file (while reading weights hash)"),
    (_recrc(_body(header=b"", streams=b"")), "truncated file (while reading header)"),
    (_recrc(_body(header=b"\x02\x01", streams=b"")), "truncated file (while reading header)"),
    (_recrc(_body(header=MANY)), "corrupt file (too many header fields)"),
    (_recrc(_body(header=b"\x01" + b"\xff" * 10 + b"\x01")), "corrupt file (oversized header)"),
    (_recrc(_body(streams=b"")), "truncated file (while reading stream count)"),
    (_recrc(_body(streams=MANY)), "corrupt file (too many streams)"),
    (_recrc(_body(streams=b"\x01")), "truncated file (while reading stream length)"),
    (_recrc(_body(streams=b"\x01\x04abc")), "truncated file (while reading stream)"),
    (_recrc(_body(streams=b"\x01\x80")), "truncated file (while reading stream length)"),
    (_recrc(_body(version=b"\x02")), "truncated file (while reading image mode)"),
    (_recrc(_body(version=b"\x02", image=b"\x04")), "corrupt file (image mode 4)"),
    (_recrc(_body(version=b"\x02", image=b"\x03")), "truncated file (while reading alpha plane)"),
    (_recrc(_body(version=b"\x02", image=b"\x02\x02a")), "truncated file (while reading alpha plane)"),
    (_recrc(_body(version=b"\x02", image=b"\x01\x00")), "corrupt file (trailing bytes)"),
    (_recrc(_body() + b"\x00"), "corrupt file (trailing bytes)"),
]


@pytest.mark.parametrize(("data", "message"), CORRUPT_FILES)
def test_each_corrupt_file_gets_its_exact_message(data, message):
    with pytest.raises(ContainerError) as caught:
        container.parse(data)
    assert str(caught.value) == message


def test_the_limits_themselves_still_parse():
    """Boundaries: MAX_FIELDS fields, a 10-byte varint, the shortest and longest image modes."""
    limit = container._varint(container.MAX_FIELDS)
    fields = _body(header=limit + b"\x02" * container.MAX_FIELDS)
    assert container.parse(_recrc(fields)).payload.header == [1] * container.MAX_FIELDS
    streams = _body(streams=limit + b"\x00" * container.MAX_FIELDS)
    assert container.parse(_recrc(streams)).payload.streams == [b""] * container.MAX_FIELDS
    wide = _body(header=b"\x01" + b"\xff" * 9 + b"\x01")  # shift reaches 63 and stops
    assert container.parse(_recrc(wide)).payload.header == [-(2**63)]
    for code, mode in enumerate(container.IMAGE_MODES):
        image = bytes([code]) + (b"\x02ab" if mode.endswith("A") else b"")
        contents = container.parse(_recrc(_body(version=b"\x02", image=image)))
        assert contents.image == container.ImageSection(mode, b"ab" if mode.endswith("A") else b"")
        assert (contents.name, contents.digest) == ("dummy", DIGEST)
    assert container.parse(_recrc(container.MAGIC + b"\x01" + b"\x00" + DIGEST + b"\x00\x00")).name == ""
    assert container.parse(_recrc(container.MAGIC + b"\x01" + b"\x00" + DIGEST + b"\x00\x00")).payload.streams == []
    with pytest.raises(ContainerError) as caught:  # the magic alone: an nc file, cut short
        container.parse(container.MAGIC)
    assert str(caught.value) == "truncated file"


def test_varints_and_zigzag_round_trip_at_their_edges():
    for n in (0, 1, 127, 128, 16383, 16384, 2**63, 2**64 - 1):
        coded = container._varint(n)
        assert len(coded) == max(1, -(-n.bit_length() // 7))
        assert container._Reader(coded).varint("x") == n
    for v in (0, 1, -1, 2, -2, 2**62, -(2**62), -(2**63)):
        assert container._unzigzag(container._zigzag(v)) == v
    assert [container._zigzag(v) for v in (0, -1, 1, -2, 2)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError) as caught:
        container._varint(-1)
    assert str(caught.value) == "varint must be non-negative"


def test_image_section_defaults_and_refusals():
    assert container.ImageSection().mode == "RGB" and container.ImageSection() == container.PLAIN_RGB
    with pytest.raises(ValueError) as caught:
        container.ImageSection("CMYK")
    assert str(caught.value) == "image mode must be one of RGB, L, RGBA, LA, not 'CMYK'"
    with pytest.raises(ValueError) as caught:
        container.ImageSection("L", b"alpha")
    assert str(caught.value) == "a L image has no alpha plane"
    assert Payload([b"a"], [1], ideal_bits=3.5).ideal_bits == 3.5


def test_weights_hash_is_sha256_over_names_dtypes_shapes_and_bytes():
    module = torch.nn.Module()
    module.register_buffer("a", torch.tensor([1.0, 2.0]))
    module.register_buffer("empty", torch.zeros(0, 3))
    import hashlib

    expected = hashlib.sha256(b"a|torch.float32|(2,)|" + torch.tensor([1.0, 2.0]).numpy().tobytes()
                              + b"empty|torch.float32|(0, 3)|").digest()[:8]
    assert container.weights_hash(module) == expected


def test_codec_digest_is_cached_until_forgotten():
    codec = Dummy(1.0)
    first = container.codec_digest(codec)
    with torch.no_grad():
        codec.w += 1  # in place, behind the cache's back
    assert container.codec_digest(codec) == first
    container.forget_digest(codec)
    assert container.codec_digest(codec) == container.weights_hash(codec) != first


def test_unpack_and_decode_turns_a_rejected_stream_into_a_container_error():
    codec = Dummy()
    packed = container.pack(codec, Payload([b"abc"], [7]))
    assert container.unpack_and_decode(codec, packed, lambda p: (p.streams, p.header)) == ([b"abc"], [7])

    def reject(payload):
        raise ValueError("bad stream")

    with pytest.raises(ContainerError) as caught:
        container.unpack_and_decode(codec, packed, reject)
    assert str(caught.value) == "corrupt compressed stream (bad stream)"
    original = ContainerError("from the codec")

    def refuse(payload):
        raise original

    with pytest.raises(ContainerError) as caught:
        container.unpack_and_decode(codec, packed, refuse)
    assert caught.value is original
    assert container.peek_weights(packed) == ("dummy", container.codec_digest(codec).hex())
