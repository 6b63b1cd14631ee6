"""Throughput of lossless coding (bits-back chains, PixelCNN) vs the model's forward time.

For a trained lossless run (a run directory with ``model.pt``), on its test items:

* **forward**: the model's float forward pass over all items, batched (a VAE's posterior and
  conditional networks with one posterior sample; a PixelCNN's one pass): its own cost;
* **compress** / **decompress**: ``compress_set`` / ``decompress_set`` of the whole set (exact
  fixed-point networks, coding tables, entropy coder, container), in the order the coding
  needs: item by item for a chain, position by position for a PixelCNN's decoder.

Prints items/s, megapixels/s and the ratios compress/forward and decompress/forward (medians
of ``--repeats`` interleaved runs). For bits-back codecs, ``--precisions 8 10 12`` also codes
the set with other latent bucket precisions on the same weights and prints file size /
model -ELBO for each.

    python benchmarks/lossless_speed.py RUN_DIR [--items N] [--repeats 3] [--precisions 8 10 12 14]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.imaging import as_items
from nc_core.models import PIPELINE_FILE, build_codec, load_model
from nc_core.pipeline import build, load_pipeline


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--items", type=int, default=0, help="first N test items (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precisions", type=int, nargs="*", default=[])
    parser.add_argument("--json", type=Path, help="also write the results here (with the machine and versions)")
    args = parser.parse_args()

    config = load_pipeline(args.run_dir / PIPELINE_FILE).config
    codec = load_model(args.run_dir)
    items = as_items(list(build(config["data"]["test"], "dataset").images()))
    items = items[: args.items or len(items)]
    chw = np.ascontiguousarray(items.transpose(0, 3, 1, 2))
    x = torch.from_numpy(chw).float() / codec.levels
    samples = {"forward": [], "compress": [], "decompress": []}
    for _ in range(args.repeats):
        with torch.no_grad():
            samples["forward"].append(_timed(lambda: codec(x))[0])
        t, data = _timed(lambda: codec.compress_set(chw))
        samples["compress"].append(t)
        t, back = _timed(lambda data=data: codec.decompress_set(data))
        samples["decompress"].append(t)
        assert np.array_equal(back, chw)
    med = {k: statistics.median(v) for k, v in samples.items()}
    n, pixels = len(chw), chw.shape[0] * chw.shape[2] * chw.shape[3]
    print(f"{config['name']}: {n} items of {list(chw.shape[1:])}, {len(data)} bytes, "
          f"torch threads {torch.get_num_threads()}")
    print("| step | seconds | items/s | Mpx/s | ratio to forward |")
    print("|---|---|---|---|---|")
    for key in ("forward", "compress", "decompress"):
        print(f"| {key} | {med[key]:.3f} | {n / med[key]:.1f} | {pixels / med[key] / 1e6:.3f} | "
              f"{med[key] / med['forward']:.1f} |")
    precisions = []
    if args.precisions:
        model_bits = float(np.sum(codec.model_bits(chw)))
        print("\n| precision (bits per latent) | bits/dim | file / model -ELBO |")
        print("|---|---|---|")
        for p in args.precisions:
            cfg = {**config["codec"], "precision": p}
            other = build_codec({**config, "codec": cfg})
            other.load_state_dict(codec.state_dict())
            other.eval()
            size = len(other.compress_set(chw)) * 8
            print(f"| {p} | {size / chw.size:.4f} | {size / model_bits:.4f} |")
            precisions.append({"precision": p, "bits": size, "model_bits": model_bits})
    write_json(args.json, run=str(args.run_dir), pipeline=config["name"], items=n, item_shape=list(chw.shape[1:]),
               pixels=pixels, bytes=len(data), repeats=args.repeats, median_seconds=med, precisions=precisions)


if __name__ == "__main__":
    main()
