"""The VideoCodec contract's container plumbing, with a toy codec (intra frames stored raw,
P-frames as the difference from the previous frame, mod 256): sequences round-trip, start at
intra frames, refuse frames of another size, and name the codec a file was made by."""

from __future__ import annotations

import io

import numpy as np
import pytest

from nc_core.container import ContainerError, Payload
from nc_core.contracts import VideoCodec


class ToyVideo(VideoCodec):
    name = "toy-video"

    def __init__(self, intra_period=2):
        super().__init__()
        self.intra_period = intra_period

    def sequence_encoder(self, width, height):
        state = {"k": 0, "ref": None}

        def encode(frame):
            intra = state["k"] % self.intra_period == 0
            data = frame if intra else (frame.astype(np.int16) - state["ref"]) % 256
            state["k"], state["ref"] = state["k"] + 1, frame
            return intra, Payload([data.astype(np.uint8).tobytes()], [height, width]), frame

        return type("Enc", (), {"encode": staticmethod(encode)})()

    def sequence_decoder(self, width, height):
        state = {"ref": None}

        def decode(intra, payload):
            data = np.frombuffer(payload.streams[0], np.uint8).reshape(height, width, 3)
            frame = data if intra else ((state["ref"].astype(np.int16) + data) % 256).astype(np.uint8)
            state["ref"] = frame
            return frame

        return type("Dec", (), {"decode": staticmethod(decode)})()


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(5)]


def test_sequences_round_trip_and_start_at_intra_frames(frames):
    codec, buf = ToyVideo(), io.BytesIO()
    coded = []
    codec.compress_sequence(iter(frames), buf, on_frame=lambda f, r, n: coded.append(n))
    assert len(coded) == 5 and all(n > 90 for n in coded)
    data = buf.getvalue()
    assert all(np.array_equal(a, b) for a, b in zip(codec.decompress_sequence(io.BytesIO(data)), frames))
    from_three = list(codec.decompress_sequence(io.BytesIO(data), start=3))
    assert len(from_three) == 2 and all(np.array_equal(a, b) for a, b in zip(from_three, frames[3:]))
    assert np.array_equal(codec.decompress(codec.compress(frames[1])), frames[1])


def test_sequence_errors(frames):
    codec = ToyVideo()
    with pytest.raises(ValueError, match="frame 2 is 4x6, the sequence 5x6"):
        codec.compress_sequence([frames[0], frames[1], frames[2][:, :4]], io.BytesIO())
    with pytest.raises(ValueError, match="no frames"):
        codec.compress_sequence([], io.BytesIO())
    buf = io.BytesIO()
    codec.compress_sequence(frames, buf)
    other = ToyVideo()
    other.name = "other-video"
    with pytest.raises(ContainerError, match="made by codec 'toy-video', not 'other-video'"):
        next(other.decompress_sequence(io.BytesIO(buf.getvalue())))
