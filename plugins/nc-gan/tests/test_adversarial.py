"""Adversarial objectives at known logits, and the conditional discriminator's shape,
conditioning and Lipschitz control."""

from __future__ import annotations

import math

import pytest
import torch

from nc_gan.adversarial import OBJECTIVES, ConditionalPatchDiscriminator, objectives

LOGITS_REAL = torch.tensor([2.0, -1.0, 0.5])
LOGITS_FAKE = torch.tensor([-3.0, 0.0, 1.0])


def _sig(v):
    return 1 / (1 + math.exp(-v))


def test_objectives_at_known_logits():
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    real, fake = LOGITS_REAL.tolist(), LOGITS_FAKE.tolist()
    expected = {
        "non-saturating": (mean([-math.log(_sig(v)) for v in real]) + mean([-math.log(1 - _sig(v)) for v in fake]),
                           mean([-math.log(_sig(v)) for v in fake])),
        "least-squares": (0.5 * mean([(v - 1) ** 2 for v in real]) + 0.5 * mean([v**2 for v in fake]),
                          0.5 * mean([(v - 1) ** 2 for v in fake])),
        "hinge": (mean([max(0, 1 - v) for v in real]) + mean([max(0, 1 + v) for v in fake]), -mean(fake)),
    }
    assert set(expected) == set(OBJECTIVES)
    for name, (d_expected, g_expected) in expected.items():
        d_loss, g_loss = objectives(name)
        assert float(d_loss(LOGITS_REAL, LOGITS_FAKE)) == pytest.approx(d_expected, rel=1e-6), name
        assert float(g_loss(LOGITS_FAKE)) == pytest.approx(g_expected, rel=1e-6), name
    with pytest.raises(ValueError, match="must be one of non-saturating, least-squares, hinge, not 'wasserstein'"):
        objectives("wasserstein")


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_gradients_push_each_player_the_right_way(name):
    """The discriminator's loss falls as real logits rise and fake ones fall; the generator's
    falls as fake logits rise. Stable at extreme logits (no inf, no nan)."""
    d_loss, g_loss = objectives(name)
    real = torch.tensor([0.3, -50.0, 60.0], requires_grad=True)
    fake = torch.tensor([0.1, 70.0, -80.0], requires_grad=True)
    d_loss(real, fake).backward()
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()
    assert real.grad[0] < 0 and fake.grad[0] > 0
    fake_g = torch.tensor([0.1, 70.0, -80.0], requires_grad=True)
    g_loss(fake_g).backward()
    assert torch.isfinite(fake_g.grad).all() and fake_g.grad[0] < 0


def test_discriminator_patches_conditioning_and_spectral_norm():
    torch.manual_seed(0)
    disc = ConditionalPatchDiscriminator(latent_channels=16, widths=(8, 16, 32))
    x = torch.rand(2, 3, 64, 96)
    y = torch.randn(2, 16, 4, 6)  # the latent of a stride-16 codec
    out = disc(x, y)
    assert out.shape == (2, 1, 16, 24)  # two stride-2 layers, then the patch grid
    assert not torch.allclose(disc(x, y + 1), out)  # the latent matters
    assert not torch.allclose(disc(x.flip(-1), y), out)  # the image matters
    for module in disc.modules():  # every convolution is spectrally normalised
        if isinstance(module, torch.nn.Conv2d):
            assert hasattr(module, "parametrizations") and "weight" in module.parametrizations
    with pytest.raises(ValueError, match="must be positive"):
        ConditionalPatchDiscriminator(0)


def test_discriminator_without_spectral_norm_has_plain_convolutions():
    disc = ConditionalPatchDiscriminator(latent_channels=16, widths=(8, 16), normalise=False)
    convs = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4 and not any(hasattr(m, "parametrizations") for m in convs)
