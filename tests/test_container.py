"""Container format: round trips, identity checks and corrupt input."""

from __future__ import annotations

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
