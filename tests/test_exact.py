"""nc_core.exact: fixed-point networks give the same integers for any batch and thread count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nc_core.exact import ACT_BITS, ExactNet, MaskedConv2d, from_fixed, to_fixed


def _net_cases():
    torch.manual_seed(0)
    return {
        "linear": (ExactNet(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), (6, 64)),
        "conv": (ExactNet(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, 4, 5, 2, 2, 1)), (6, 3, 9, 7)),
        "masked": (ExactNet(MaskedConv2d(2, 4, 5, padding=2), nn.ReLU(), MaskedConv2d(4, 4, 3, padding=1, mask_type="B")),
                   (6, 2, 8, 8)),
        "leaky": (ExactNet(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(), nn.ConvTranspose2d(8, 4, 5, 2, 2, 1),
                           nn.LeakyReLU(0.2), nn.Conv2d(4, 4, 3, padding=1)), (6, 3, 9, 7)),
    }


@pytest.mark.parametrize("case", ["linear", "conv", "masked", "leaky"])
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
