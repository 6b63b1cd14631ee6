"""``nc import``: another framework's trained checkpoint as an ordinary nc run directory.

An :class:`~nc_core.contracts.Importer` (registered by a plugin) maps the checkpoint's state
dict onto an nc codec; this module does the rest the same way for every importer: read the
checkpoint (weights only, so no pickled code runs), build the codec from the pipeline the
importer names, load the weights, build nc's own coding tables (``update()``) and write
``pipeline.yaml``, ``model.pt`` and ``model.json`` into a new folder, all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import yaml

from nc_core.errors import UserError
from nc_core.layers import ResizingBuffers
from nc_core.models import MODEL_INFO, PIPELINE_FILE, _mismatch, build_codec, load_weights

__all__ = ["import_checkpoint"]

#: what an imported model is evaluated on by `nc run RUN_DIR/pipeline.yaml` (Kodak, with NC_DATA)
TEST_DATA = {"use": "image-folder", "path": "${NC_DATA:-../shared/data}/kodak"}


def _state_dict(checkpoint: Path) -> dict:
    state = load_weights(checkpoint)
    if isinstance(state.get("state_dict"), dict):  # a training checkpoint: epoch, optimizer, ...
        state = state["state_dict"]
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _table_keys(codec) -> set[str]:
    """The coding-table buffers ``update()`` builds: an importer may leave them out."""
    return {f"{prefix}.{b}" if prefix else b
            for prefix, module in codec.named_modules() if isinstance(module, ResizingBuffers)
            for b in module.table_buffers}


def import_checkpoint(importer_name: str, checkpoint: str | Path, arch: str, run_dir: str | Path) -> dict:
    """Convert ``checkpoint`` with the importer ``importer_name`` into the new run directory
    ``run_dir``; returns its ``model.json`` content. Every user error is a one-line
    :class:`UserError` and leaves nothing behind."""
    from nc_core.pipeline import PipelineError, parse_pipeline
    from nc_core.plugins import UnknownComponent, get_registry
    from nc_core.runner.train import finalize

    checkpoint, run_dir = Path(checkpoint), Path(run_dir)
    try:
        importer = get_registry().get("importer", importer_name)()
    except UnknownComponent as exc:
        raise UserError(str(exc)) from None
    if arch not in importer.architectures:
        raise UserError(f"--arch {arch!r}: the {importer_name} importer converts {', '.join(importer.architectures)}")
    if run_dir.exists():
        raise UserError(f"{run_dir}: already exists; choose a new folder for the imported model")
    state = _state_dict(checkpoint)
    try:
        codec_config, weights = importer.convert(state, arch)
    except ValueError as exc:
        raise UserError(f"{checkpoint}: not a {importer_name} {arch} checkpoint ({exc})") from None
    # init: the folder itself, so that `nc run RUN_DIR/pipeline.yaml` evaluates these weights
    text = yaml.safe_dump({"name": run_dir.name, "init": str(run_dir.resolve()), "data": {"test": TEST_DATA},
                           "codec": codec_config}, sort_keys=False)
    try:
        pipeline = parse_pipeline(text, str(run_dir / PIPELINE_FILE), construct=False)
    except PipelineError as exc:  # the importer named a component that is not installed
        raise UserError(f"{importer_name} importer: {exc.problems[0]}") from None
    codec = build_codec(pipeline.config)
    try:
        missing, unexpected = codec.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shapes that do not fit
        raise UserError(f"{checkpoint}: the {arch} conversion does not fit the codec ({_mismatch(exc)})") from None
    left_out = sorted(set(missing) - _table_keys(codec))
    if left_out or unexpected:
        raise UserError(f"{checkpoint}: the {arch} conversion does not fit the codec "
                        f"(missing {left_out[:3]}, unexpected {sorted(unexpected)[:3]})")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}-"))
    try:
        (stage / PIPELINE_FILE).write_text(pipeline.to_yaml())
        source = {"importer": importer_name, "arch": arch, "checkpoint": checkpoint.name,
                  "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}
        finalize(codec, stage, {"steps": 0, "train_seconds": 0.0, "imported": source})
        info = json.loads((stage / MODEL_INFO).read_text())
        stage.rename(run_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return info
