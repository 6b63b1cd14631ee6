"""The template plugin works on its own and through nc's registry (entry point installed)."""

import numpy as np
import pytest
import torch

from nc_core.plugins import get_registry
from nc_example_plugin.components import LumaPSNR, SoftRound, soft_round


def test_registered_through_the_entry_point():
    registry = get_registry()
    assert registry.get("quantizer", "soft-round") is SoftRound
    assert registry.get("metric", "psnr-y") is LumaPSNR
    assert registry.owner("metric", "psnr-y").distribution == "nc-example-plugin"


def test_soft_round_approaches_rounding():
    y = torch.linspace(-3, 3, 601)
    assert (soft_round(y, 50.0) - torch.round(y)).abs()[(y - y.round()).abs() < 0.4].max() < 1e-3
    assert torch.allclose(soft_round(y, 1e-3), y, atol=1e-3)  # nearly the identity for small alpha


def test_soft_round_rejects_bad_alpha():
    with pytest.raises(ValueError):
        SoftRound(alpha=0)


def test_luma_psnr():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[..., :] = 110  # every channel +10 -> luma +10
    assert LumaPSNR().compute(a, b, 0) == pytest.approx(10 * np.log10(255**2 / 100))
    assert LumaPSNR().compute(a, a, 0) == 100.0
