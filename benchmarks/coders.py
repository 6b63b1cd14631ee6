"""Throughput of nc's coding path vs constriction called directly, on the same arrays.

Two cases, each with >= 1M symbols:

* ``gaussian``: per-symbol means and scales (random), symbols sampled from them;
* ``tables``: a learned-CDF-style bank of 192 tables, ``index`` = the channel of a
  ``192 x H x W`` latent (what an entropy bottleneck / factorized prior produces).

For both coders (``ans``, ``range``) and both directions, nc's path (``encode_all`` /
``decode_all`` with the plugin coder: bytes in and out, escape handling and the stream's check
word included) is timed against the minimal hand-written constriction code for the same job
(int64 symbols converted to int32, one model per table, uint32 words out). Repeats are
interleaved and the best time of each is kept. Prints Msymbols/s, the ratio nc/raw (target
>= 0.8) and the coded sizes against the information content ``-sum log2 P(x)``.

    python benchmarks/coders.py [--symbols N] [--repeats R] [--json PATH]

``--json PATH`` writes every row with the machine, versions and the command, for
``benchmarks/report.py``'s ``coders`` table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import constriction
import numpy as np
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.coders import decode_all, encode_all
from nc_core.coding import IndexedTables, QuantizedGaussian, information_bits

try:
    from nc_ans import AnsCoder
    from nc_arith import RangeCoder
except ImportError as exc:  # pragma: no cover
    raise SystemExit(
        "install the coder plugins first: pip install -e plugins/nc-ans -e plugins/nc-arith"
    ) from exc

M = constriction.stream.model
ANS = constriction.stream.stack.AnsCoder
RANGE_ENC, RANGE_DEC = (
    constriction.stream.queue.RangeEncoder,
    constriction.stream.queue.RangeDecoder,
)


class Raw:
    """Hand-written constriction code for one case: ``encode(stack) -> words`` and
    ``decode(words, stack) -> symbols``."""

    @staticmethod
    def encoder(stack: bool):
        return (ANS(), ANS.encode_reverse) if stack else (RANGE_ENC(), RANGE_ENC.encode)

    @staticmethod
    def decoder(words, stack: bool):
        return ANS(words) if stack else RANGE_DEC(words)


class GaussianRaw(Raw):
    def __init__(self, x, loc, scale, lo, hi):
        self.x, self.loc, self.scale, self.lo, self.hi = x, loc, scale, lo, hi

    def encode(self, stack):
        stream, push = self.encoder(stack)
        model = M.QuantizedGaussian(self.lo, self.hi)
        push(stream, self.x.reshape(-1).astype(np.int32), model, self.loc, self.scale)
        return stream.get_compressed()

    def decode(self, words, stack):
        model = M.QuantizedGaussian(self.lo, self.hi)
        return self.decoder(words, stack).decode(model, self.loc, self.scale)


class TablesRaw(Raw):
    def __init__(self, x, pmfs, offsets, lengths):
        self.x, self.pmfs, self.offsets, self.lengths = x, pmfs, offsets, lengths
        self.channels = x.shape[0]

    def models(self):
        return [
            M.Categorical(p[:k], perfect=False)
            for p, k in zip(self.pmfs, self.lengths, strict=True)
        ]

    def encode(self, stack):
        stream, push = self.encoder(stack)
        models = self.models()
        rel = (self.x.reshape(self.channels, -1) - self.offsets[:, None]).astype(np.int32)
        for c in range(self.channels)[::-1] if stack else range(self.channels):
            push(stream, rel[c], models[c])
        return stream.get_compressed()

    def decode(self, words, stack):
        stream, models = self.decoder(words, stack), self.models()
        per_channel = self.x[0].size
        out = np.empty((self.channels, per_channel), dtype=np.int64)
        for c in range(self.channels):
            out[c] = stream.decode(models[c], per_channel)
        out += self.offsets[:, None]
        return out


def gaussian_case(n: int, rng):
    loc = rng.normal(0.0, 10.0, n)
    scale = np.exp(rng.uniform(np.log(0.1), np.log(20.0), n))
    lo, hi = -512, 511
    x = np.clip(np.round(rng.normal(loc, scale)), lo, hi).astype(np.int64)
    return x, QuantizedGaussian(loc, scale, lo, hi), GaussianRaw(x, loc, scale, lo, hi)


def tables_case(n: int, rng, channels: int = 192):
    hw = -(-n // channels)
    h = int(np.sqrt(hw))
    w = -(-hw // h)
    # learned-CDF-style tables: a logistic-shaped density per channel (varied location and
    # scale), tabulated over the integers between its 1e-9 tail quantiles (as an entropy
    # bottleneck does), so the edge symbols that need escape digits are rare
    loc = rng.normal(0.0, 1.0, channels)
    scale = np.exp(rng.uniform(np.log(0.3), np.log(8.0), channels))
    tail = scale * np.log(1e9)
    offsets = np.floor(loc - tail).astype(np.int64)
    lengths = np.ceil(loc + tail).astype(np.int64) - offsets + 1
    pmfs = np.zeros((channels, int(lengths.max())))
    x = np.empty((channels, h * w), dtype=np.int64)
    for c in range(channels):
        k = np.arange(lengths[c] + 1) + offsets[c] - 0.5
        pmf = np.diff(1 / (1 + np.exp(-(k - loc[c]) / scale[c])))
        pmfs[c, : lengths[c]] = pmf
        x[c] = rng.choice(lengths[c], size=h * w, p=pmf / pmf.sum()) + offsets[c]
    x = x.reshape(channels, h, w)
    index = np.broadcast_to(np.arange(channels)[:, None, None], x.shape).copy()
    dist = IndexedTables(pmfs, offsets, lengths, index)
    return x, dist, TablesRaw(x, pmfs, offsets, lengths)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--symbols", type=int, default=1 << 20, help="symbols per case (2**20)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved repeats, best kept (7)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)

    cases = {"gaussian": gaussian_case(args.symbols, rng), "tables": tables_case(args.symbols, rng)}
    coders = {"ans": AnsCoder(), "range": RangeCoder()}

    jobs, sizes = {}, {}  # (case, coder, direction, impl) -> zero-argument callable
    for cname, (x, dist, raw) in cases.items():
        for kname, coder in coders.items():
            stack = coder.order == "stack"
            data = encode_all(coder, [(x, dist)])
            words = raw.encode(stack)
            assert np.array_equal(decode_all(coder, data, [dist])[0], x), (cname, kname)
            assert np.array_equal(np.reshape(raw.decode(words, stack), -1), x.reshape(-1))
            sizes[cname, kname] = (len(data), 4 * len(words), information_bits(x, dist))

            def nc_encode(c=coder, x=x, d=dist):
                return encode_all(c, [(x, d)])

            def nc_decode(c=coder, b=data, d=dist):
                return decode_all(c, b, [d])

            def raw_encode(r=raw, s=stack):
                return r.encode(s)

            def raw_decode(r=raw, w=words, s=stack):
                return r.decode(w, s)

            jobs[cname, kname, "encode", "nc"] = nc_encode
            jobs[cname, kname, "encode", "raw"] = raw_encode
            jobs[cname, kname, "decode", "nc"] = nc_decode
            jobs[cname, kname, "decode", "raw"] = raw_decode

    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(args.repeats):
        for key, fn in jobs.items():
            t0 = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - t0)

    n_g, n_t = cases["gaussian"][0].size, cases["tables"][0].size
    print(f"symbols: {n_g} (gaussian), {n_t} (tables); best of {args.repeats} interleaved repeats")
    print(
        f"{'case':9s} {'coder':6s} {'dir':7s} {'nc Msym/s':>10s} {'raw Msym/s':>11s} {'nc/raw':>7s}"
    )
    worst = float("inf")
    rows = []
    for cname, (x, *_) in cases.items():
        for kname in coders:
            for direction in ("encode", "decode"):
                t_nc = best[cname, kname, direction, "nc"]
                t_raw = best[cname, kname, direction, "raw"]
                worst = min(worst, t_raw / t_nc)
                rows.append({"case": cname, "coder": kname, "direction": direction, "symbols": int(x.size),
                             "nc_seconds": t_nc, "raw_seconds": t_raw, "nc_over_raw_throughput": t_raw / t_nc})
                print(
                    f"{cname:9s} {kname:6s} {direction:7s} {x.size / t_nc / 1e6:10.2f} "
                    f"{x.size / t_raw / 1e6:11.2f} {t_raw / t_nc:7.3f}"
                )
    print()
    print(
        f"{'case':9s} {'coder':6s} {'nc bytes':>10s} {'raw bytes':>10s} {'info bytes':>11s} "
        f"{'nc/info':>8s} {'raw/info':>9s}"
    )
    for (cname, kname), (nc_bytes, raw_bytes, info) in sizes.items():
        print(
            f"{cname:9s} {kname:6s} {nc_bytes:10d} {raw_bytes:10d} {info / 8:11.0f} "
            f"{8 * nc_bytes / info:8.4f} {8 * raw_bytes / info:9.4f}"
        )
    print()
    print(f"worst nc/raw throughput ratio: {worst:.3f} (target >= 0.8)")
    import constriction as c

    write_json(args.json, constriction=getattr(c, "__version__", "?"), repeats=args.repeats, throughput=rows,
               sizes=[{"case": cn, "coder": kn, "nc_bytes": nb, "raw_bytes": rb, "information_bits": info}
                      for (cn, kn), (nb, rb, info) in sizes.items()])

if __name__ == "__main__":
    main()
