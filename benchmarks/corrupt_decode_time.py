"""How long decoding a corrupt file takes before it is refused.

A corrupt or forged file must be refused quickly, not decoded for minutes or allowed to
allocate without bound. The test suite checks that every corruption is refused cleanly
(tests/test_end_to_end.py: exit 2, one line); this measures the time, which a test must not
(timings depend on the machine and its load).

The image is compressed with the run's model; each of ``--files`` variants is damaged the
way the test damages it (cycling: truncation, one flipped bit, scattered garbage bytes, an
overwritten span) and decoded with ``load_model(RUN).decompress``. Prints the decode time of
the intact file and the median, 99th percentile and maximum over the corrupt ones, per kind
of damage, and how many were refused (``ContainerError``) or, wrongly, decoded or failed
otherwise. Most damage is caught by the file's CRC at once; ``--forge-crc`` damages the body
and recomputes the CRC (as tests/test_end_to_end.py's forged files), so the damaged streams
reach the entropy decoder and the model: the slow path.

    python benchmarks/corrupt_decode_time.py RUN_DIR [--image PNG] [--files 1000] [--seed 0] [--forge-crc]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import zlib
from collections import Counter
from pathlib import Path

from nc_core.container import ContainerError
from nc_core.imaging import load_rgb
from nc_core.models import load_model

DAMAGE = ("truncation", "one flipped bit", "scattered garbage", "overwritten span")


def damaged(data: bytes, i: int, rng: random.Random, forge_crc: bool) -> bytes:
    """Variant ``i``: damage of kind ``DAMAGE[i % 4]`` at random places; with ``forge_crc``,
    of the body only, followed by the body's valid CRC-32."""
    if forge_crc:
        return forged(damaged(data[:-4], i, rng, False))
    buf = bytearray(data)
    kind = i % 4
    if kind == 0:
        buf = buf[: rng.randrange(len(buf))]
    elif kind == 1:
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 2:
        for _ in range(rng.randint(2, 50)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    else:
        start = rng.randrange(len(buf))
        buf[start : start + rng.randint(1, 200)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    return bytes(buf)


def forged(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    data_dir = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--image", type=Path, default=data_dir / "kodak" / "kodim01.png")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forge-crc", action="store_true", help="damage behind a valid CRC")
    args = parser.parse_args()

    codec = load_model(args.run)
    data = codec.compress(load_rgb(args.image))
    t0 = time.perf_counter()
    codec.decompress(data)
    intact = time.perf_counter() - t0

    rng = random.Random(args.seed)
    seconds: dict[str, list[float]] = {kind: [] for kind in DAMAGE}
    outcomes: Counter[str] = Counter()
    for i in range(args.files):
        variant = damaged(data, i, rng, args.forge_crc)
        t0 = time.perf_counter()
        try:
            codec.decompress(variant)
            outcomes["decoded (not refused!)"] += 1
        except ContainerError:
            outcomes["refused"] += 1
        except Exception as exc:  # a bug to report, not to hide: counted by type
            outcomes[f"failed with {type(exc).__name__}"] += 1
        seconds[DAMAGE[i % 4]].append(time.perf_counter() - t0)

    print(f"{args.image.name}: {len(data)} bytes; intact file decodes in {intact * 1e3:.1f} ms")
    everything = [s for values in seconds.values() for s in values]
    for kind, values in [*seconds.items(), ("all", everything)]:
        if values:
            print(f"  {kind:>18}: {len(values):4d} files, median {statistics.median(values) * 1e3:7.1f} ms, "
                  f"p99 {percentile(values, 0.99) * 1e3:7.1f} ms, max {max(values) * 1e3:7.1f} ms")
    print("  outcomes: " + ", ".join(f"{n} {what}" for what, n in outcomes.most_common()))


if __name__ == "__main__":
    main()
