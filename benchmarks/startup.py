"""nc's own start-up, measured side by side with importing torch.

Every ``nc`` command is a new Python process, and most of its fixed cost is importing torch,
which nc cannot avoid. What nc adds on top (its own imports, loading plugins, validating the
model's pipeline) is measured here. One round runs, as separate processes, in this order:

* ``python -c pass``: the interpreter alone;
* ``python -c "import torch"``: the floor for any command that runs a model;
* ``nc --version``;
* ``nc compress --model RUN kodim01.png -o OUT.nc``;
* with ``--baseline-root DIR``: the same ``nc compress`` with another checkout of nc_core
  first on ``PYTHONPATH`` (e.g. a ``git worktree`` of an older commit: before/after in one run,
  under the same machine load).

The rounds are repeated and the median of each command kept. Coding the image itself is
real work, not start-up, so it is measured too (``codec.compress`` in this process, median
over the repeats) and subtracted:

    start-up overhead = compress wall time - torch import - coding time

Printed: every median, the ratio ``nc compress / import torch`` and the overhead in seconds.
``--json PATH`` writes the numbers with the machine, torch version, thread count and the
exact commands.

    python benchmarks/startup.py RUN_DIR [--image kodim01.png] [--repeats 7] [--baseline-root DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _wall(cmd: list[str], env: dict, cwd: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)  # cwd: not a checkout
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return seconds


def _coding_seconds(run_dir: str, image_path: str, repeats: int) -> float:
    """Median time of ``codec.compress(image)`` in this process: the work, not the start-up."""
    import numpy as np

    from nc_core.imaging import read_image
    from nc_core.models import load_model

    codec = load_model(run_dir)
    image, _ = read_image(image_path)
    codec.compress(np.array(image))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        codec.compress(image)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=lambda p: str(Path(p).resolve()), help="a trained run directory (holding model.pt)")
    data = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--image", type=lambda p: str(Path(p).resolve()), default=str(data / "kodak" / "kodim01.png"),
                    help="the image to compress")
    ap.add_argument("--repeats", type=int, default=7, help="rounds of all commands (default: 7)")
    ap.add_argument("--baseline-root", help="another checkout whose nc_core is timed too (before/after)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    py = sys.executable
    env = os.environ.copy()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.nc")
        compress = ["-m", "nc_core", "compress", "--model", args.run_dir, args.image, "-o", out]
        commands = {
            "python -c pass": ([py, "-c", "pass"], env),
            "import torch": ([py, "-c", "import torch"], env),
            "nc --version": ([py, "-m", "nc_core", "--version"], env),
            "nc compress": ([py, *compress], env),
        }
        if args.baseline_root:
            baseline_env = env | {"PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(args.baseline_root).resolve()), env.get("PYTHONPATH")]))}
            commands["nc compress (baseline)"] = ([py, *compress], baseline_env)
        for cmd, cmd_env in commands.values():  # warm the file cache (and nc's plugin index)
            _wall(cmd, cmd_env, tmp)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, (cmd, cmd_env) in commands.items():
                samples[name].append(_wall(cmd, cmd_env, tmp))
    coding = _coding_seconds(args.run_dir, args.image, args.repeats)

    import torch

    median = {name: statistics.median(times) for name, times in samples.items()}
    torch_s = median["import torch"]
    rows = {}
    for name in ("nc compress", "nc compress (baseline)"):
        if name in median:
            rows[name] = {"seconds": median[name], "ratio_to_torch_import": median[name] / torch_s,
                          "over_torch_import": median[name] - torch_s,
                          "startup_overhead": median[name] - torch_s - coding}
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "image": args.image, "run_dir": args.run_dir, "repeats": args.repeats,
        "commands": {name: " ".join(cmd) for name, (cmd, _) in commands.items()},
        "baseline_root": args.baseline_root,
        "median_seconds": median, "coding_seconds": coding, "compress": rows, "samples": samples,
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"median of {args.repeats} rounds")
    for name, seconds in median.items():
        print(f"  {name:<24} {seconds:6.3f} s")
    print(f"  {'coding the image':<24} {coding:6.3f} s  (codec.compress in-process)")
    for name, row in rows.items():
        print(f"{name}: {row['ratio_to_torch_import']:.2f} x import torch, {row['over_torch_import']:+.3f} s "
              f"over it; start-up overhead (less coding) {row['startup_overhead']:+.3f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
