"""Framework + entropy-coding overhead of the hyperprior codecs, measured side by side.

For one Kodak image and each trained model (a run directory holding ``model.pt``), three
timings are interleaved over the repeats and the median of each is kept:

* **forward**: the pure network forward passes of the model, in float, no coding:
  encoder side ``g_a`` + the entropy model's networks (hyper-analysis, hyper-synthesis,
  context / slice networks, all run in parallel over the latent), decoder side the entropy
  networks without the hyper-analysis + ``g_s``;
* **codec**: ``codec.compress(image)`` and ``codec.decompress(data)`` in memory: quantization,
  exact fixed-point entropy parameters, entropy coding, the container and its checks;
* **cli**: ``nc compress`` / ``nc decompress`` run in-process through ``nc_core.cli.main``:
  the above plus reading the PNG, loading the model and writing the output (PNG encoding of
  the decoded image included), without the interpreter's start-up.

Prints absolute times (ms) and the ratios codec/forward and cli/forward (overhead = ratio - 1).
The spatial autoregressive model decodes position by position; its ratio is reported as is.

``--devices cpu cuda`` measures every model on each device in turn (the transforms run there;
the entropy model and the coder on the host), and ``--size 3840x2160`` resizes the image
(bicubic) first: the 4K end-to-end comparison of GPU and CPU. The file is checked to be the
same bytes on every device.

    python benchmarks/hyperprior_speed.py RUN_DIR [RUN_DIR ...] [--image PATH] [--repeats N]
        [--devices cpu cuda] [--size WxH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from record import write_json  # benchmarks/record.py (the script's folder is on sys.path)

from nc_core.cli import main as nc_main
from nc_core.imaging import fixed_threads, load_rgb, pad_to, to_tensor
from nc_core.models import load_model
from nc_core.pipeline import build


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn) -> float:
    _sync()
    t0 = time.perf_counter()
    fn()
    _sync()  # a CUDA kernel's time counts when it has finished
    return time.perf_counter() - t0


@torch.no_grad()
def forward_times(codec, image) -> tuple[float, float]:
    """(encoder-side, decoder-side) pure network forward time in seconds, where the codec is."""
    x = pad_to(to_tensor(image, codec.device), codec.transform.stride)
    entropy, q = codec.entropy, build("round", "quantizer")
    t_ga = _timed(lambda: codec.transform.analysis(x))
    y = codec.transform.analysis(x)
    t_ha = _timed(lambda: entropy.hyper_analysis(y))
    t_entropy = _timed(lambda: entropy(y, q))  # hyper-analysis + parameter networks
    y_syn, _ = entropy(y, q)
    with fixed_threads():  # as the decoder runs it
        t_gs = _timed(lambda: codec.transform.synthesis(y_syn))
    return t_ga + t_entropy, max(t_entropy - t_ha, 0.0) + t_gs


def bench(run_dir: Path, image_path: Path, repeats: int, tmp: Path, device: str = "cpu") -> dict:
    codec = load_model(run_dir).to(device)
    image = load_rgb(image_path)
    data = codec.compress(image)
    nc_file, png = tmp / "x.nc", tmp / "x.png"
    cli = ["--model", str(run_dir), "--device", device, "--quiet"]
    nc_main(["compress", str(image_path), "-o", str(nc_file), *cli])
    samples = {k: [] for k in ("fwd_enc", "fwd_dec", "codec_enc", "codec_dec", "cli_enc", "cli_dec")}
    for _ in range(repeats):
        enc, dec = forward_times(codec, image)
        samples["fwd_enc"].append(enc)
        samples["fwd_dec"].append(dec)
        samples["codec_enc"].append(_timed(lambda: codec.compress(image)))
        samples["codec_dec"].append(_timed(lambda: codec.decompress(data)))
        samples["cli_enc"].append(_timed(lambda: nc_main(["compress", str(image_path), "-o", str(nc_file), *cli])))
        samples["cli_dec"].append(_timed(lambda: nc_main(["decompress", str(nc_file), "-o", str(png), *cli])))
    med = {k: statistics.median(v) for k, v in samples.items()}
    digest = hashlib.sha256(data).hexdigest()[:16]
    return {"model": codec.entropy.name, "device": device, "bytes": len(data), "sha256": digest, **med}


def _resized(image_path: Path, size: str, tmp: Path) -> Path:
    """``image_path`` resized (bicubic) to ``size`` (``WxH``), as a PNG in ``tmp``."""
    from PIL import Image

    w, h = (int(v) for v in size.lower().split("x"))
    out = tmp / f"{image_path.stem}-{w}x{h}.png"
    Image.open(image_path).convert("RGB").resize((w, h), Image.BICUBIC).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories holding model.pt")
    data = Path(os.environ.get("NC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--image", type=Path, default=data / "kodak" / "kodim01.png")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--devices", nargs="+", default=["cpu"], choices=("cpu", "cuda"),
                        help="measure on each of these in turn (default: cpu)")
    parser.add_argument("--size", help="resize the image to WxH first, e.g. 3840x2160 (4K)")
    parser.add_argument("--json", type=Path, help="also write the results here (with the machine and versions)")
    args = parser.parse_args()
    if not args.image.exists():
        raise SystemExit(f"{args.image}: not found (set NC_DATA or pass --image)")
    if "cuda" in args.devices and not torch.cuda.is_available():
        raise SystemExit("--devices cuda: no CUDA device on this machine")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        image = _resized(args.image, args.size, Path(tmp)) if args.size else args.image
        print(f"image {args.image.name}{f' resized to {args.size}' if args.size else ''}, "
              f"torch threads {torch.get_num_threads()}, median of {args.repeats}")
        print(f"{'model':24} {'device':6} {'bytes':>8} | {'fwd enc':>8} {'codec':>8} {'cli':>8} {'ratio':>11} |"
              f" {'fwd dec':>8} {'codec':>8} {'cli':>8} {'ratio':>11}")
        for run in args.runs:
            for device in args.devices:
                r = bench(run, image, args.repeats, Path(tmp), device)
                rows.append({"run": str(run), **r})
                ms = {k: v * 1000 for k, v in r.items() if isinstance(v, float)}
                print(f"{r['model']:24} {device:6} {r['bytes']:8d} | {ms['fwd_enc']:8.1f} {ms['codec_enc']:8.1f} "
                      f"{ms['cli_enc']:8.1f} {r['codec_enc'] / r['fwd_enc']:5.2f}/{r['cli_enc'] / r['fwd_enc']:5.2f} |"
                      f" {ms['fwd_dec']:8.1f} {ms['codec_dec']:8.1f} {ms['cli_dec']:8.1f} "
                      f"{r['codec_dec'] / r['fwd_dec']:5.2f}/{r['cli_dec'] / r['fwd_dec']:5.2f}")
            same = {r["sha256"] for r in rows if r["run"] == str(run)}
            if len(same) != 1:
                raise SystemExit(f"{run}: the devices wrote different files")
            if len(args.devices) > 1:
                by = {r["device"]: r for r in rows if r["run"] == str(run)}
                first = args.devices[0]
                print(" ".join(f"{d}: encode {by[first]['cli_enc'] / by[d]['cli_enc']:.2f}x, decode "
                               f"{by[first]['cli_dec'] / by[d]['cli_dec']:.2f}x faster end to end than {first};"
                               for d in args.devices[1:]) + " same file on every device")
    print("ratio = codec/forward and cli/forward (times in ms); overhead = ratio - 1")
    write_json(args.json, image=args.image.name, size=args.size, devices=args.devices, repeats=args.repeats,
               median_seconds=rows)


if __name__ == "__main__":
    main()
