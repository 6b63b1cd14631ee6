"""Device names in pipelines and on the command line (public API).

``auto`` is CUDA when torch sees a CUDA device and the CPU otherwise; ``cpu``, ``cuda`` and
``cuda:N`` are torch's names. Asking for CUDA where there is none is a user error (one line,
exit 2), not a traceback from deep inside torch.
"""

from __future__ import annotations

import torch

from nc_core.errors import UserError

__all__ = ["resolve_device"]


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device ``name`` stands for (see the module docstring)."""
    name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device: {name} was requested but no CUDA device is available (use auto or cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device: {name} was requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type != "cpu":
        raise UserError(f"device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return device
