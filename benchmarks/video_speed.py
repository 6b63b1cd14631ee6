"""Encode and decode speed of a video model against x264, measured side by side in one run.

On the first ``--frames`` frames of a clip (default: bikes, 640x272), with the same intra
period for all: the nc model's ``compress_sequence`` / ``decompress_sequence`` in memory
(real entropy coding, the container, the decoder's checks), and x264 ``veryslow`` and
``ultrafast`` (low delay, through the wheel's ffmpeg: process start-up and the YUV
conversions included, as a user of ffmpeg pays them). Prints frames per second of each and
the ratios nc / x264; each timing is the median of ``--repeats`` interleaved runs.

    python benchmarks/video_speed.py RUN_DIR/POINT [--clip PATH] [--frames N] [--repeats N]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path

import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.frames import read_frames
from nc_core.models import load_model
from nc_core.pipeline import build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="a trained video model's directory (model.pt inside)")
    data = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--clip", type=Path, default=data / "video" / "bikes.mp4")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    codec = load_model(args.model)
    frames = list(read_frames(args.clip, limit=args.frames))
    n = len(frames)
    x264 = {p: build({"use": "x264", "intra_period": codec.intra_period, "preset": p}, "baseline", quality=32)
            for p in ("veryslow", "ultrafast")}
    times: dict[str, list[float]] = {}

    def timed(key, fn):
        t = time.perf_counter()
        out = fn()
        times.setdefault(key, []).append(time.perf_counter() - t)
        return out

    for _ in range(args.repeats):
        buf = io.BytesIO()
        timed("nc encode", lambda b=buf: codec.compress_sequence(frames, b))
        timed("nc decode", lambda b=buf: sum(1 for _ in codec.decompress_sequence(io.BytesIO(b.getvalue()))))
        for preset, base in x264.items():
            data = timed(f"x264 {preset} encode", lambda b=base: b.compress_sequence(frames))
            timed(f"x264 {preset} decode", lambda b=base, d=data: sum(1 for _ in b.decompress_sequence(d)))
    fps = {k: n / statistics.median(v) for k, v in times.items()}
    h, w = frames[0].shape[:2]
    print(f"{args.clip.name}: {n} frames {w}x{h}, intra period {codec.intra_period}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    for k, v in fps.items():
        print(f"  {k:24s} {v:8.2f} frames/s")
    for side in ("encode", "decode"):
        for preset in x264:
            print(f"  nc / x264 {preset} {side}: {fps[f'nc {side}'] / fps[f'x264 {preset} {side}']:.4f}")
    write_json(args.json, model=str(args.model), clip=str(args.clip), frames=n, fps=fps)


if __name__ == "__main__":
    main()
