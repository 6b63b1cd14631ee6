"""Symbols per second of the lane coder (``cuda-rans``) against constriction, and what its lane
count costs in size.

The job: hyperprior-like latents, per-symbol Gaussian ``loc`` / ``scale`` (scales
log-uniform in 0.11 .. 20), support ``[-1000, 1000]`` (constriction's native
``QuantizedGaussian`` path). Rows, for each size (10**6 and 1.6 * 10**7 symbols by default):

* ``constriction``: constriction's ``AnsCoder`` called directly, one CPU core;
* ``lanes=N cpu``: the lane coder on CPU tensors (torch's threads);
* ``lanes=N cuda``: the same on the GPU, when there is one (timed after a warm-up run, with
  ``torch.cuda.synchronize``; the bytes are checked equal to the CPU's).

Each row: encode and decode Msymbols/s, the decode ratio against constriction (measured in
the same run), and the coded size against the information content ``-sum log2 P(x)``
(``size / info``; the lane coder's bound is ``info * 1.005 + 4 bytes a lane``). Repeats are
interleaved and the best time of each kept; decoding is checked exact.

    python benchmarks/gpu_coding.py [--sizes 1000000 16000000] [--lanes 256 4096 65536] [--repeats R] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

import constriction
import numpy as np
import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.coders import decode_all, encode_all
from nc_core.coding import QuantizedGaussian, information_bits

try:
    from nc_cuda.coder import LaneRansCoder
except ImportError as exc:  # pragma: no cover
    raise SystemExit("install the plugin first: pip install -e plugins/nc-cuda") from exc

LO, HI = -1000, 1000


def latents(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    loc = rng.normal(0, 5, n)
    scale = np.exp(rng.uniform(np.log(0.11), np.log(20), n))
    x = np.clip(np.round(rng.normal(loc, scale)), LO, HI).astype(np.int64)
    return x, QuantizedGaussian(loc, scale, LO, HI)


def constriction_job(x, dist):
    model = constriction.stream.model.QuantizedGaussian(LO, HI)
    xs = x.astype(np.int32)

    def enc():
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(xs, model, dist.loc, dist.scale)
        return coder.get_compressed()

    def dec(words):
        return constriction.stream.stack.AnsCoder(words).decode(model, dist.loc, dist.scale)

    return enc, dec, lambda words: 4 * len(words)


def lane_job(x, dist, lanes: int, device: str):
    coder = LaneRansCoder(device=device, lanes=lanes, ops_per_lane=1)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def enc():
        data = encode_all(coder, [(x, dist)])
        sync()
        return data

    def dec(data):
        out = decode_all(coder, data, [dist])[0]
        sync()
        return out

    return enc, dec, len


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 16_000_000])
    ap.add_argument("--lanes", type=int, nargs="+", default=[256, 4096, 65536])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch threads {torch.get_num_threads()}; devices {devices}; constriction on one core")
    rows = []
    for n in args.sizes:
        x, dist = latents(n)
        info = information_bits(x, dist) / 8
        jobs = {"constriction": constriction_job(x, dist)}
        for lanes in args.lanes:
            for device in devices:
                jobs[f"lanes={lanes} {device}"] = lane_job(x, dist, lanes, device)
        best = {name: [np.inf, np.inf, 0] for name in jobs}
        for name, (enc, dec, _) in jobs.items():  # warm-up (CUDA kernels, caches), checks exactness
            out = dec(enc())
            if not np.array_equal(np.asarray(out).astype(np.int64).reshape(-1), x):
                raise SystemExit(f"{name}: decoded symbols differ")
        cpu_bytes = {}
        for _ in range(args.repeats):
            for name, (enc, dec, size) in jobs.items():
                t0 = time.perf_counter()
                data = enc()
                t1 = time.perf_counter()
                dec(data)
                t2 = time.perf_counter()
                b = best[name]
                b[0], b[1], b[2] = min(b[0], t1 - t0), min(b[1], t2 - t1), size(data)
                if name.endswith(" cpu"):
                    cpu_bytes[name[:-4]] = data
                elif name.endswith(" cuda") and cpu_bytes.get(name[:-5]) not in (None, data):
                    raise SystemExit(f"{name}: bytes differ from the CPU's")
        ref_dec = best["constriction"][1]
        print(f"\n{n:,} symbols, information content {info:,.0f} bytes")
        print(f"{'coder':<22}{'enc Msym/s':>11}{'dec Msym/s':>11}{'dec vs constr.':>15}{'size/info':>11}")
        for name, (te, td, size) in best.items():
            row = {"symbols": n, "coder": name, "encode_msym_s": n / te / 1e6, "decode_msym_s": n / td / 1e6,
                   "decode_vs_constriction": ref_dec / td, "bytes": size, "info_bytes": info}
            rows.append(row)
            print(f"{name:<22}{row['encode_msym_s']:>11.2f}{row['decode_msym_s']:>11.2f}"
                  f"{row['decode_vs_constriction']:>14.2f}x{size / info:>11.4f}")
    write_json(args.json, rows=rows)


if __name__ == "__main__":
    main()
