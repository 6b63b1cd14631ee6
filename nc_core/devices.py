"""Device names in pipelines and on the command line (public API).

``auto`` is CUDA when torch sees a CUDA device and the CPU otherwise; ``cpu``, ``cuda`` and
``cuda:N`` are torch's names. Asking for CUDA where there is none is a user error (one line,
exit 2), not a traceback from deep inside torch.
"""

from __future__ import annotations

import copy
from itertools import chain

import torch
from torch import nn

from nc_core.errors import UserError

__all__ = ["host_copy", "resolve_device"]

_HOST_COPY = "_nc_host_copy"


def resolve_device(name: str | torch.device, what: str = "device") -> torch.device:
    """The torch device ``name`` stands for (see the module docstring); ``what`` names the
    setting in an error (a pipeline's ``device``, the command line's ``--device``)."""
    name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"{what}: unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{what}: {name} was requested but no CUDA device is available (use auto or cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"{what}: {name} was requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type != "cpu":
        raise UserError(f"{what}: device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return device


def host_copy(module: nn.Module) -> nn.Module:
    """``module`` itself when its weights are on the CPU, else a CPU copy of it, kept until a
    weight changes. Entropy coding runs on the host, and so does every network that decides a
    coding distribution (in exact fixed point, :mod:`nc_core.exact`): a codec whose transforms
    run on a GPU codes through the host copy of its entropy model, so its symbols and files are
    those of the same codec on the CPU."""
    tensors = list(chain(module.parameters(), module.buffers()))
    if all(t.device.type == "cpu" for t in tensors):
        return module
    key = tuple((t.data_ptr(), t._version) for t in tensors)
    cached = module.__dict__.get(_HOST_COPY)
    if cached is None or cached[0] != key:
        del cached  # the old copy may be freed before the new one is built
        module.__dict__.pop(_HOST_COPY, None)
        twin = copy.deepcopy(module).cpu()
        module.__dict__[_HOST_COPY] = cached = (key, twin)
    return cached[1]
