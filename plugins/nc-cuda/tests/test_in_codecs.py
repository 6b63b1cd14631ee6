"""``coder: cuda-rans`` in learned codecs: every hyperprior entropy model round trips with it,
within its size bound, and its files are the same whatever device codes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nc_core.pipeline import build
from nc_hyperprior.testing import MODELS, make_codec


@pytest.mark.parametrize("model", MODELS)
def test_every_hyperprior_model_round_trips_with_cuda_rans(model, make_image):
    codec = make_codec(model, "cuda-rans")
    image = make_image(45, 70)
    data = codec.compress(image)
    assert np.array_equal(codec.decompress(data), codec.reconstruct(image))
    payload = codec.encode(image)
    coded = sum(len(s) for s in payload.streams)
    lanes = sum(int.from_bytes(s[:4], "little") for s in payload.streams)
    assert coded * 8 <= payload.ideal_bits * 1.005 + 32 * lanes + 32 * len(payload.streams)


def test_cuda_rans_is_buildable_from_yaml_parameters():
    coder = build({"use": "cuda-rans", "device": "cpu", "lanes": 64, "ops_per_lane": 256}, "coder")
    assert (coder.name, coder.lanes, coder.ops_per_lane, coder.device) == ("cuda-rans", 64, 256, torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_file_coded_on_the_gpu_decodes_on_the_cpu(make_image):
    image = make_image(64, 96)
    cpu = make_codec("mean-scale-hyperprior", "cuda-rans")
    gpu = make_codec("mean-scale-hyperprior", "cuda-rans")
    gpu.coder = build({"use": "cuda-rans", "device": "cuda"}, "coder")
    data = gpu.compress(image)
    assert data == cpu.compress(image)
    assert np.array_equal(cpu.decompress(data), gpu.decompress(data))
