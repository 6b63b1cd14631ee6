import json
import sys
from pathlib import Path

for d in sys.argv[1:]:
    d = Path(d)
    for f in ["results.json", "results-intra_period=0.json", "results-intra_period=1.json"]:
        if not (d / f).exists():
            continue
        r = json.loads((d / f).read_text())
        cells = []
        for s in r["per_image"]:
            pf = s["per_frame"]
            cells.append(f"{s['sequence'][:8]} {s['bpp']:.4f}/{s['psnr-yuv']:.2f} (f1-31 {sum(p['psnr-yuv'] for p in pf[1:32])/31:.2f})")
        print(f"{str(d)[-40:]:40s} {f[8:-5] or 'ip32':16s}", " | ".join(cells))
