"""Side-by-side crops of a generative codec at matched bytes: the original, the stage-1 model,
the stage-2 model at two realism levels (one file, decoded twice), and JPEG and WebP at the
quality whose file comes closest to that file's size (WebP within +-5 % where any quality gets
there; the table states every size).

    python benchmarks/gan_crops.py RUN_DIR/POINT [--images kodim14 kodim23] --data ../shared/data/kodak \\
        -o benchmarks/results/kodak-gan [--json crops.json]

Writes ``crops-<image>.png`` (one row of labelled crops) and ``crops.md`` (the table of sizes,
included in the results page) into ``-o``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_json  # noqa: E402

from nc_core import container  # noqa: E402
from nc_core.imaging import read_image  # noqa: E402
from nc_core.models import load_model  # noqa: E402
from nc_core.pipeline import build  # noqa: E402

CROP = 256
QUALITIES = range(1, 101)


def closest(baseline: str, image: np.ndarray, target: int) -> tuple[int, bytes, np.ndarray]:
    """``(quality, file, decoded)`` of the quality whose file size is closest to ``target``."""
    best = None
    for q in QUALITIES:
        codec = build(baseline, "baseline", quality=q)
        data = codec.compress(image)
        if best is None or abs(len(data) - target) < abs(len(best[1]) - target):
            best = (q, data, codec)
    q, data, codec = best
    return q, data, codec.decompress(data)


def crop_box(image: np.ndarray) -> tuple[int, int]:
    """The ``CROP``-square with the most detail (largest gradient energy), on a 32-px grid."""
    grey = image.astype(np.float64).mean(axis=2)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1]
    best, where = -1.0, (0, 0)
    for top in range(0, energy.shape[0] - CROP, 32):
        for left in range(0, energy.shape[1] - CROP, 32):
            e = energy[top:top + CROP, left:left + CROP].sum()
            if e > best:
                best, where = e, (top, left)
    return where


def strip(tiles: list[tuple[str, np.ndarray]]) -> Image.Image:
    pad, label = 6, 18
    out = Image.new("RGB", (len(tiles) * (CROP + pad) - pad, CROP + label), "white")
    draw = ImageDraw.Draw(out)
    for i, (text, tile) in enumerate(tiles):
        x = i * (CROP + pad)
        out.paste(Image.fromarray(tile), (x, label))
        draw.text((x + 2, 2), text, fill="black")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("point", type=Path, help="a generative model's run directory (with stage1/ inside)")
    ap.add_argument("--data", type=Path, required=True, help="the folder of test images")
    ap.add_argument("--images", nargs="+", default=["kodim14", "kodim23"])
    ap.add_argument("--realism", nargs=2, type=float, default=[0.5, 1.0])
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    stage1, stage2 = load_model(args.point / "stage1"), load_model(args.point)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, records = [], []
    for name in args.images:
        image = read_image(args.data / f"{name}.png")[0]
        pixels = image.shape[0] * image.shape[1]
        data = stage2.compress(image)
        one = stage1.compress(image)
        assert container.unpack(stage1, one).streams == container.unpack(stage2, data).streams, "stage 2 recoded"
        decoded = {"stage 1": stage1.decompress(one)}
        for r in args.realism:
            decoded[f"realism {r:g}"] = stage2.with_realism(r).decompress(data)
        sizes = {k: len(one) if k == "stage 1" else len(data) for k in decoded}
        for baseline in ("jpeg", "webp"):
            q, file, dec = closest(baseline, image, len(data))
            decoded[f"{baseline.upper()} q={q}"] = dec
            sizes[f"{baseline.upper()} q={q}"] = len(file)
        top, left = crop_box(image)
        tiles = [("original", image[top:top + CROP, left:left + CROP])]
        tiles += [(f"{k} ({sizes[k]} B)", v[top:top + CROP, left:left + CROP]) for k, v in decoded.items()]
        strip(tiles).save(args.out / f"crops-{name}.png")
        record = {"image": name, "crop": [top, left, CROP], "nc_bytes": len(data),
                  "sizes": sizes, "bpp": {k: 8 * s / pixels for k, s in sizes.items()},
                  "psnr": {k: float(10 * np.log10(255**2 / np.mean((v.astype(float) - image) ** 2)))
                           for k, v in decoded.items()}}
        records.append(record)
        cells = [("q=" + k.partition(" q=")[2] + ": " if " q=" in k else "")
                 + f"{s} B, {record['bpp'][k]:.3f} bpp, {record['psnr'][k]:.2f} dB" for k, s in sizes.items()]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    md = [f"Crops ({CROP} px, the most detailed square of each image) at matched bytes, model {args.point.name}: "
          "stage 1 and stage 2 code the same bits (stage 2's file is checked to hold stage 1's streams); JPEG and "
          "WebP at the quality whose whole-image file is closest in size.", "",
          "Each cell: the whole image's file size, rate and PSNR.", "",
          "| image | " + " | ".join(k.partition(" q=")[0].replace("WEBP", "WebP") for k in records[0]["sizes"]) + " |",
          "|---" * (len(records[0]["sizes"]) + 1) + "|", *rows, ""]
    md += [f"![{r['image']}](crops-{r['image']}.png)" for r in records]
    (args.out / "crops.md").write_text("\n".join(md) + "\n")
    write_json(args.json, point=str(args.point), crops=records)


if __name__ == "__main__":
    main()
