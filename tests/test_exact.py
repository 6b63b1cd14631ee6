"""nc_core.exact: fixed-point networks give the same integers for any batch and thread count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nc_core.exact import ACT_BITS, ExactNet, MaskedConv2d, from_fixed, to_fixed
from nc_core.layers import GDN


def _net_cases():
    torch.manual_seed(0)
    return {
        "linear": (ExactNet(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), (6, 64)),
        "conv": (ExactNet(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, 4, 5, 2, 2, 1)), (6, 3, 9, 7)),
        "masked": (ExactNet(MaskedConv2d(2, 4, 5, padding=2), nn.ReLU(), MaskedConv2d(4, 4, 3, padding=1, mask_type="B")),
                   (6, 2, 8, 8)),
        "leaky": (ExactNet(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(), nn.ConvTranspose2d(8, 4, 5, 2, 2, 1),
                           nn.LeakyReLU(0.2), nn.Conv2d(4, 4, 3, padding=1)), (6, 3, 9, 7)),
        "igdn": (ExactNet(nn.ConvTranspose2d(4, 8, 5, 2, 2, 1), _igdn(8), nn.ConvTranspose2d(8, 3, 5, 2, 2, 1)),
                 (6, 4, 5, 4)),
        # sub-pixel convolutions (Cheng et al. 2020's hyper-synthesis): a nested Sequential
        "subpel": (ExactNet(nn.Conv2d(4, 8, 3, padding=1), nn.LeakyReLU(),
                            nn.Sequential(nn.Conv2d(8, 4 * 4, 3, padding=1), nn.PixelShuffle(2)), nn.LeakyReLU(),
                            nn.Conv2d(4, 6, 3, padding=1)), (6, 4, 5, 4)),
    }


def _igdn(channels: int) -> GDN:
    """An IGDN with trained-looking parameters (beta near 1, small positive couplings)."""
    gdn = GDN(channels, inverse=True)
    with torch.no_grad():
        gdn.beta.copy_(torch.sqrt(torch.rand(channels) + 0.5))
        gdn.gamma.copy_(torch.sqrt(torch.rand(channels, channels) * 0.2))
    return gdn


@pytest.mark.parametrize("case", ["linear", "conv", "masked", "leaky", "igdn", "subpel"])
def test_exact_is_batch_and_thread_invariant_and_close_to_float(case):
    net, shape = _net_cases()[case]
    x = to_fixed(torch.rand(shape) * 4 - 2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        batched = net.exact(x)
        torch.set_num_threads(1)
        alone = torch.cat([net.exact(x[i:i + 1]) for i in range(shape[0])])
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(batched, alone)
    assert torch.equal(batched, torch.floor(batched))  # integers
    with torch.no_grad():
        ref = net(from_fixed(x).float()).double()
    # Each layer floors to the 2**-ACT_BITS grid and rounds weights to WEIGHT_BITS: measured over
    # 200 seeds of these three nets (outputs of size 0.4-0.7) the worst error is 2.01 grid steps.
    # A broken program (a bias on the wrong scale, a shift off by one bit) is off by far more.
    assert float((from_fixed(batched) - ref).abs().max()) < 3 * 2.0**-ACT_BITS


def test_program_follows_weight_updates():
    net = ExactNet(nn.Linear(4, 2))
    x = to_fixed(torch.ones(1, 4))
    before = net.exact(x)
    with torch.no_grad():
        net.net[0].bias += 1
    assert torch.equal(net.exact(x), before + (1 << ACT_BITS))


def test_masks_see_only_the_past():
    a = MaskedConv2d(1, 1, 3, padding=1)
    b = MaskedConv2d(1, 1, 3, padding=1, mask_type="B")
    assert a.mask[0, 0].tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.mask[0, 0].tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, 3, mask_type="C")


def test_unsupported_layer_is_a_clear_error():
    with pytest.raises(TypeError, match="Sigmoid"):
        ExactNet(nn.Linear(2, 2), nn.Sigmoid()).exact(torch.zeros(1, 2))


def test_leaky_relu_is_exact_on_the_grid():
    net = ExactNet(nn.LeakyReLU(0.25))
    x = torch.tensor([[-8.0, -3.0, -1.0, 0.0, 5.0]])  # fixed-point integers
    assert net.exact(x).tolist() == [[-2.0, -1.0, -1.0, 0.0, 5.0]]  # floor(x / 4) below zero


def test_forward_gdn_has_no_exact_program():
    with pytest.raises(TypeError, match="inverse GDN"):
        ExactNet(nn.Conv2d(3, 3, 1), GDN(3)).exact(torch.zeros(1, 3, 2, 2))


def test_exact_synthesis_of_the_factorized_transform_is_invariant_and_close_to_float():
    from nc_core.pipeline import build

    torch.manual_seed(1)
    transform = build({"use": "factorized", "channels": 16, "latent": 12}, "transform")
    y = torch.round(torch.randn(4, 12, 3, 5) * 4)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        batched = transform.exact_synthesis(y)
        torch.set_num_threads(1)
        alone = torch.cat([transform.exact_synthesis(y[i:i + 1]) for i in range(4)])
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(batched, alone)
    with torch.no_grad():
        ref = transform.synthesis(y).double()
    assert float((batched - ref).abs().max()) < 1e-2 * float(ref.abs().max())


def _transform_coding(**options):
    from nc_core.pipeline import build

    torch.manual_seed(0)
    codec = build({"use": "transform-coding", "transform": {"use": "factorized", "channels": 8, "latent": 8},
                   "quantizer": "mixed", "prior": "deep-factorized", "coder": "ans", **options}, "codec")
    codec.eval()
    codec.update()
    return codec


def test_a_codec_refuses_exact_synthesis_for_a_transform_without_one():
    from nc_core.contracts import Transform

    class Plain(Transform):
        name, stride, latent_channels = "plain", 1, 3

    codec = _transform_coding()
    with pytest.raises(ValueError, match="'plain' has no exact synthesis"):
        type(codec)(Plain(), codec.quantizer, codec.prior, codec.coder, exact_synthesis=True)


def test_exact_synthesis_decodes_what_evaluation_measured():
    import numpy as np

    codec = _transform_coding(exact_synthesis=True)
    image = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    assert np.array_equal(codec.decompress(codec.compress(image)), codec.reconstruct(image))
    float_codec = _transform_coding()
    assert np.abs(float_codec.reconstruct(image).astype(int) - codec.reconstruct(image).astype(int)).max() <= 1


@pytest.mark.filterwarnings("ignore:TF32 acceleration")  # torch's note about Intel GPUs
def test_exact_is_the_same_under_other_convolution_algorithms_autocast_and_reduced_precision():
    """The exact path's float64 integers do not depend on the convolution backend (oneDNN on
    or off), and autocast and reduced-precision float32 matmuls leave float64 alone."""
    net, shape = _net_cases()["igdn"]
    x = to_fixed(torch.rand(shape) * 4 - 2)
    reference = net.exact(x)
    with torch.backends.mkldnn.flags(enabled=False):
        assert torch.equal(net.exact(x), reference)
    saved = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(net.exact(x), reference)
    finally:
        torch.set_float32_matmul_precision(saved)
