"""Fixtures for the nc-hyperprior tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nc_hyperprior.testing import MODELS

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def kodak() -> Path:
    for candidate in (os.environ.get("NC_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate, "kodak").is_dir():
            return Path(candidate, "kodak")
    pytest.skip("Kodak not found: set NC_DATA to the folder holding kodak/")


@pytest.fixture(params=MODELS)
def model_name(request) -> str:
    return request.param
