"""Regenerate the numbers of the results pages from the committed data.

    python benchmarks/report.py            # rewrite README.md and benchmarks/results/README.md
    python benchmarks/report.py --check    # exit 1, naming each block, if a page is out of date

A page holds generated blocks: ``<!--nc: FUNCTION ARGS-->`` ... ``<!--/nc-->``. A block on a
line of its own is a table; one inside a sentence is a single value. The text between the
markers is replaced by what FUNCTION computes from files under ``benchmarks/results/``
(``results.json``, ``baselines.json``, ``results-refined-*.json``, benchmark JSON), and from
the published CompressAI curves in ``$NC_REFERENCE`` (default
``../shared/reference/compressai-kodak-results``) for blocks that name them. Without that
folder those blocks are left as they are (``--check`` says so, and does not fail on them).

Functions (RUN is a folder under benchmarks/results/):

- ``points RUN``: λ | bpp | PSNR | MS-SSIM, one row per rate point;
- ``point RUN INDEX bpp|psnr|ms-ssim``: one number of one rate point (INDEX 0 = the first λ);
- ``bd RUN ANCHOR...``: anchor | BD-rate (PSNR) | BD-rate (MS-SSIM) of RUN's curve, where an
  ANCHOR is ``baselines`` (every Pillow curve in RUN's baselines.json), ``baselines=RUN2``,
  ``nc=RUN2`` (another nc curve) or ``published`` (every published CompressAI model curve);
- ``bdvalue RUN ANCHOR psnr|ms-ssim``: one BD-rate, ANCHOR as above but naming one curve
  (``jpeg``, ``nc=RUN2``, ``published=mbt2018-mean``);
- ``bdmatrix RUN... -- ANCHOR...``: BD-rate ``PSNR / MS-SSIM`` of each RUN against each anchor;
- ``grid RUN...``: ``bpp / PSNR`` of each RUN at each of its λ;
- ``refine RUN``: SGA latent refinement against the plain model, per λ, on the same images;
  ``refinevalue RUN bpp-min|bpp-max|bd``: one number from it;
- ``lossless RUN...``: the lossless codings of each run against its baselines;
- ``cumulative RUN``: bits/dim after 1, 10 and 100 items, per coding;
- ``lvalue RUN LABEL KEY``: one number of a lossless run (a coding's or a baseline's);
- ``budget RUN``: the run's training wall time (``model*.json``);
- ``spread ANCHOR RUN...``: seed-to-seed spread of one recipe: each RUN's seed, BD-rates
  against ANCHOR and PSNR at each λ, then the range (max − min) of each column;
- ``coders FILE``: the throughput table of ``benchmarks/coders.py --json FILE``;
- ``distributed FILE``: 1 and N training processes, ``benchmarks/distributed.py --json FILE``;
- ``gpucoding FILE``: the lane coder against constriction, ``benchmarks/gpu_coding.py --json FILE``;
- ``exactsynthesis FILE``: float against exact synthesis, ``benchmarks/exact_synthesis.py --json FILE``;
- ``videobd RUN [BASELINES_RUN]``: per test sequence, BD-rates (PSNR YUV, PSNR RGB, MS-SSIM) of
  a video run's model against each baseline (of RUN, or of BASELINES_RUN) and each other coding
  of the model (all-intra, one intra frame);
- ``videovalue RUN SEQUENCE ANCHOR``: one of those BD-rates (PSNR YUV), or against ``nc=RUN2``
  (another run's model) or ``nc=RUN2@LABEL`` (another coding of it, e.g. ``@intra_period=1``);
- ``videopoints RUN SEQUENCE [BASELINES_RUN]``: ``bpp / PSNR YUV`` of each curve at each of its
  points on one sequence (earlier training stages left out);
- ``gan RUN``: a generative codec's stage-1 model and its stage-2 model at each realism level
  per λ, every metric its results hold, and SWD, NIQE and PSNR against stage 1 (same bytes).

BD-rates are nc's (``nc_core.results.bd_table``: pchip over the overlapping range).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from pathlib import Path

import yaml

from nc_core.results import bd_table, load_results_json, sequence_bd_rows, sequence_curves

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PAGES = [REPO / "README.md", RESULTS / "README.md"]
BLOCK = re.compile(r"<!--nc:(?P<expr>[^>]*?)-->(?P<body>.*?)<!--/nc-->", re.S)
MINUS = "\u2212"

BASELINE_NAMES = {
    "jpeg": "JPEG (Pillow, 4:2:0)",
    "webp": "WebP (Pillow)",
    "avif": "AVIF (Pillow, speed 6)",
    "jpeg2000": "JPEG 2000 (Pillow, OpenJPEG 9/7)",
}
PUBLISHED = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor"]


class MissingReference(Exception):
    """The published curves are not on this machine."""


def _signed(v: float | None, unit: str = " %", digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:+.{digits}f}{unit}".replace("-", MINUS)


def _lmbdas(run: str) -> list:
    """The λ of each rate point, from the run's resolved pipeline."""
    config = yaml.safe_load((RESULTS / run / "pipeline.yaml").read_text())
    sweep = config.get("sweep") or {}
    if "train.loss.lmbda" in sweep:
        return sweep["train.loss.lmbda"]
    if config["codec"].get("ladder"):  # one variable-rate model: a point per rung, in rate order
        return config["codec"]["ladder"]
    return [config["train"]["loss"]["lmbda"]]


def _curve(run: str) -> dict:
    curve = load_results_json(RESULTS / run / "results.json", kind="nc")
    curve["name"] = run
    return curve


def _reference_dir() -> Path:
    folder = Path(os.environ.get("NC_REFERENCE", REPO.parent / "shared" / "reference" / "compressai-kodak-results"))
    if not folder.is_dir():
        raise MissingReference(str(folder))
    return folder


def _anchors(run: str, spec: str) -> list[dict]:
    """The anchor curves an ANCHOR argument names, as ``kind: baseline`` curves."""
    kind, _, arg = spec.partition("=")
    if kind == "baselines":
        curves = json.loads((RESULTS / (arg or run) / "baselines.json").read_text())
        return [c | {"kind": "baseline", "name": BASELINE_NAMES.get(c["name"], c["name"])} for c in curves]
    if kind in BASELINE_NAMES:  # one Pillow baseline of the run
        curves = json.loads((RESULTS / (arg or run) / "baselines.json").read_text())
        return [c | {"kind": "baseline", "name": BASELINE_NAMES[kind]} for c in curves if c["name"] == kind]
    if kind == "nc":
        return [_curve(arg) | {"kind": "baseline", "name": f"nc {arg}"}]
    if kind == "published":
        folder = _reference_dir()
        names = [arg] if arg else PUBLISHED
        return [load_results_json(folder / f"compressai-{n}_mse_cpu.json")
                | {"kind": "baseline", "name": f"published CompressAI {n}"} for n in names]
    raise ValueError(f"unknown anchor {spec!r}")


def _bd_rows(run: str, anchors: list[str]) -> list[dict]:
    curves = [_curve(run)] + [a for spec in anchors for a in _anchors(run, spec)]
    return bd_table(curves)


# ---------------------------------------------------------------------------- functions


def points(run: str) -> str:
    c = _curve(run)
    rows = ["| λ | bpp | PSNR (dB) | MS-SSIM |", "|---|---|---|---|"]
    for lmbda, bpp, psnr, msssim in zip(_lmbdas(run), c["bpp"], c["psnr-rgb"], c["ms-ssim-rgb"], strict=True):
        rows.append(f"| {lmbda} | {bpp:.4f} | {psnr:.2f} | {msssim:.4f} |")
    return "\n".join(rows)


def point(run: str, index: str, key: str) -> str:
    """One number of rate point ``index`` (0 = the first λ) of RUN's curve: ``bpp`` (4
    decimals), ``psnr`` (dB, 2 decimals) or ``ms-ssim`` (4 decimals)."""
    column, digits = {"bpp": ("bpp", 4), "psnr": ("psnr-rgb", 2), "ms-ssim": ("ms-ssim-rgb", 4)}[key]
    return f"{_curve(run)[column][int(index)]:.{digits}f}"


def bd(run: str, *anchors: str) -> str:
    rows = ["| anchor | BD-rate (PSNR) | BD-rate (MS-SSIM) |", "|---|---|---|"]
    for r in _bd_rows(run, list(anchors)):
        rows.append(f"| {r['anchor']} | {_signed(r['bd_rate_psnr'])} | {_signed(r['bd_rate_ms_ssim'])} |")
    return "\n".join(rows)


def bdvalue(run: str, anchor: str, metric: str) -> str:
    (row,) = _bd_rows(run, [anchor])
    return _signed(row["bd_rate_psnr" if metric == "psnr" else "bd_rate_ms_ssim"])


def bdmatrix(*args: str) -> str:
    split = args.index("--")
    runs, anchors = args[:split], args[split + 1:]
    short = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "jpeg2000": "JPEG 2000"}
    header = "| model | " + " | ".join(
        f"vs {short.get(a.partition('=')[0]) or a.partition('=')[2] or a}" for a in anchors) + " |"
    rows = [header, "|---|" + "---|" * len(anchors)]
    for run in runs:
        cells = []
        for a in anchors:
            if a == f"nc={run}":
                cells.append("—")
                continue
            (r,) = _bd_rows(run, [a])
            cells.append(f"{_signed(r['bd_rate_psnr'])} / {_signed(r['bd_rate_ms_ssim'])}")
        rows.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def grid(*runs: str) -> str:
    lmbdas = _lmbdas(runs[0])
    rows = ["| model | " + " | ".join(f"λ {x}" for x in lmbdas) + " |", "|---|" + "---|" * len(lmbdas)]
    for run in runs:
        if _lmbdas(run) != lmbdas:
            raise ValueError(f"{run}: other λ than {runs[0]}")
        c = _curve(run)
        rows.append(f"| {run} | " + " | ".join(f"{b:.4f} / {p:.2f}" for b, p in zip(c["bpp"], c["psnr-rgb"])) + " |")
    return "\n".join(rows)


def _refined(run: str) -> list[tuple]:
    """``(λ, plain, refined, images)`` per rate point, from ``results-refined-*.json``."""
    out = []
    for path in sorted((RESULTS / run).glob("results-refined-*.json")):
        doc = json.loads(path.read_text())
        label = path.stem.removeprefix("results-refined-")
        lmbda = float(dict(kv.split("=") for kv in label.split(","))["lmbda"])
        out.append((lmbda, doc["comparison"]["plain"], doc["comparison"]["refined"], doc["comparison"]["images"]))
    if not out:
        raise ValueError(f"{run}: no results-refined-*.json")
    return sorted(out, key=lambda t: t[0])


def _refine_bd(run: str) -> float | None:
    rows = _refined(run)
    plain = {"name": "plain", "kind": "baseline", "bpp": [p["bpp"] for _, p, _, _ in rows],
             "psnr-rgb": [p["psnr-rgb"] for _, p, _, _ in rows]}
    refined = {"name": "refined", "kind": "nc", "bpp": [r["bpp"] for _, _, r, _ in rows],
               "psnr-rgb": [r["psnr-rgb"] for _, _, r, _ in rows]}
    (row,) = bd_table([refined, plain])
    return row["bd_rate_psnr"]


def refine(run: str) -> str:
    rows = ["| λ | images | plain bpp / PSNR | refined bpp / PSNR | bpp change | PSNR change |",
            "|---|---|---|---|---|---|"]
    for lmbda, p, r, n in _refined(run):
        rows.append(f"| {lmbda:g} | {n} | {p['bpp']:.4f} / {p['psnr-rgb']:.2f} | {r['bpp']:.4f} / {r['psnr-rgb']:.2f} | "
                    f"{_signed(100 * (r['bpp'] / p['bpp'] - 1))} | {_signed(r['psnr-rgb'] - p['psnr-rgb'], ' dB', 2)} |")
    return "\n".join(rows)


def refinevalue(run: str, what: str) -> str:
    changes = [100 * (r["bpp"] / p["bpp"] - 1) for _, p, r, _ in _refined(run)]
    if what == "bpp-min":
        return _signed(min(changes, key=abs))
    if what == "bpp-max":
        return _signed(max(changes, key=abs))
    if what == "bd":
        return _signed(_refine_bd(run))
    raise ValueError(f"refinevalue: unknown {what!r}")


def _lossless_doc(run: str) -> tuple[list[dict], dict]:
    doc = json.loads((RESULTS / run / "results.json").read_text())
    baselines = {b["name"]: b for b in json.loads((RESULTS / run / "baselines.json").read_text())}
    return doc["results"], baselines


def lossless(*runs: str) -> str:
    names = list(_lossless_doc(runs[0])[1])
    rows = ["| run | coding | bits/dim | model bits/dim | file / model | initial bits | "
            + " | ".join(names) + " |", "|---|---|---|---|---|---|" + "---|" * len(names)]
    for run in runs:
        results, baselines = _lossless_doc(run)
        for r in results:
            rows.append(f"| {run} | {r['label']} | {r['bits_per_dim']:.4f} | {r['model_bits_per_dim']:.4f} | "
                        f"{r['rate_over_model']:.4f} | {r['initial_bits']} | "
                        + " | ".join(f"{baselines[n]['bits_per_dim']:.4f}" if n in baselines else "—" for n in names)
                        + " |")
    return "\n".join(rows)


def cumulative(run: str) -> str:
    results, _ = _lossless_doc(run)
    rows = ["| coding | initial bits | after 1 item | after 10 | after 100 | whole set | file / model |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        cum = r["cumulative_bits_per_dim"]
        rows.append(f"| {r['label']} | {r['initial_bits']} | {cum['1']:.4f} | {cum['10']:.4f} | {cum['100']:.4f} | "
                    f"{r['bits_per_dim']:.4f} | {r['rate_over_model']:.4f} |")
    return "\n".join(rows)


def lvalue(run: str, label: str, key: str) -> str:
    """One number of a lossless run: ``key`` (``bits_per_dim``, ``model_bits_per_dim``,
    ``initial_bits``, ``encoding_time``, ``decoding_time``) of the coding ``label``, or ``bits_per_dim`` of the baseline ``label``."""
    results, baselines = _lossless_doc(run)
    row = next((r for r in results if r["label"] == label), None) or baselines[label]
    value = row[key]
    if key.endswith("_time"):  # seconds, whole
        return f"{value:.0f} s"
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def coders(file: str) -> str:
    """The coders benchmark's throughput table, from its JSON (``benchmarks/coders.py --json``)."""
    doc = json.loads((RESULTS / file).read_text())
    rows = ["| case | coder | direction | nc Msymbols/s | constriction Msymbols/s | nc / constriction |",
            "|---|---|---|---|---|---|"]
    for r in doc["throughput"]:
        rows.append(f"| {r['case']} | {r['coder']} | {r['direction']} | {r['symbols'] / r['nc_seconds'] / 1e6:.2f} | "
                    f"{r['symbols'] / r['raw_seconds'] / 1e6:.2f} | {r['nc_over_raw_throughput']:.3f} |")
    return "\n".join(rows)


def distributed(file: str) -> str:
    """The distributed benchmark's table, from its JSON (``benchmarks/distributed.py --json``):
    per process count, steps and images per second (medians) and each repeat's time."""
    doc = json.loads((RESULTS / file).read_text())
    rows = ["| processes | steps/s | images/s | vs 1 process | training time of each repeat |", "|---|---|---|---|---|"]
    one = doc["results"][0]["steps_per_second"]
    for r in doc["results"]:
        runs = ", ".join(f"{t:.1f} s" for t in r["runs"])
        rows.append(f"| {r['processes']} | {r['steps_per_second']:.2f} | {r['images_per_second']:.1f} | "
                    f"{r['steps_per_second'] / one:.2f}x | {runs} |")
    machine = doc["machine"]
    rows.append(f"\n{doc['steps']} steps of global batch {doc['batch']} per run, device {doc['device']}, "
                f"{machine['cpus']} CPUs ({machine['processor']}), torch {doc['torch']}; `{doc['command']}`")
    return "\n".join(rows)


def gpucoding(file: str) -> str:
    """The lane coder's table, from ``benchmarks/gpu_coding.py --json``: per size and coder,
    encode and decode Msymbols/s, decode against constriction, and size over information."""
    doc = json.loads((RESULTS / file).read_text())
    rows = ["| symbols | coder | encode Msym/s | decode Msym/s | decode vs constriction | size / information |",
            "|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        rows.append(f"| {r['symbols']:,} | {r['coder']} | {r['encode_msym_s']:.2f} | {r['decode_msym_s']:.2f} | "
                    f"{r['decode_vs_constriction']:.2f}x | {r['bytes'] / r['info_bytes']:.4f} |")
    machine = doc["machine"]
    rows.append(f"\n{machine['cpus']} CPUs ({machine['processor']}), torch {doc['torch']} with {doc['threads']} "
                f"threads, constriction on one core; `{doc['command']}`")
    return "\n".join(rows)


def exactsynthesis(file: str) -> str:
    """Float against exact synthesis on the same files, from ``benchmarks/exact_synthesis.py --json``."""
    doc = json.loads((RESULTS / file).read_text())
    m, rows = doc["mean"], doc["rows"]
    worst = max(r["max_abs_diff"] for r in rows)
    return "\n".join([
        "| images | mean bytes | PSNR float | PSNR exact | cost | largest pixel difference | decode float | decode exact |",
        "|---|---|---|---|---|---|---|---|",
        f"| {len(rows)} | {sum(r['bytes'] for r in rows) / len(rows):,.0f} | {m['psnr_float']:.3f} dB | "
        f"{m['psnr_exact']:.3f} dB | {m['psnr_float'] - m['psnr_exact']:+.4f} dB | {worst} | "
        f"{m['decode_float_s']:.2f} s | {m['decode_exact_s']:.2f} s |",
        f"\nfiles identical both ways (rate cost 0); model `{Path(doc['point']).name}`; `{doc['command']}`"])


def budget(run: str) -> str:
    """The training wall time of a run, all its rate points together, from its ``model*.json``
    (wall time, not CPU time: the machine may have been shared)."""
    # model-stage<k>-*.json: an earlier stage of a model whose own model*.json counts it already
    seconds = sum(json.loads(f.read_text())["training"]["train_seconds"] for f in (RESULTS / run).glob("model*.json")
                  if not f.name.startswith("model-stage"))
    return f"{seconds / 60:.0f} min of training (wall time)"


def spread(anchor: str, *runs: str) -> str:
    """One recipe run with several seeds (RUNs with the same λ): what a re-run may differ by."""
    lmbdas = _lmbdas(runs[0])
    rows = ["| run | seed | BD-rate (PSNR) | BD-rate (MS-SSIM) | " + " | ".join(f"bpp / PSNR at λ {x}" for x in lmbdas)
            + " |", "|---|---|---|---|" + "---|" * len(lmbdas)]
    table = []
    for run in runs:
        if _lmbdas(run) != lmbdas:
            raise ValueError(f"{run}: other λ than {runs[0]}")
        seed = yaml.safe_load((RESULTS / run / "pipeline.yaml").read_text()).get("seed", 0)
        (r,) = _bd_rows(run, [anchor])
        c = _curve(run)
        table.append([r["bd_rate_psnr"], r["bd_rate_ms_ssim"], *c["bpp"], *c["psnr-rgb"]])
        cells = [f"{b:.4f} / {p:.2f}" for b, p in zip(c["bpp"], c["psnr-rgb"])]
        rows.append(f"| {run} | {seed} | {_signed(r['bd_rate_psnr'])} | {_signed(r['bd_rate_ms_ssim'])} | "
                    + " | ".join(cells) + " |")
    ranges = [max(col) - min(col) for col in zip(*table)]
    n = len(lmbdas)
    cells = [f"{b:.4f} / {p:.2f} dB" for b, p in zip(ranges[2:2 + n], ranges[2 + n:])]
    rows.append(f"| range (max − min) | | {ranges[0]:.1f} points | {ranges[1]:.1f} points | " + " | ".join(cells) + " |")
    return "\n".join(rows)


GAN_METRICS = [("bpp", "bpp", 4), ("psnr-rgb", "PSNR (dB)", 2), ("ms-ssim-rgb", "MS-SSIM", 4), ("swd", "SWD", 2),
               ("niqe", "NIQE", 2), ("lpips", "LPIPS", 4), ("fid", "FID", 1), ("kid", "KID", 4)]


def _point_mean(path: Path) -> dict:
    return {k: v[0] for k, v in json.loads(path.read_text())["results"].items()}


def gan(run: str) -> str:
    """A generative codec's stage-1 model and its stage-2 model at each realism level, per rate
    point (``results[-LABEL]-<point>.json``), with the change against stage 1 at the same bytes."""
    folder = RESULTS / run
    lmbdas = _lmbdas(run)
    points = [p.name[len("results-"):-len(".json")] for p in sorted(folder.glob("results-lmbda=*.json"))]
    if len(points) != len(lmbdas):
        raise ValueError(f"{run}: {len(points)} rate points' results for {len(lmbdas)} λ")
    present = [m for m in GAN_METRICS if m[0] in _point_mean(folder / f"results-{points[0]}.json")]
    rows = ["| λ | model | " + " | ".join(m[1] for m in present) + " | SWD vs stage 1 | NIQE vs stage 1 | PSNR vs stage 1 |",
            "|---|---|" + "---|" * (len(present) + 3)]
    for point in points:
        codings = {"stage 1": f"results-stage1-{point}.json"}
        codings |= {label.replace("=", " "): f"results-{label}-{point}.json"
                    for label in sorted({p.name[len("results-"):-len(f"-{point}.json")]
                                         for p in folder.glob(f"results-realism=*-{point}.json")})}
        base = yaml.safe_load((folder / "pipeline.yaml").read_text())["codec"].get("realism", 1.0)
        codings[f"realism {base}"] = f"results-{point}.json"
        ref = _point_mean(folder / codings["stage 1"])
        for label, file in sorted(codings.items(), key=lambda kv: (kv[0] != "stage 1", kv[0])):
            m = _point_mean(folder / file)
            cells = [f"{m[k]:.{d}f}" if k in m else "n/a" for k, _, d in present]
            changes = [_signed(100 * (m["swd"] / ref["swd"] - 1)), _signed(m["niqe"] - ref["niqe"], "", 2),
                       _signed(m["psnr-rgb"] - ref["psnr-rgb"], " dB", 2)] if label != "stage 1" else ["", "", ""]
            lmbda = point.split("=", 1)[1].split(",")[0]
            rows.append(f"| {lmbda} | {label} | " + " | ".join(cells + changes) + " |")
    return "\n".join(rows)


def _video_curves(run: str, baselines: str | None = None) -> list[dict]:
    """A published video run's curves with their ``per_sequence`` rows: the model (one
    ``results-lmbda=<λ>.json`` per point of a sweep, or ``results-quality=<k>.json`` per rung of a
    variable-rate model), each other coding of it (``results-<label>-lmbda=<λ>.json``, or
    ``-quality=<k>``) and the baselines (``baselines.json`` of RUN if it has one, or of the run
    ``baselines`` names: a probe that re-evaluates a run's models shares its baselines)."""
    folder = RESULTS / run
    for key in ("lmbda", "quality"):
        points = sorted((f.name[len("results-"):-len(".json")] for f in folder.glob(f"results-{key}=*.json")),
                        key=lambda p: float(p.split("=", 1)[1]))
        if points:
            break
    else:
        raise ValueError(f"{run}: no results-lmbda=*.json or results-quality=*.json")

    def curve(name: str, files: list[Path]) -> dict:
        docs = [json.loads(f.read_text()) for f in files]
        return {"name": name, "kind": "nc", "labels": points,
                "per_sequence": [[{k: v for k, v in r.items() if k != "per_frame"} for r in d["per_image"]]
                                 for d in docs]}

    labels = sorted({f.name[len("results-"):-len(f"-{points[0]}.json")]
                     for f in folder.glob(f"results-*-{points[0]}.json")})
    curves = [curve(run, [folder / f"results-{p}.json" for p in points])]
    curves += [curve(f"{run} {label}", [folder / f"results-{label}-{p}.json" for p in points]) for label in labels]
    file = RESULTS / (baselines or run) / "baselines.json"
    return curves + (json.loads(file.read_text()) if file.is_file() or baselines else [])


def videobd(run: str, baselines: str | None = None) -> str:
    rows = ["| sequence | anchor | BD-rate (PSNR YUV) | BD-rate (PSNR RGB) | BD-rate (MS-SSIM) |", "|---|---|---|---|---|"]
    for r in sequence_bd_rows(_video_curves(run, baselines)):
        if r["anchor"].split()[-1].startswith("stage"):
            continue  # an earlier training stage is not an anchor worth a row here
        rows.append(f"| {r['sequence']} | {r['anchor']} | {_signed(r['bd_rate_psnr_yuv'])} | "
                    f"{_signed(r['bd_rate_psnr'])} | {_signed(r['bd_rate_ms_ssim'])} |")
    return "\n".join(rows)


def videovalue(run: str, sequence: str, anchor: str) -> str:
    """One BD-rate (PSNR YUV) of a video run's model on one sequence against ANCHOR (a
    baseline's name, ``nc=RUN2`` another run's model on the same sequence, ``nc=RUN2@LABEL``
    another coding of it, e.g. its all-intra curve, or a coding label of RUN)."""
    kind, _, other = anchor.partition("=")
    curves = _video_curves(run)
    if kind == "nc":
        run2, _, label = other.partition("@")
        want = f"{run2} {label}" if label else run2
        theirs = [c for c in _video_curves(run2) if c["name"] == want]
        if not theirs:
            raise ValueError(f"{run2}: no coding {label!r}")
        curves = [curves[0], theirs[0]]
    else:
        want = anchor
    for r in sequence_bd_rows(curves):
        if r["sequence"] == sequence and r["anchor"] in (want, f"{run} {want}"):
            return _signed(r["bd_rate_psnr_yuv"])
    raise ValueError(f"{run}: no BD-rate on {sequence!r} against {anchor!r}")


def videopoints(run: str, sequence: str, baselines: str | None = None) -> str:
    seqs = sequence_curves(_video_curves(run, baselines))
    if sequence not in seqs:
        raise ValueError(f"{run}: no sequence {sequence!r} (have {', '.join(seqs)})")
    curves = [c for c in seqs[sequence] if not c["name"].split()[-1].startswith("stage")]
    width = max(len(c["bpp"]) for c in curves)
    rows = ["| curve | " + " | ".join(f"point {i + 1}" for i in range(width)) + " |", "|---|" + "---|" * width]
    for c in curves:
        cells = [f"{c['labels'][i]}: {c['bpp'][i]:.4f} / {c['psnr-yuv'][i]:.2f}" for i in range(len(c["bpp"]))]
        rows.append(f"| {c['name']} | " + " | ".join(cells + [""] * (width - len(cells))) + " |")
    return "\n".join(rows)


FUNCTIONS = {f.__name__: f for f in (points, point, bd, bdvalue, bdmatrix, grid, refine, refinevalue, lossless, cumulative,
                                     lvalue, budget, coders, distributed, gpucoding, exactsynthesis, spread, gan, videobd,
                                     videovalue, videopoints)}


# ---------------------------------------------------------------------------- pages


def render(expr: str) -> str:
    name, *args = shlex.split(expr)
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r} (choices: {', '.join(FUNCTIONS)})")
    return FUNCTIONS[name](*args)


def regenerate(text: str, where: str) -> tuple[str, list[str], list[str]]:
    """``(new text, blocks that changed, blocks left as they are for want of the reference)``."""
    changed, skipped = [], []

    def sub(m: re.Match) -> str:
        expr, body = m.group("expr").strip(), m.group("body")
        line = text.count("\n", 0, m.start()) + 1
        try:
            value = render(expr)
        except MissingReference as exc:
            skipped.append(f"{where}:{line}: {expr} (no published curves at {exc})")
            return m.group(0)
        block = body.startswith("\n")
        new = f"\n{value}\n" if block else value
        if new != body:
            changed.append(f"{where}:{line}: {expr}")
        return f"<!--nc: {expr}-->{new}<!--/nc-->"

    return BLOCK.sub(sub, text), changed, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a page is out of date")
    parser.add_argument("pages", nargs="*", type=Path, default=PAGES, help="pages to regenerate (default: both)")
    args = parser.parse_args(argv)
    stale = []
    for page in args.pages:
        text = page.read_text()
        new, changed, skipped = regenerate(text, str(page.relative_to(REPO) if page.is_relative_to(REPO) else page))
        for s in skipped:
            print(f"not checked: {s}", file=sys.stderr)
        if args.check:
            stale += changed
        elif new != text:
            page.write_text(new)
            print(f"{page}: {len(changed)} block(s) updated")
    if stale:
        print("out of date (run python benchmarks/report.py):\n" + "\n".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
