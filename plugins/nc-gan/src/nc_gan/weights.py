"""Where the pretrained networks of the learned metrics come from: files the user names,
never a download. One rule for every metric: the pipeline's argument, else an environment
variable; a missing or unreadable file is a one-line ``ValueError`` (a constructor error,
which ``nc validate`` and ``nc run`` report located in the pipeline) naming the file to put
where."""

from __future__ import annotations

import os
from pathlib import Path

from nc_core.errors import UserError
from nc_core.models import load_weights


def weights_path(metric: str, which: str, given: str | None, variable: str, expected: str) -> Path:
    """The file of ``metric``'s weights given as its argument ``which`` (``expected``: the
    file's usual name and origin, for the message)."""
    path = given or os.environ.get(variable)
    if not path:
        raise ValueError(f"{metric} needs {expected}: name the file with {which}: PATH or {variable}=PATH")
    if not Path(path).is_file():
        raise ValueError(f"{metric} {which} weights: {path}: no such file (expected {expected})")
    return Path(path)


def weights_file(metric: str, which: str, given: str | None, variable: str, expected: str) -> dict:
    """The state dict in :func:`weights_path`'s file."""
    path = weights_path(metric, which, given, variable, expected)
    try:
        return load_weights(path)
    except UserError as exc:
        raise ValueError(f"{metric}: {exc}") from None
