"""Shared by the nc-video tests: a small ssf model's specification (a fixture, since test
modules are imported without their folder on sys.path)."""

from __future__ import annotations

import pytest

HYPER = {"use": "mean-scale-hyperprior", "hyper_channels": 8}


@pytest.fixture(scope="session")
def ssf_spec() -> dict:
    return {"use": "ssf", "intra": {"use": "hyperprior", "transform": {"use": "factorized", "channels": 8, "latent": 8},
                                    "entropy": HYPER, "quantizer": "mixed", "coder": "ans"},
            "motion_entropy": HYPER, "residual_entropy": HYPER, "quantizer": "mixed", "coder": "ans",
            "intra_period": 3, "channels": 8, "latent": 8, "scale_mediated": True}
