"""What the exact synthesis costs: PSNR and decode time of a trained model's float synthesis
against its exact fixed-point synthesis (``exact_synthesis: true``), on the same files.

The rate cost is zero by construction (the synthesis is not part of the bitstream: each image
is encoded once and its file decoded both ways); the script checks the files are identical.
Prints per-image PSNR of both, the largest pixel difference, and the mean decode times.

    python benchmarks/exact_synthesis.py POINT_DIR [--data DIR] [--max-images N] [--json PATH]

``POINT_DIR`` holds ``model.pt`` (a trained sweep point) or a training ``checkpoint.pt``, with
``pipeline.yaml`` in it or its parent (a run directory or a carried zoo training run).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.imaging import IMAGE_SUFFIXES, load_rgb
from nc_core.models import build_codec, load_state
from nc_core.pipeline import load_pipeline


def load_point(point: Path):
    pipeline = next((p / "pipeline.yaml" for p in (point, point.parent) if (p / "pipeline.yaml").exists()), None)
    if pipeline is None:
        raise SystemExit(f"{point}: no pipeline.yaml in it or its parent")
    codec = build_codec(load_pipeline(pipeline, construct=False).config)
    if (point / "model.pt").exists():
        load_state(codec, point / "model.pt")
    else:
        state = torch.load(point / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
        own = codec.state_dict()
        codec.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
        codec.update()  # a checkpoint has no coding tables yet
    return codec.eval()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("point", type=Path)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("NC_DATA", "../shared/data")) / "kodak")
    ap.add_argument("--max-images", type=int, default=24)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: no such folder (give --data or set NC_DATA)")
    codec = load_point(args.point)
    files = sorted(p for p in args.data.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: args.max_images]
    rows = []
    print(f"{'image':<14}{'bytes':>8}{'PSNR float':>12}{'PSNR exact':>12}{'max |diff|':>11}{'dec float s':>12}{'dec exact s':>12}")
    for path in files:
        image = load_rgb(path)
        data = codec.compress(image)
        out = {}
        for exact in (False, True):
            codec.exact_synthesis = exact
            if codec.compress(image) != data:
                raise SystemExit(f"{path.name}: the file changed with exact_synthesis={exact}")
            t0 = time.perf_counter()
            out[exact] = (codec.decompress(data), time.perf_counter() - t0)
        codec.exact_synthesis = False
        (f, tf), (e, te) = out[False], out[True]
        row = {"image": path.name, "bytes": len(data), "psnr_float": psnr(image, f), "psnr_exact": psnr(image, e),
               "max_abs_diff": int(np.abs(f.astype(int) - e.astype(int)).max()), "decode_float_s": tf, "decode_exact_s": te}
        rows.append(row)
        print(f"{path.name:<14}{len(data):>8}{row['psnr_float']:>12.3f}{row['psnr_exact']:>12.3f}"
              f"{row['max_abs_diff']:>11}{tf:>12.2f}{te:>12.2f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr_float", "psnr_exact", "decode_float_s", "decode_exact_s")}
    print(f"mean over {len(rows)} images: PSNR float {mean['psnr_float']:.3f} dB, exact {mean['psnr_exact']:.3f} dB "
          f"(cost {mean['psnr_float'] - mean['psnr_exact']:+.4f} dB); rate cost 0 (identical files); "
          f"decode {mean['decode_float_s']:.2f} s float, {mean['decode_exact_s']:.2f} s exact")
    write_json(args.json, point=str(args.point), rows=rows, mean=mean)


if __name__ == "__main__":
    main()
