"""Training step time in float32 against bf16 autocast (``train.precision: bf16``), side by side.

The zoo's mean-scale hyperprior (N=128, M=192, 128 hyper channels) by default, batch 2 of
256-px crops (random pixels: the time does not depend on them), forward + backward + Adam as
the runner trains. The two precisions alternate over the repeats after a warm-up step each;
prints the median time per step and the ratio. On CPUs with AVX512-BF16 or AMX, oneDNN runs
bf16 convolutions natively; elsewhere bf16 may be slower.

    python benchmarks/bf16_training.py [--threads 2] [--steps 5] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.losses import rate_bits
from nc_core.pipeline import build

CODEC = {"use": "hyperprior", "transform": {"use": "factorized", "channels": 128, "latent": 192},
         "entropy": {"use": "mean-scale-hyperprior", "hyper_channels": 128}, "quantizer": "mixed", "coder": "ans"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per repeat and precision")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results here (with the machine and versions)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    codec = build(CODEC, "codec").train()
    optimizer = torch.optim.Adam(codec.parameters(), 1e-4)
    x = torch.rand(args.batch, 3, args.patch, args.patch)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = codec(x)
        distortion = ((out["x_hat"].float() - x) ** 2).mean()  # the loss in float32, as the runner computes it
        loss = 0.01 * 255**2 * distortion + rate_bits(out["likelihoods"]) / x[:, 0].numel()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    times = {"fp32": [], "bf16": []}
    for name in times:
        step(name == "bf16")  # warm-up (oneDNN picks its kernels)
    for _ in range(args.repeats):
        for name in times:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(name == "bf16")
            times[name].append((time.perf_counter() - t0) / args.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"batch {args.batch} x {args.patch} px, {args.threads} threads, median of {args.repeats} x {args.steps} steps")
    for name, t in med.items():
        print(f"{name}: {t:.3f} s/step  ({', '.join(f'{v:.3f}' for v in times[name])})")
    print(f"bf16 / fp32 = {med['bf16'] / med['fp32']:.2f}")
    write_json(args.json, codec=CODEC, batch=args.batch, patch=args.patch, steps=args.steps,
               seconds_per_step=times, ratio_bf16_fp32=med["bf16"] / med["fp32"])


if __name__ == "__main__":
    main()
