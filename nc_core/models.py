"""Trained models on disk (public API, see docs/plugin-guide.md).

A run directory (or a sweep point's sub-directory) holds ``pipeline.yaml`` (the resolved
pipeline, which names the codec), ``model.pt`` (the state dict after ``update()``: weights
and frozen coding tables, loaded with ``weights_only=True``, so loading never runs code) and
``model.json`` (codec name, weights hash, training budget).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from nc_core.errors import UserError

__all__ = ["MODEL", "MODEL_INFO", "PIPELINE_FILE", "ZOO", "ZOO_INFO", "INT8_SCALE", "build_codec", "find_model",
           "int8_state", "load_model", "load_state", "load_weights", "model_dir", "zoo_models"]

PIPELINE_FILE = "pipeline.yaml"
MODEL = "model.pt"
MODEL_INFO = "model.json"
ZOO = "zoo:"  # `--model zoo:NAME`, `init: zoo:NAME`: a model a plugin ships
ZOO_INFO = "zoo.json"  # optional, beside a zoo model: summary, command, results
#: a weights file may store a tensor ``K`` as int8 with its scales in ``K + INT8_SCALE``
#: (one per slice along dimension 0): ``K = int8 * scale``, in float32 (see :func:`int8_state`)
INT8_SCALE = ".int8_scale"


def load_weights(path: str | Path) -> dict:
    """A state dict saved by nc (tensors only; no pickled code is ever run). A missing,
    truncated or foreign file is a :class:`UserError` naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a weights file") from None
    except Exception as exc:  # torch raises several types, each with a page of advice
        raise UserError(f"{path}: not a readable nc weights file ({_first_sentence(exc)})") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: not a state dict (holds {type(state).__name__})")
    for key in [k for k in state if k.endswith(INT8_SCALE)]:
        name, scale = key.removesuffix(INT8_SCALE), state.pop(key)
        if state.get(name) is None or state[name].dtype != torch.int8 or scale.dim() != state[name].dim():
            raise UserError(f"{path}: {key} scales no int8 tensor of its shape")
        state[name] = state[name].float() * scale.float()
    return state


def int8_state(state: dict, keys) -> dict:
    """``state`` with the float tensors named in ``keys`` stored as int8, one symmetric scale
    (float32) per slice along dimension 0, as :func:`load_weights` reads them back. A zoo ships
    convolution weights so at a quarter of their float32 size. Returns the state to save;
    loading it gives ``int8 * scale`` in float32, the same on every machine."""
    out = dict(state)
    for key in keys:
        w = state[key].float()
        if w.dim() < 2:
            raise ValueError(f"{key}: int8 storage is for weight tensors (2 or more dimensions)")
        peak = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True)
        scale = (peak / 127).clamp_min(torch.finfo(torch.float32).tiny)
        out[key] = torch.round(w / scale).clamp(-127, 127).to(torch.int8)
        out[key + INT8_SCALE] = scale
    return out


def _first_sentence(exc: Exception) -> str:
    if isinstance(exc, pickle.UnpicklingError):
        return "not a weights-only file"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.split(r"(?<=[.:;])\s", text, maxsplit=1)[0].rstrip(".:;")[:120]


def _mismatch(exc: RuntimeError) -> str:
    """The first concrete reason of a ``load_state_dict`` error (torch lists every key)."""
    reasons = [line.strip().rstrip(".") for line in str(exc).splitlines()[1:] if line.strip()]
    if not reasons:
        return _first_sentence(exc)
    first = re.sub(r"copying a param with shape torch\.Size\((\[.*?\])\) from checkpoint, "
                   r"the shape in current model is torch\.Size\((\[.*?\])\)",
                   r"the file has \1, the codec \2", reasons[0])
    if len(first) > 200:
        first = first[:200] + "…"
    return first + (f"; and {len(reasons) - 1} more" if len(reasons) > 1 else "")


def load_state(codec, path: str | Path, what: str | None = None, assign: bool = False,
               only: Sequence[str] | None = None):
    """Load the state dict at ``path`` into ``codec``. A file made for another codec (other
    shapes, other keys) is a :class:`UserError` naming ``what`` (default: the path) and the
    first difference, e.g. ``runs/x/model.pt does not fit the pipeline's codec (size mismatch
    for transform.g_a.0.weight: the file has [32, 3, 5, 5], the codec [64, 3, 5, 5])``.
    Floating-point tensors saved in another precision (a zoo's half-precision weights) are
    cast to the codec's.

    ``only`` (state-dict key prefixes such as ``transform`` or ``entropy.h_s``) loads those
    parts alone and leaves the rest as they are: a new entropy model on trained transforms.
    Each part must exist in the file and in the codec, with the same keys."""
    state = load_weights(path)
    own = codec.state_dict()
    if only is not None:
        state = _parts(state, own, only, what or str(path))
    state = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() and own[k].is_floating_point() else v
             for k, v in state.items()}
    try:
        codec.load_state_dict(state, assign=assign, strict=only is None)
    except RuntimeError as exc:
        raise UserError(f"{what or path} does not fit the pipeline's codec ({_mismatch(exc)})") from None
    return codec


def _parts(state: dict, own: dict, only: Sequence[str], what: str) -> dict:
    """The entries of ``state`` under the prefixes ``only``, checked against the codec's ``own``."""
    def under(key, prefix):
        return key == prefix or key.startswith(prefix + ".")

    for prefix in only:
        theirs = {k for k in state if under(k, prefix)}
        ours = {k for k in own if under(k, prefix)}
        if not theirs or not ours:
            where = "the file" if not theirs else "the pipeline's codec"
            raise UserError(f"{what}: init_only: {prefix!r} names no parameters in {where}")
        if theirs != ours:
            key = sorted(theirs ^ ours)[0]
            side = "the file" if key in theirs else "the pipeline's codec"
            raise UserError(f"{what} does not fit the pipeline's codec ({prefix!r}: {key} is only in {side})")
    return {k: v for k, v in state.items() if any(under(k, p) for p in only)}


def build_codec(config: dict):
    """The (untrained) codec a resolved pipeline configuration names."""
    from nc_core.pipeline import build

    return build(config["codec"], "codec")


def load_model(run_dir: str | Path):
    """The trained codec of a run directory (one with ``model.pt``), in ``eval()`` mode.

    Every way this can fail (no such directory, no model, a ``pipeline.yaml`` that no longer
    validates against the installed plugins, an unreadable ``model.pt``, weights that do not
    fit the codec the pipeline names) is a one-line :class:`UserError` naming ``run_dir``."""
    from nc_core.pipeline import PipelineError, load_pipeline

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    if not (run_dir / MODEL).exists():
        subs = sorted(p.name for p in run_dir.iterdir() if (p / MODEL).exists())
        hint = f"; pick one of its sweep points: {', '.join(subs)}" if subs else ""
        raise UserError(f"{run_dir} holds no trained model ({MODEL}){hint}")
    if not (run_dir / PIPELINE_FILE).exists():
        raise UserError(f"{run_dir}: {MODEL} has no {PIPELINE_FILE} beside it (it names the codec)")
    try:
        # construct=False: building every component would check the training data is here too
        codec = build_codec(load_pipeline(run_dir / PIPELINE_FILE, construct=False).config)
    except PipelineError as exc:
        more = f"; and {len(exc.problems) - 1} more" if len(exc.problems) > 1 else ""
        raise UserError(f"{run_dir}: {PIPELINE_FILE} no longer validates ({exc.problems[0]}{more})") from None
    load_state(codec, run_dir / MODEL, what=f"{run_dir}: {MODEL}", assign=True)  # assign: no copy
    return codec.eval()


def zoo_models() -> dict[str, Path]:
    """Every model the installed plugins ship (``nc_register_model_folders``), by name: each
    sub-folder of a registered folder that holds ``model.pt``. A name two folders ship is an
    error naming both."""
    from nc_core.plugins import get_registry

    found: dict[str, Path] = {}
    for plugin in get_registry().plugins:
        for folder in map(Path, plugin.model_folders):
            for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
                if (sub / MODEL).is_file():
                    if sub.name in found:
                        raise UserError(f"zoo model {sub.name!r} is shipped twice: in {found[sub.name]} and {sub}")
                    found[sub.name] = sub
    return found


def model_dir(spec: str | Path) -> Path:
    """The folder a ``--model`` or ``init`` value names: ``zoo:NAME`` is a model a plugin
    ships, anything else a path."""
    text = str(spec)
    if not text.startswith(ZOO):
        return Path(spec)
    name, zoo = text[len(ZOO):], zoo_models()
    if name not in zoo:
        have = ", ".join(sorted(zoo)) or "none: no installed plugin ships models"
        raise UserError(f"{text}: no such zoo model (installed: {have})")
    return zoo[name]


def find_model(models: str | Path, weights: str) -> Path:
    """The model whose ``model.json`` records these weights (the 16-hex-digit hash a container
    carries): a run directory under ``models`` (searched in sorted path order), else a zoo
    model (:func:`zoo_models`)."""
    models = Path(models)
    infos = sorted(models.rglob(MODEL_INFO)) if models.is_dir() else []
    for info in [*infos, *(d / MODEL_INFO for d in zoo_models().values())]:
        try:
            if json.loads(info.read_text()).get("weights") == weights:
                return info.parent
        except (OSError, ValueError):
            continue
    raise UserError(f"no model with weights {weights} under {models} or in the zoo (pass --model RUN_DIR)")
