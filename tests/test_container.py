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
