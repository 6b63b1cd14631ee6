"""What every benchmark's ``--json`` file records beside its numbers: the command, the machine
(platform, CPUs, load average: these machines are shared), Python, torch and numpy versions and
torch's thread count. The results pages are generated from these files (benchmarks/report.py)."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path


def environment() -> dict:
    import numpy
    import torch

    return {"command": " ".join(["python", *sys.argv]),
            "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                        "cpus": os.cpu_count(), "load_average": os.getloadavg()},
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "threads": torch.get_num_threads()}


def write_json(path: str | Path | None, **results) -> None:
    """Write ``results`` and the :func:`environment` to ``path`` (nothing when ``None``)."""
    if path is not None:
        Path(path).write_text(json.dumps(environment() | results, indent=2) + "\n")
