"""Shared by the nc-cuda tests (as fixtures, since test modules are imported without their
folder on sys.path): the scalar reference encoder, and a test image with structure and noise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def reference():
    spec = importlib.util.spec_from_file_location("nc_cuda_lane_reference", Path(__file__).with_name("lane_reference.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def make_image():
    """``make_image(h, w, seed=0)``: a uint8 RGB image of waves plus noise."""
    def image(h, w, seed=0):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:h, 0:w]
        base = 128 + 100 * np.sin(xx[..., None] / 7.0 + np.arange(3)) * np.cos(yy[..., None] / 5.0)
        return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    return image
