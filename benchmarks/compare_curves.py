"""BD-rates of nc result curves against each other, the run's Pillow baselines and the
published CompressAI curves, in one table.

    python benchmarks/compare_curves.py RESULTS.json [RESULTS.json ...] \
        [--baselines baselines.json] [--published ../shared/reference/compressai-kodak-results]

Each RESULTS.json is a run's top-level ``results.json`` (one curve). The first one is the
curve of interest; every curve is compared with every anchor (Pillow baselines, published
curves, and the other nc curves). Pchip Bjøntegaard over the overlapping range; negative
means fewer bits than the anchor; ``n/a`` where the curves do not overlap.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nc_core.results import bd_table, load_results_json


def _pct(v):
    return "n/a" if v is None else f"{v:+.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--baselines", type=Path, help="a run's baselines.json (Pillow curves)")
    parser.add_argument("--published", type=Path, help="folder of CompressAI-format reference curves")
    args = parser.parse_args()
    ours = []
    for path in args.results:
        curve = load_results_json(path, kind="nc")
        curve["name"] = path.parent.name if curve["name"] in {c["name"] for c in ours} else curve["name"]
        ours.append(curve)
    anchors = []
    if args.baselines:
        anchors += [c | {"kind": "baseline"} for c in json.loads(args.baselines.read_text())]
    if args.published:
        for path in sorted(args.published.glob("*.json")):
            anchors.append(load_results_json(path) | {"kind": "baseline", "name": f"published {path.stem}"})
    print("| curve | anchor | BD-rate (PSNR) | BD-rate (MS-SSIM) | BD-PSNR |\n|---|---|---|---|---|")
    for i, curve in enumerate(ours):
        others = [c | {"kind": "baseline"} for c in ours[:i] + ours[i + 1:]]
        for row in bd_table([curve, *anchors, *others]):
            bd_psnr = "n/a" if row["bd_psnr"] is None else f"{row['bd_psnr']:+.2f} dB"
            print(f"| {row['curve']} | {row['anchor']} | {_pct(row['bd_rate_psnr'])} | "
                  f"{_pct(row['bd_rate_ms_ssim'])} | {bd_psnr} |")


if __name__ == "__main__":
    main()
