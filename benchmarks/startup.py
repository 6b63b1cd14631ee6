"""nc's own start-up, measured side by side with importing torch.

Every ``nc`` command is a new Python process, and most of its fixed cost is importing torch,
which nc cannot avoid. What nc adds on top (its own imports, loading plugins, validating the
model's pipeline) is measured here. One round runs, as separate processes, in this order:

* ``python -c pass``: the interpreter alone;
* ``python -c "import torch"``: the floor for any command that runs a model;
* the same with the garbage collector paused, as ``nc`` imports torch (``nc_core/cli.py``):
  the floor for nc's own work, since nc's import of torch is faster than a plain one;
* ``nc --version``;
* ``nc compress --model RUN kodim01.png -o OUT.nc``;
* with ``--baseline-root DIR``: the same ``nc compress`` with another checkout of nc_core
  first on ``PYTHONPATH`` (e.g. a ``git worktree`` of an older commit: before/after in one run,
  under the same machine load).

An untimed first round fills the file cache, the bytecode cache (as ``pip install`` would;
``PYTHONDONTWRITEBYTECODE`` is dropped) and nc's plugin index. The rounds are repeated and
the median of each command kept, of wall time and of CPU time (user + system; steadier than
wall time on a shared machine). Coding the image itself is
real work, not start-up, so it is measured too (``codec.compress`` in this process, median
over the repeats) and subtracted:

    start-up overhead = compress wall time - torch import - coding time
    nc's own overhead = compress wall time - torch import with GC paused - coding time

Printed: every median, the ratio ``nc compress / import torch`` and the overhead in seconds.
``--json PATH`` writes the numbers with the machine, torch version, thread count and the
exact commands.

    python benchmarks/startup.py RUN_DIR [--image kodim01.png] [--repeats 7] [--baseline-root DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

PAUSED = "import torch (GC paused)"


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], env: dict, cwd: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one command run as its own process."""
    cpu0, t0 = _cpu_children(), time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)  # cwd: not a checkout
    seconds, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return seconds, cpu


def _coding_seconds(run_dir: str, image_path: str, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) time of ``codec.compress(image)`` in this process: the work, not
    the start-up."""
    import numpy as np

    from nc_core.imaging import read_image
    from nc_core.models import load_model

    codec = load_model(run_dir)
    image, _ = read_image(image_path)
    codec.compress(np.array(image))  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        cpu0, t0 = time.process_time(), time.perf_counter()
        codec.compress(image)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - cpu0)
    return statistics.median(walls), statistics.median(cpus)


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
    # As installed: pip writes bytecode, so no module is compiled at start-up. A shell that
    # sets PYTHONDONTWRITEBYTECODE would otherwise time the compiler (0.25 s for nc's modules).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.nc")
        compress = ["-m", "nc_core", "compress", "--model", args.run_dir, args.image, "-o", out]
        commands = {
            "python -c pass": ([py, "-c", "pass"], env),
            "import torch": ([py, "-c", "import torch"], env),
            PAUSED: ([py, "-c", "import gc; gc.disable(); import torch"], env),
            "nc --version": ([py, "-m", "nc_core", "--version"], env),
            "nc compress": ([py, *compress], env),
        }
        if args.baseline_root:
            baseline_env = env | {"PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(args.baseline_root).resolve()), env.get("PYTHONPATH")]))}
            commands["nc compress (baseline)"] = ([py, *compress], baseline_env)
        for cmd, cmd_env in commands.values():  # warm the file cache, bytecode and nc's plugin index
            _run(cmd, cmd_env, tmp)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu_samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, (cmd, cmd_env) in commands.items():
                wall, cpu = _run(cmd, cmd_env, tmp)
                samples[name].append(wall)
                cpu_samples[name].append(cpu)
    coding, coding_cpu = _coding_seconds(args.run_dir, args.image, args.repeats)

    import torch

    median = {name: statistics.median(times) for name, times in samples.items()}
    median_cpu = {name: statistics.median(times) for name, times in cpu_samples.items()}
    torch_s, torch_cpu = median["import torch"], median_cpu["import torch"]
    paused_s, paused_cpu = median[PAUSED], median_cpu[PAUSED]
    rows = {}
    for name in ("nc compress", "nc compress (baseline)"):
        if name in median:
            rows[name] = {"seconds": median[name], "ratio_to_torch_import": median[name] / torch_s,
                          "over_torch_import": median[name] - torch_s,
                          "startup_overhead": median[name] - torch_s - coding,
                          "own_overhead": median[name] - paused_s - coding,
                          "cpu_seconds": median_cpu[name], "cpu_ratio_to_torch_import": median_cpu[name] / torch_cpu,
                          "cpu_startup_overhead": median_cpu[name] - torch_cpu - coding_cpu,
                          "cpu_own_overhead": median_cpu[name] - paused_cpu - coding_cpu}
    result = {
        "image": args.image, "run_dir": args.run_dir, "repeats": args.repeats,
        "commands": {name: " ".join(cmd) for name, (cmd, _) in commands.items()},
        "baseline_root": args.baseline_root,
        "median_seconds": median, "median_cpu_seconds": median_cpu, "coding_seconds": coding,
        "coding_cpu_seconds": coding_cpu, "compress": rows, "samples": samples, "cpu_samples": cpu_samples,
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"median of {args.repeats} rounds")
    print(f"  {'':<26} {'wall':>7}   {'CPU':>7}")
    for name, seconds in median.items():
        print(f"  {name:<26} {seconds:7.3f} s {median_cpu[name]:7.3f} s")
    print(f"  {'coding the image':<26} {coding:7.3f} s {coding_cpu:7.3f} s  (codec.compress in-process)")
    for name, row in rows.items():
        print(f"{name}: {row['ratio_to_torch_import']:.2f} x import torch, {row['over_torch_import']:+.3f} s over it; "
              f"start-up overhead (less coding) {row['startup_overhead']:+.3f} s wall, "
              f"{row['cpu_startup_overhead']:+.3f} s CPU; over torch imported with GC paused "
              f"{row['own_overhead']:+.3f} s wall, {row['cpu_own_overhead']:+.3f} s CPU")
    write_json(args.json, **result)


if __name__ == "__main__":
    main()
