"""Where a generative codec's SWD comes from: PSNR and the sliced Wasserstein distance of each
Laplacian-pyramid level (finest first, the last the coarse Gaussian level), for a trained
model at several realism levels, and for reference images built from its realism-0
reconstruction that show what the metric rewards:

- ``true detail sS aA``: the base plus ``A`` times the high-pass (above a Gaussian of ``S`` px)
  of what it lacks, ``original - base`` (an oracle: a decoder cannot know it);
- ``colour noise sS``: the base plus independent normal noise per channel with the local
  energy of that missing detail (texture at the right amplitude, wrong statistics);
- ``grey laplace noise sS``: the same with one heavy-tailed (Laplace) noise for all channels;
- ``sharpen sS kK``: unsharp masking of the base, ``base + K (base - blur_S(base))``.

    python benchmarks/gan_swd_levels.py RUN_DIR/POINT [--realism 0,0.5,1] [--references] \\
        --data ../shared/data/kodak [--json out.json]

Numbers from decoded images (each model image is what ``nc decompress`` gives for its file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_json  # noqa: E402

from nc_core.imaging import read_image  # noqa: E402
from nc_core.models import load_model  # noqa: E402
from nc_core.pipeline import build  # noqa: E402
from nc_gan.generator import gaussian_blur  # noqa: E402
from nc_gan.metrics import sliced_wasserstein_levels  # noqa: E402


def _t(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]


def _image(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).round().clamp(0, 255).numpy().astype(np.uint8)


def _psnr(originals, decoded) -> float:
    psnr = build("psnr", "metric")
    return float(np.mean([psnr.compute(o, d, 0) for o, d in zip(originals, decoded)]))


def references(originals, base, rng: np.random.Generator):
    """``(label, images)`` of the reference constructions in the module docstring."""
    def detail(o, b, s):
        d = _t(o) - _t(b)
        return d - gaussian_blur(d, s)

    for s in (2.0, 4.0):
        for a in (0.5, 1.0):
            yield f"true detail s{s:g} a{a:g}", [_image(_t(b) + a * detail(o, b, s)) for o, b in zip(originals, base)]
        out = []
        for o, b in zip(originals, base):
            hp = detail(o, b, s)
            out.append(_image(_t(b) + gaussian_blur(hp**2, 4.0).sqrt() * torch.from_numpy(rng.standard_normal(hp.shape))))
        yield f"colour noise s{s:g}", out
    out = []
    for o, b in zip(originals, base):
        grey = detail(o, b, 2.0).mean(1, keepdim=True)
        noise = torch.from_numpy(rng.laplace(size=grey.shape)) / np.sqrt(2)
        out.append(_image(_t(b) + gaussian_blur(grey**2, 4.0).sqrt() * noise))
    yield "grey laplace noise s2", out
    for s in (1.0, 2.0):
        for k in (1.0, 2.0):
            yield f"sharpen s{s:g} k{k:g}", [_image(_t(b) + k * (_t(b) - gaussian_blur(_t(b), s))) for b in base]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="a generative model's run directory (holding model.pt)")
    ap.add_argument("--realism", default="0,0.5,1", help="comma-separated realism levels")
    ap.add_argument("--references", action="store_true", help="also the reference constructions")
    ap.add_argument("--data", type=Path, required=True, help="folder of test images (Kodak)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    model = load_model(args.model)
    originals = [read_image(p)[0] for p in sorted(args.data.glob("*.png"))]
    if not originals:
        raise SystemExit(f"{args.data}: no PNG images")
    rows = []

    def row(label, decoded):
        levels = sliced_wasserstein_levels(originals, decoded)
        rows.append({"label": label, "psnr-rgb": _psnr(originals, decoded), "swd": float(np.mean(levels)),
                     "swd-levels": levels})
        print(f"{label:24s} PSNR {rows[-1]['psnr-rgb']:6.2f}  SWD {rows[-1]['swd']:6.2f}  levels "
              + " ".join(f"{v:6.1f}" for v in levels), flush=True)

    base = None
    with torch.no_grad():
        for r in sorted({0.0, *(float(v) for v in args.realism.split(","))}):
            decoded = [model.with_realism(r).reconstruct(o) for o in originals]
            base = decoded if r == 0 else base
            row(f"realism {r:g}", decoded)
    if args.references:
        for label, images in references(originals, base, np.random.default_rng(0)):
            row(label, images)
    if args.json:
        write_json(args.json, model=str(args.model), images=len(originals), rows=rows)


if __name__ == "__main__":
    main()
