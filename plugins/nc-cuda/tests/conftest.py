"""Shared by the nc-cuda tests: the scalar reference encoder (a fixture, since test modules
are imported without their folder on sys.path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reference():
    spec = importlib.util.spec_from_file_location("nc_cuda_lane_reference", Path(__file__).with_name("lane_reference.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
