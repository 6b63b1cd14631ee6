"""Test kits for plugin authors (public API, see docs/plugin-guide.md). Needs pytest and
hypothesis (``pip install nc-core[test]``)."""

from __future__ import annotations

import importlib
import os
import types

import pytest

from nc_core.testing.coders import CoderConformance

__all__ = ["CoderConformance", "require"]


def require(module: str) -> types.ModuleType:
    """Import ``module`` for a test module: skip the tests when it is not installed, except
    under ``CI=true``, where an installation that lacks it is a failure, not a silent skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return importlib.import_module(module)
    return pytest.importorskip(module)
