from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def video_data() -> Path:
    """``$NC_DATA/video`` (default ``../shared/data`` beside the checkout); skips without it."""
    root = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
    folder = root / "video"
    if not (folder / "carphone_pristine.mp4").is_file():
        pytest.skip(f"the shared video clips are not in {folder} (set NC_DATA)")
    return folder
