"""Training throughput in 1 and N processes (``nc run --nproc``), measured side by side.

The same pipeline (default: the kodak-hyperprior recipe's codec, 96-px crops, global batch 8,
``--steps`` steps, no evaluation worth timing: ``max_images: 1``) is trained alternately in one
process and in ``--nproc`` processes, ``--repeats`` times each; each run's training time is
read from its ``model.json`` (the loop's wall time, start-up and evaluation excluded). Prints
steps per second, images (crops) per second, and the ratio N processes / 1 process, each the
median of the repeats.

On CPU one process already uses every core (torch's intra-op threads) and N processes share
them out (``cores / N`` threads each): the ratio shows what the gradient exchange and the
duplicated work cost, not a speed-up, which needs more devices than one process can use.
``--device cuda`` trains on GPUs with NCCL (one process per GPU).

    python benchmarks/distributed.py [--nproc 2] [--steps 40] [--repeats 3] [--device cpu] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

PIPELINE = """\
name: bench
seed: 0
device: {device}
data:
  train: {{use: image-folder, path: "{photos}", patch: 96, batch: {batch}}}
  test: {{use: samples, split: test}}
codec:
  use: hyperprior
  transform: {{use: factorized, channels: 64, latent: 96}}
  entropy: {{use: mean-scale-hyperprior, hyper_channels: 64}}
  quantizer: mixed
  coder: ans
train:
  loss: {{use: rate-distortion, distortion: mse, lmbda: 0.0067}}
  steps: {steps}
  checkpoint_every: {steps}
evaluate:
  metrics: [bpp, psnr]
  max_images: 1
"""


def train_seconds(folder: Path, pipeline: Path, nproc: int) -> float:
    cmd = [sys.executable, "-m", "nc_core", "run", str(pipeline), "--out", str(folder), "--quiet"]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    (model_json,) = folder.glob("bench/*/model.json")
    return json.loads(model_json.read_text())["training"]["train_seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--photos", type=Path, default=data / "photos", help="training images (default: $NC_DATA/photos)")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8, help="the global batch")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.photos.is_dir():
        sys.exit(f"no training images at {args.photos} (set NC_DATA or --photos)")
    times: dict[int, list[float]] = {1: [], args.nproc: []}
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Path(tmp) / "bench.yaml"
        pipeline.write_text(PIPELINE.format(device=args.device, photos=args.photos, batch=args.batch,
                                            steps=args.steps))
        for r in range(args.repeats):
            for n in times:  # interleaved: the machine's load drifts
                seconds = train_seconds(Path(tmp) / f"{n}-{r}", pipeline, n)
                times[n].append(seconds)
                print(f"repeat {r + 1}: {n} process(es): {args.steps} steps in {seconds:.1f} s", flush=True)
    rows = {}
    for n, ts in times.items():
        t = statistics.median(ts)
        rows[n] = {"processes": n, "seconds": t, "steps_per_second": args.steps / t,
                   "images_per_second": args.steps * args.batch / t, "runs": ts}
        print(f"{n} process(es): {rows[n]['steps_per_second']:.2f} steps/s, "
              f"{rows[n]['images_per_second']:.1f} images/s (median of {len(ts)})")
    ratio = rows[args.nproc]["steps_per_second"] / rows[1]["steps_per_second"]
    print(f"{args.nproc} processes / 1 process: {ratio:.2f}x the throughput ({os.cpu_count()} CPUs, "
          f"device {args.device})")
    write_json(args.json, device=args.device, batch=args.batch, steps=args.steps, results=list(rows.values()),
               ratio=ratio)


if __name__ == "__main__":
    main()
