"""Learned codecs on a GPU: the transforms run there, the entropy model and the coder on the
host (``nc_core.devices.host_copy``), so a file is the same bytes whichever device wrote it,
decodes on any device to the same symbols, and, with the exact synthesis, to the same pixels.
Without CUDA, only the host-side parts run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nc_core.contracts import module_device
from nc_core.devices import host_copy
from nc_core.runner.evaluate import evaluate_codec
from nc_hyperprior.testing import MODELS, make_codec

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def test_a_cpu_module_is_its_own_host_copy():
    codec = make_codec("mean-scale-hyperprior")
    assert host_copy(codec.entropy) is codec.entropy
    assert codec.device == module_device(codec) == torch.device("cpu")


@needs_cuda
@pytest.mark.parametrize("model", MODELS)
def test_gpu_and_cpu_codecs_write_the_same_file_and_read_each_others(model, make_image):
    image = make_image(64, 96)
    cpu = make_codec(model)
    gpu = make_codec(model).to("cuda")
    assert gpu.device.type == "cuda" and module_device(host_copy(gpu.entropy)).type == "cpu"
    data = gpu.compress(image)
    assert data == cpu.compress(image)
    # the same symbols: the float synthesis may round a pixel differently on the GPU
    on_cpu, on_gpu = cpu.decompress(data), gpu.decompress(data)
    assert np.abs(on_cpu.astype(int) - on_gpu.astype(int)).max() <= 2
    assert np.array_equal(on_gpu, gpu.reconstruct(image))


@needs_cuda
def test_the_exact_synthesis_gives_the_same_pixels_on_gpu_and_cpu(make_image):
    image = make_image(64, 96)
    cpu, gpu = make_codec("mean-scale-hyperprior"), make_codec("mean-scale-hyperprior").to("cuda")
    cpu.exact_synthesis = gpu.exact_synthesis = True
    data = cpu.compress(image)
    assert gpu.compress(image) == data
    assert np.array_equal(gpu.decompress(data), cpu.decompress(data))


@needs_cuda
def test_the_host_copy_follows_the_weights():
    gpu = make_codec("scale-hyperprior").to("cuda")
    first = host_copy(gpu.entropy)
    assert host_copy(gpu.entropy) is first  # kept while nothing changes
    with torch.no_grad():
        next(gpu.entropy.parameters()).mul_(1.5)
    second = host_copy(gpu.entropy)
    assert second is not first
    assert torch.equal(next(second.parameters()), next(gpu.entropy.parameters()).cpu())


@needs_cuda
def test_evaluation_on_the_gpu_gives_the_cpus_rates(make_image):
    images = [("a", make_image(64, 96, 1)), ("b", make_image(48, 80, 2))]
    rows_cpu = evaluate_codec(make_codec("joint-autoregressive"), images, [], device="cpu")
    rows_gpu = evaluate_codec(make_codec("joint-autoregressive"), images, [], device="cuda")
    assert [r["bytes"] for r in rows_gpu] == [r["bytes"] for r in rows_cpu]
    assert [r["ideal_bits"] for r in rows_gpu] == [r["ideal_bits"] for r in rows_cpu]
