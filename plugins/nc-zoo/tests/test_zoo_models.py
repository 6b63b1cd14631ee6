"""The shipped models: each is complete (weights, pipeline, how it was trained, its Kodak
results), loads, and decodes bit-exactly in another process with another thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nc_core.models import MODEL, MODEL_INFO, PIPELINE_FILE, ZOO_INFO, load_model, zoo_models
from nc_core.plugins import get_registry
from nc_zoo.plugin import MODELS

SHIPPED = sorted(p.name for p in MODELS.iterdir() if (p / MODEL).is_file()) if MODELS.is_dir() else []


def test_the_plugin_registers_its_models_folder():
    (zoo,) = [p for p in get_registry().plugins if p.distribution == "nc-zoo"]
    assert zoo.model_folders == [str(MODELS.resolve())] and not zoo.broken
    assert {name for name, folder in zoo_models().items() if folder.parent == MODELS.resolve()} == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_says_how_it_was_made_and_what_it_gives(name):
    folder = MODELS / name
    for file in (MODEL, MODEL_INFO, PIPELINE_FILE, ZOO_INFO):
        assert (folder / file).is_file(), f"{name} lacks {file}"
    zoo = json.loads((folder / ZOO_INFO).read_text())
    assert zoo["command"].startswith("nc run ") and zoo["budget"]
    assert {"bpp", "psnr"} <= zoo["results"]["kodak"].keys()


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_decodes_bit_exactly_elsewhere(name, tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    codec = load_model(MODELS / name)
    (tmp_path / "in.nc").write_bytes(codec.compress(image))
    expected = codec.decompress((tmp_path / "in.nc").read_bytes())
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "nc_core", "decompress", str(tmp_path / "in.nc"), "-o",
                    str(tmp_path / "out.png"), "--threads", "1", "--models", str(tmp_path)], check=True, env=env)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), np.asarray(expected))
