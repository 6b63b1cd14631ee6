"""The ssf video codec: the GOP structure, exact decoding along the chain at any thread count,
random access at intra frames, streaming decode, and damaged files that fail cleanly after
the good frames."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch

from nc_core.container import ContainerError
from nc_core.pipeline import PipelineError, build


@pytest.fixture(scope="module")
def codec(ssf_spec):
    torch.manual_seed(0)
    codec = build(ssf_spec, "codec")
    with torch.no_grad():  # a flow decoder that moves and blurs
        for p in codec.pframe.motion_synthesis[-1].parameters():
            p.normal_(0, 0.05)
    codec.update()
    return codec.eval()


@pytest.fixture(scope="module")
def frames():
    base = np.random.default_rng(0).integers(0, 256, (50, 120, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, 3 * k:3 * k + 70]) for k in range(8)]  # 70 x 50: padded to 128 x 64


def _code(codec, frames):
    buf, seen = io.BytesIO(), []
    size = codec.compress_sequence(frames, buf, on_frame=lambda f, rec, n: seen.append((rec, n)))
    assert size == len(buf.getvalue()) and sum(n for _, n in seen) < size
    return buf.getvalue(), [r for r, _ in seen]


def test_gop_structure(codec, ssf_spec):
    assert [k for k in range(8) if codec.is_intra(k)] == [0, 3, 6]
    only_first = build(ssf_spec | {"intra_period": 0}, "codec")
    assert [k for k in range(8) if only_first.is_intra(k)] == [0]
    with pytest.raises(PipelineError, match="intra_period must be >= 0"):
        build(ssf_spec | {"intra_period": -1}, "codec")


@pytest.mark.parametrize("threads", [1, 2])
def test_decoding_equals_the_encoder_reconstructions_along_the_chain(codec, frames, threads):
    data, recs = _code(codec, frames)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        decoded = list(codec.decompress_sequence(io.BytesIO(data)))
    finally:
        torch.set_num_threads(saved)
    assert len(decoded) == 8 and all(np.array_equal(a, b) for a, b in zip(decoded, recs))
    assert all(d.shape == (50, 70, 3) for d in decoded)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_on_the_gpu_the_chain_decodes_exactly_and_its_file_reads_on_the_cpu(codec, frames):
    import copy

    gpu = copy.deepcopy(codec).to("cuda")
    data, recs = _code(gpu, frames)
    decoded = list(gpu.decompress_sequence(io.BytesIO(data)))
    assert all(np.array_equal(a, b) for a, b in zip(decoded, recs))
    # the entropy models run on the host: the CPU reads the same symbols; its pixels may differ
    # by float rounding, which P-frames carry forward until the next intra frame
    on_cpu = list(codec.decompress_sequence(io.BytesIO(data)))
    assert len(on_cpu) == len(recs) and np.abs(on_cpu[0].astype(int) - recs[0].astype(int)).max() <= 2


def test_random_access_from_an_intra_frame_in_the_middle(codec, frames):
    data, recs = _code(codec, frames)
    for start in (3, 4, 7):
        decoded = list(codec.decompress_sequence(io.BytesIO(data), start=start))
        assert len(decoded) == 8 - start and all(np.array_equal(a, b) for a, b in zip(decoded, recs[start:]))


class _Counting(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.most = 0

    def read(self, n=-1):
        out = super().read(n)
        self.most = max(self.most, self.tell())
        return out


def test_decoding_streams_frame_by_frame(codec, frames):
    data, _ = _code(codec, frames)
    stream = _Counting(data)
    next(codec.decompress_sequence(stream))
    assert stream.most < len(data) / 4  # the first frame, not the file


def test_damaged_files_fail_after_the_good_frames(codec, frames, ssf_spec):
    data, recs = _code(codec, frames)
    for damaged in (data[: len(data) * 2 // 3], data[:40] + bytes([data[40] ^ 0x10]) + data[41:]):
        got = []
        with pytest.raises(ContainerError):
            for frame in codec.decompress_sequence(io.BytesIO(damaged)):
                got.append(frame)
        assert all(np.array_equal(a, b) for a, b in zip(got, recs))
    other = build(ssf_spec, "codec")
    with pytest.raises(ContainerError, match="other weights"):
        next(other.decompress_sequence(io.BytesIO(data)))


def test_one_image_is_a_sequence_of_one_intra_frame(codec, frames):
    data = codec.compress(frames[0])
    assert np.array_equal(codec.decompress(data), codec.intra.reconstruct(frames[0]))


def test_training_pass_over_a_clip(codec):
    codec.train()
    try:
        out = codec(torch.rand(2, 3, 3, 64, 64))
    finally:
        codec.eval()
    assert out["x_hat"].shape == (2, 3, 3, 64, 64)
    assert {"intra-y", "p1-motion-y", "p2-residual-z"} <= set(out["likelihoods"])
    with pytest.raises(ValueError, match="trains on clips"):
        codec(torch.rand(2, 3, 64, 64))


PEAK_SCRIPT = """
import resource, sys, tempfile, numpy as np, torch
from nc_core.pipeline import build
spec, n = json.loads(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
codec = build(spec, "codec"); codec.update(); codec.eval()
base = np.random.default_rng(2).integers(0, 256, (64, 1200, 3), dtype=np.uint8)
with tempfile.TemporaryFile() as f:
    codec.compress_sequence((np.ascontiguousarray(base[:, k:k + 96]) for k in range(n)), f)
    f.seek(0)
    assert sum(1 for _ in codec.decompress_sequence(f)) == n
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_a_thousand_frames_code_and_decode_in_bounded_memory(ssf_spec):
    """The process's peak memory coding and decoding 1000 frames (96 x 64) is that of 100:
    nothing grows with the sequence (keeping the frames would add 16 MB)."""
    import json
    import subprocess
    import sys

    def peak_kb(n: int) -> int:
        script = "import json\n" + PEAK_SCRIPT
        out = subprocess.run([sys.executable, "-c", script, json.dumps(ssf_spec), str(n)], capture_output=True,
                             text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return int(out.stdout.strip().splitlines()[-1])

    short, long = peak_kb(100), peak_kb(1000)
    assert long < short + 6 * 1024, (short, long)


def _intra_flags(data: bytes) -> list[int]:
    from nc_core.sequence_file import SequenceReader

    return [k for k, _ in SequenceReader(io.BytesIO(data)).intra_frames()]


@pytest.fixture
def adaptive(ssf_spec):
    torch.manual_seed(0)
    codec = build(ssf_spec | {"adaptive_intra": True, "intra_period": 0}, "codec")
    codec.update()
    return codec.eval()


def test_adaptive_intra_codes_a_frame_intra_where_that_is_smaller_and_closer(adaptive, frames, monkeypatch):
    real = adaptive.pframe.encode

    def costly(x, ref, seed, intra=None):  # a P-frame coder that pays fifty times over and predicts black
        pairs, _ = real(x, ref, seed, intra)
        return pairs * 50, torch.zeros_like(x)

    monkeypatch.setattr(adaptive.pframe, "encode", costly)
    data, recs = _code(adaptive, frames)
    assert _intra_flags(data) == list(range(8))
    decoded = list(adaptive.decompress_sequence(io.BytesIO(data), start=5))  # each one a random-access point
    assert all(np.array_equal(a, b) for a, b in zip(decoded, recs[5:]))

    monkeypatch.setattr(adaptive.pframe, "encode", lambda x, ref, seed, intra=None: ([], x.clone()))  # free and exact
    assert _intra_flags(_code(adaptive, frames)[0]) == [0]
    monkeypatch.setattr(adaptive, "adaptive_intra", False)
    monkeypatch.setattr(adaptive.pframe, "encode", costly)
    assert _intra_flags(_code(adaptive, frames)[0]) == [0]  # off: the schedule alone decides


def test_adaptive_intra_decodes_exactly_across_a_scene_cut(adaptive, frames):
    other = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    clip = frames[:4] + [np.ascontiguousarray(other // (k + 1)) for k in range(4)]
    data, recs = _code(adaptive, clip)
    decoded = list(adaptive.decompress_sequence(io.BytesIO(data)))
    assert len(decoded) == 8 and all(np.array_equal(a, b) for a, b in zip(decoded, recs))
