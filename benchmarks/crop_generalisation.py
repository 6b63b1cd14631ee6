"""Does a learned image codec's entropy model carry over from its training crops to whole images?

For each trained model (a run directory holding model.pt), the estimated rate of each Kodak
image coded whole against the same pixels cut into ``--tile`` x ``--tile`` tiles (the
training crop size). Tiles lose context at their borders, so a model that generalises codes
the whole image cheaper; a model whose entropy networks only ever saw tiny side-information
maps (all border) codes it dearer. Rates are ESTIMATES, ``-log2`` of the model's
likelihoods of the rounded latents, not file sizes.

    python benchmarks/crop_generalisation.py RUN_DIR [RUN_DIR ...] [--tile 96] [--images 24]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.imaging import load_rgb, to_tensor
from nc_core.models import PIPELINE_FILE, load_model
from nc_core.pipeline import build, load_pipeline


@torch.no_grad()
def estimated_bits(codec, x: torch.Tensor) -> float:
    """Sum of ``-log2`` likelihoods of every latent (side information included)."""
    return sum(float(-torch.log2(lik).sum()) for lik in codec(x)["likelihoods"].values())


def tiles(x: torch.Tensor, size: int) -> torch.Tensor:
    """``1 x 3 x H x W`` (multiples of ``size``) -> ``T x 3 x size x size``."""
    t = x.unfold(2, size, size).unfold(3, size, size)  # 1, 3, h, w, size, size
    return t.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, size, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories holding model.pt")
    data = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--kodak", type=Path, default=data / "kodak")
    parser.add_argument("--tile", type=int, default=96)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--json", type=Path, help="also write the results here (with the machine and versions)")
    args = parser.parse_args()
    files = sorted(args.kodak.glob("*.png"))[: args.images]
    if not files:
        raise SystemExit(f"{args.kodak}: no PNG images (set NC_DATA or pass --kodak)")
    size = args.tile
    print(f"{len(files)} Kodak images cropped to multiples of {size}; estimated bits per image")
    print(f"{'run':60} {'whole':>9} {'tiles':>9} {'whole/tiles':>11}")
    rows = []
    for run in args.runs:
        codec = load_model(run).eval()
        codec.quantizer = build("round", "quantizer")  # estimates of the rounded latents, as coded
        whole = tiled = 0.0
        for f in files:
            x = to_tensor(load_rgb(f))
            x = x[..., : x.shape[-2] // size * size, : x.shape[-1] // size * size]
            whole += estimated_bits(codec, x)
            tiled += estimated_bits(codec, tiles(x, size))
        n = len(files)
        label = f"{load_pipeline(run / PIPELINE_FILE).config['name']} {run.name}"
        print(f"{label[:60]:60} {whole / n:9.0f} {tiled / n:9.0f} {whole / tiled:11.3f}")
        rows.append({"run": str(run), "label": label, "estimated_bits_whole": whole / n,
                     "estimated_bits_tiles": tiled / n, "whole_over_tiles": whole / tiled})
    write_json(args.json, images=len(files), tile=size, estimates=rows)


if __name__ == "__main__":
    main()
