"""Trained models on disk (public API, see docs/plugin-guide.md).

A run directory (or a sweep point's sub-directory) holds ``pipeline.yaml`` (the resolved
pipeline, which names the codec), ``model.pt`` (the state dict after ``update()``: weights
and frozen coding tables, loaded with ``weights_only=True``, so loading never runs code) and
``model.json`` (codec name, weights hash, training budget).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nc_core.errors import UserError

__all__ = ["MODEL", "MODEL_INFO", "PIPELINE_FILE", "build_codec", "find_model", "load_model", "load_weights"]

PIPELINE_FILE = "pipeline.yaml"
MODEL = "model.pt"
MODEL_INFO = "model.json"


def load_weights(path: str | Path) -> dict:
    """A state dict saved by nc (tensors only; no pickled code is ever run)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def build_codec(config: dict):
    """The (untrained) codec a resolved pipeline configuration names."""
    from nc_core.pipeline import build

    return build(config["codec"], "codec")


def load_model(run_dir: str | Path):
    """The trained codec of a run directory (one with ``model.pt``), in ``eval()`` mode."""
    from nc_core.pipeline import load_pipeline

    run_dir = Path(run_dir)
    if not (run_dir / MODEL).exists():
        subs = sorted(p.name for p in run_dir.iterdir() if (p / MODEL).exists()) if run_dir.is_dir() else []
        hint = f"; pick one of its sweep points: {', '.join(subs)}" if subs else ""
        raise FileNotFoundError(f"{run_dir} holds no trained model ({MODEL}){hint}")
    codec = build_codec(load_pipeline(run_dir / PIPELINE_FILE).config)
    codec.load_state_dict(load_weights(run_dir / MODEL), assign=True)  # no copy: loading is per file
    return codec.eval()


def find_model(models: str | Path, weights: str) -> Path:
    """The run directory under ``models`` whose ``model.json`` records these weights (the
    16-hex-digit hash a container carries), searched in sorted path order."""
    models = Path(models)
    for info in sorted(models.rglob(MODEL_INFO)) if models.is_dir() else []:
        try:
            if json.loads(info.read_text()).get("weights") == weights:
                return info.parent
        except (OSError, ValueError):
            continue
    raise UserError(f"no model with weights {weights} under {models} (pass --model RUN_DIR)")
