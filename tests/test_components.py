"""Built-in learned components: quantizers, GDN transforms, the deep factorized prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nc_core.coding import information_bits
from nc_core.components.quantizers import AdditiveNoise, Dithered, Mixed, Rounding, StraightThrough
from nc_core.components.transforms import FactorizedTransform
from nc_core.layers import DeepFactorized


def test_test_time_rounding_with_offset():
    y = torch.tensor([0.4, 1.6, -2.5, 3.49])
    offset = torch.tensor([0.5, 0.5, 0.5, 0.5])
    for q in (AdditiveNoise(), StraightThrough(), Mixed(), Rounding()):
        s = q.quantize(y, offset)
        assert s.dtype == torch.int64
        assert torch.equal(s, torch.round(y - offset).long())
        assert torch.allclose(q.dequantize(s, offset), s.float() + offset)


def test_mixed_uses_noise_for_rate_and_ste_for_distortion():
    torch.manual_seed(0)
    y = torch.randn(1000, requires_grad=True)
    q = Mixed()
    rate = q.for_rate(y)
    assert not torch.equal(rate, torch.round(y)) and (rate - y).abs().max() <= 0.5
    dist = q.for_distortion(y)
    assert torch.equal(dist, torch.round(y))
    dist.sum().backward()
    assert torch.equal(y.grad, torch.ones_like(y))  # straight-through


def test_dithered_quantization_is_reproducible_from_the_seed():
    torch.manual_seed(0)
    y = torch.randn(2, 4, 8, 8) * 5
    q = Dithered()
    s1, s2 = q.quantize(y, seed=7), q.quantize(y, seed=7)
    assert torch.equal(s1, s2) and not torch.equal(s1, q.quantize(y, seed=8))
    err = q.dequantize(s1, seed=7) - y
    assert err.abs().max() <= 0.5 + 1e-5
    assert abs(err.mean().item()) < 0.05  # dither makes the error zero-mean, uniform


def test_transform_shapes_and_stride():
    t = FactorizedTransform(channels=8, latent=12)
    x = torch.rand(1, 3, 64, 96)
    y = t.analysis(x)
    assert y.shape == (1, 12, 4, 6)
    assert t.synthesis(y).shape == x.shape


@pytest.fixture
def prior():
    torch.manual_seed(0)
    p = DeepFactorized().bind(4)
    with torch.no_grad():  # shift the channels apart so their tables differ
        p.biases[-1].add_(torch.linspace(-3, 3, 4).view(4, 1, 1))
    return p


def test_likelihoods_sum_to_one_over_the_integers(prior):
    grid = torch.arange(-200, 201, dtype=torch.float32).view(1, 1, 1, -1).expand(1, 4, 1, -1)
    total = prior(grid).sum(dim=-1)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-4)


def test_tables_match_the_likelihoods(prior):
    prior.update()
    dist = prior.coding_distribution((1, 4, 1, 1))
    p = dist.normalized()
    assert np.allclose(p.sum(axis=1), 1)
    for c in range(4):
        lo, n = int(dist.offsets[c]), int(dist.lengths[c])
        ks = torch.arange(lo + 1, lo + n - 1, dtype=torch.float32)  # interior bins
        lik = prior(ks.view(1, 1, 1, -1).expand(1, 4, 1, -1))[0, c, 0].detach().double().numpy()
        assert np.allclose(p[c, 1 : n - 1], lik, rtol=1e-3, atol=1e-7)
    # the ideal cost of in-range symbols is the model's -log2 likelihood
    symbols = np.zeros((1, 4, 1, 1), dtype=np.int64)
    expected = -np.log2(prior(torch.zeros(1, 4, 1, 1)).detach().double().numpy()).sum()
    assert information_bits(symbols, dist) == pytest.approx(expected, rel=1e-3)


def test_a_collapsed_channel_costs_nothing(prior):
    """A channel whose mass sits on one value (a dead latent): that value is interior to its
    table, so it carries no escape digits and costs ~0 bits, as the likelihood says."""
    with torch.no_grad():
        for matrix in prior.matrices:
            matrix.fill_(6.0)  # a very steep CDF ...
        for bias in prior.biases:
            bias.zero_()  # ... centred between -1/2 and 1/2 for every channel
    prior.update()
    dist = prior.coding_distribution((1, 4, 64, 64))
    assert np.all(dist.offsets < 0) and np.all(dist.offsets + dist.lengths - 1 > 0)
    zeros = np.zeros((1, 4, 64, 64), dtype=np.int64)
    assert information_bits(zeros, dist) < 0.01 * zeros.size
    expected = -np.log2(prior(torch.zeros(1, 4, 64, 64)).detach().double().numpy()).sum()
    assert information_bits(zeros, dist) == pytest.approx(expected, abs=1.0)


def test_tables_survive_a_state_dict_round_trip(prior):
    prior.update()
    fresh = DeepFactorized().bind(4)
    fresh.load_state_dict(prior.state_dict())
    assert torch.equal(fresh.pmfs, prior.pmfs) and torch.equal(fresh.offsets, prior.offsets)


def test_coding_before_update_is_a_clear_error():
    with pytest.raises(RuntimeError, match="update"):
        DeepFactorized().bind(2).coding_distribution((1, 2, 1, 1))
