"""Peak memory and time of compressing and decompressing one large image on the CPU.

The image is Kodak photos tiled to the requested size (default 3840 x 2160, 4K UHD), so its
content is natural. Run compress and decompress in separate processes to see each peak:

    python benchmarks/large_image.py RUN_DIR --step compress   # prints peak RSS and time
    python benchmarks/large_image.py RUN_DIR --step decompress
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.imaging import load_rgb
from nc_core.models import load_model

WORK = Path(os.environ.get("TMPDIR", "/tmp")) / "nc-large-image"


def tiled_image(height: int, width: int, kodak: Path) -> np.ndarray:
    tiles = [load_rgb(p) for p in sorted(kodak.glob("*.png")) if load_rgb(p).shape[:2] == (512, 768)]
    rows = []
    for i in range(-(-height // 512)):
        rows.append(np.concatenate([tiles[(i * 7 + j) % len(tiles)] for j in range(-(-width // 768))], axis=1))
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:height, :width])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--step", choices=["compress", "decompress"], required=True)
    parser.add_argument("--size", default="3840x2160", help="WIDTHxHEIGHT")
    parser.add_argument("--json", type=Path, help="also write the result here (with the machine and versions)")
    data = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    WORK.mkdir(exist_ok=True)
    codec = load_model(args.run)
    image = tiled_image(height, width, data / "kodak")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0 = time.perf_counter()
    if args.step == "compress":
        blob = codec.compress(image)
        (WORK / "large.nc").write_bytes(blob)
        what = f"{len(blob)} bytes, {len(blob) * 8 / (width * height):.4f} bpp"
    else:
        decoded = codec.decompress((WORK / "large.nc").read_bytes())
        ok = np.array_equal(decoded, codec.reconstruct(image)) if os.environ.get("NC_CHECK") else None
        what = f"decoded {decoded.shape}" + ("" if ok is None else f", equals reconstruction: {ok}")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{args.step} {width}x{height}: {what}; {seconds:.1f} s; peak RSS {peak:.2f} GiB "
          f"(before the step {base:.2f} GiB, model and image loaded)")
    write_json(args.json, run=str(args.run), step=args.step, size=[width, height], result=what, seconds=seconds,
               peak_rss_gib=peak, rss_before_step_gib=base)


if __name__ == "__main__":
    main()
