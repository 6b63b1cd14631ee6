"""Shared fixtures: the shared data folder, tiny pipelines, a registry swap."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """``$NC_DATA`` or ``../shared/data`` beside the checkout, if present."""
    for candidate in (os.environ.get("NC_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate, "kodak").is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def nc_data() -> Path:
    path = data_dir()
    if path is None:
        pytest.skip("shared data not found: set NC_DATA to the folder holding kodak/ and photos/")
    return path


TINY_PIPELINE = """\
name: tiny
seed: 0
device: cpu
data:
  train: {use: samples, split: train, patch: 32, batch: 2}
  test: {use: samples, split: test}
codec:
  use: transform-coding
  transform: {use: factorized, channels: 8, latent: 8}
  quantizer: mixed
  prior: deep-factorized
  coder: ans
train:
  loss: {use: rate-distortion, distortion: mse, lmbda: 0.01}
  steps: 3
  checkpoint_every: 2
evaluate:
  metrics: [bpp, psnr]
  max_images: 1
"""


@pytest.fixture(scope="session")
def tiny_pipeline_text() -> str:
    return TINY_PIPELINE


@pytest.fixture
def tiny_pipeline(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_PIPELINE))
    return path


@pytest.fixture
def restore_registry():
    from nc_core import plugins

    saved = plugins._registry
    yield
    plugins.set_registry(saved)
