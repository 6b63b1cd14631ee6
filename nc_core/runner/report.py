"""Run outputs: ``results.json`` (CompressAI's format), ``rd.png`` and ``report.md``.

A *curve* is a plain dict, one list entry per rate point::

    {"name": "nc", "kind": "nc",            # "nc" (default) | "baseline" | "reference"
     "bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
     "encoding_time": [...], "decoding_time": [...],   # optional, seconds per image
     "labels": ["lmbda=0.013", ...]}                   # optional, shown in report tables

A video curve also carries ``"per_sequence"``: per rate point, the list of its sequences' rows
(``{"sequence": name, "bpp": ..., "psnr-yuv": ...}``); :func:`sequence_curves` splits it into
one curve per sequence, as video papers report them.

Metric keys are CompressAI's, so :func:`load_results_json` turns any CompressAI results file
(e.g. the published Kodak curves) into a curve that plots and tabulates beside ours.

BD-rates (:mod:`nc_core.bdrate`) are computed against *anchors*: every ``"baseline"`` curve, or
only the curve named ``reference_name`` when one is given. PSNR BD-rates use dB; MS-SSIM
BD-rates use ``-10 log10(1 - ms-ssim)`` dB. Every file is written atomically (a temporary file
in the same folder, then ``os.replace``), so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nc_core.bdrate import bd_psnr, bd_rate, ms_ssim_db
from nc_core.files import atomic_write

__all__ = [
    "RESULTS_KEYS",
    "bd_table",
    "load_results_json",
    "plot_rd",
    "sequence_bd_rows",
    "sequence_curves",
    "sequence_sections",
    "write_report_md",
    "write_results_json",
    "write_lossless_report_md",
    "jsonable",
]

#: CompressAI's per-point fields, in the order its files list them
RESULTS_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
_PSNR, _MSSSIM = "psnr-rgb", "ms-ssim-rgb"
_PSNR_YUV = "psnr-yuv"  # (6 Y + U + V) / 8 of BT.709 4:2:0, as video papers report it
#: curve keys that are not per-point metrics
NOT_METRICS = ("name", "kind", "labels", "per_sequence")


def jsonable(value: Any) -> Any:
    """numpy scalars/arrays -> Python; NaN/inf -> None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------- results.json


def write_results_json(
    path: str | os.PathLike,
    name: str,
    description: str,
    points: Sequence[dict[str, float]],
    per_image: Sequence[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a CompressAI-format results file (``extra``: more top-level fields).

    :param path: destination, e.g. ``runs/quickstart/<id>/results.json``
    :param name: curve name (CompressAI's ``name``)
    :param description: free text (CompressAI's ``description``)
    :param points: one dict per rate point, each ``{results_key: mean over images}``, e.g.
        ``{"bpp": .., "psnr-rgb": .., "ms-ssim-rgb": .., "encoding_time": ..,
        "decoding_time": ..}``; every point must have the same keys
    :param per_image: optional per-image records, stored as the extra top-level ``"per_image"``
    :raises ValueError: no points, or points with different keys
    """
    if not points:
        raise ValueError("write_results_json: no rate points")
    keys = set(points[0])
    for i, p in enumerate(points):
        if set(p) != keys:
            raise ValueError(
                f"write_results_json: point {i} has keys {sorted(p)}, point 0 has {sorted(keys)}"
            )
    ordered = [k for k in RESULTS_KEYS if k in keys] + [
        k for k in points[0] if k not in RESULTS_KEYS
    ]
    doc: dict[str, Any] = {
        "name": name,
        "description": description,
        "results": {k: [p[k] for p in points] for k in ordered},
    }
    if per_image is not None:
        doc["per_image"] = list(per_image)
    doc |= extra or {}
    atomic_write(path, json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n")


def load_results_json(path: str | os.PathLike, kind: str = "reference") -> dict[str, Any]:
    """Read a CompressAI-format results file as a curve (see module docstring).

    :param path: results file (ours or CompressAI's)
    :param kind: the curve's ``kind``; ``"reference"`` for published curves
    :returns: ``{"name", "description", "kind", <results keys>: [float, ...], ["per_image"]}``,
        points in file order; ``null`` values become NaN
    """
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("results"), dict)
        or "bpp" not in doc["results"]
    ):
        raise ValueError(
            f"{path}: not a CompressAI results file (needs a 'results' object with 'bpp')"
        )
    curve: dict[str, Any] = {
        "name": str(doc.get("name", Path(path).stem)),
        "description": str(doc.get("description", "")),
        "kind": kind,
    }
    for key, values in doc["results"].items():
        curve[key] = [math.nan if v is None else float(v) for v in values]
    if "per_image" in doc:
        curve["per_image"] = doc["per_image"]
    return curve


# ---------------------------------------------------------------------------- BD-rates


def _anchors(curves: Sequence[dict], reference_name: str | None) -> list[dict]:
    if reference_name is None:
        return [c for c in curves if c.get("kind") == "baseline"]
    found = [c for c in curves if c["name"] == reference_name]
    if not found:
        raise ValueError(
            f"reference curve {reference_name!r} not among {[c['name'] for c in curves]}"
        )
    return found


def _quality(curve: dict, key: str) -> np.ndarray | None:
    """Higher-is-better quality values for BD: PSNR as is, MS-SSIM in dB."""
    if key not in curve:
        return None
    values = np.asarray(curve[key], dtype=np.float64)
    return ms_ssim_db(values) if key == _MSSSIM else values


def _safe(fn, a: dict, b: dict, key: str) -> float | None:
    qa, qb = _quality(a, key), _quality(b, key)
    if qa is None or qb is None:
        return None
    try:
        return fn(a["bpp"], qa, b["bpp"], qb)
    except ValueError:  # too few points or no overlap: reported as n/a
        return None


def bd_table(curves: Sequence[dict], reference_name: str | None = None) -> list[dict[str, Any]]:
    """BD numbers of every curve that is not an anchor against every anchor.

    :returns: rows ``{"curve", "anchor", "bd_rate_psnr", "bd_rate_ms_ssim", "bd_psnr"}``
        (percent, percent, dB); ``None`` where the curves lack the metric or do not overlap
    """
    anchors = _anchors(curves, reference_name)
    rows = []
    for c in curves:
        if any(a is c for a in anchors):
            continue
        for a in anchors:
            rows.append(
                {
                    "curve": c["name"],
                    "anchor": a["name"],
                    "bd_rate_psnr": _safe(bd_rate, a, c, _PSNR),
                    "bd_rate_ms_ssim": _safe(bd_rate, a, c, _MSSSIM),
                    "bd_psnr": _safe(bd_psnr, a, c, _PSNR),
                }
            )
    return rows


def sequence_curves(curves: Sequence[dict]) -> dict[str, list[dict]]:
    """``{sequence: [curve, ...]}``: every curve that carries ``per_sequence`` split into one
    curve per sequence (the rate points that coded it, in the curve's order, labels kept)."""
    out: dict[str, list[dict]] = {}
    for c in curves:
        per_point = c.get("per_sequence") or []
        names = dict.fromkeys(r["sequence"] for rows in per_point for r in rows)
        for name in names:
            found = [(i, r) for i, rows in enumerate(per_point) for r in rows if r["sequence"] == name]
            keys = [k for k, v in found[0][1].items() if isinstance(v, (int, float)) and k != "frames"]
            curve = {"name": c["name"], "kind": c.get("kind", "nc"), "frames": found[0][1].get("frames")}
            curve |= {k: [r[k] for _, r in found] for k in keys}
            if c.get("labels"):
                curve["labels"] = [c["labels"][i] for i, _ in found]
            out.setdefault(name, []).append(curve)
    return out


def sequence_bd_rows(curves: Sequence[dict]) -> list[dict[str, Any]]:
    """Per sequence, the BD-rates of the first nc curve (the model) against every other curve:
    each baseline and each other coding of the model (an all-intra variant, an earlier stage).
    Rows ``{"sequence", "curve", "anchor", "bd_rate_psnr_yuv", "bd_rate_psnr", "bd_rate_ms_ssim"}``."""
    rows = []
    for name, seq in sequence_curves(curves).items():
        model = next((c for c in seq if c["kind"] == "nc"), None)
        for anchor in seq:
            if model is None or anchor is model:
                continue
            rows.append({"sequence": name, "curve": model["name"], "anchor": anchor["name"],
                         "bd_rate_psnr_yuv": _safe(bd_rate, anchor, model, _PSNR_YUV),
                         "bd_rate_psnr": _safe(bd_rate, anchor, model, _PSNR),
                         "bd_rate_ms_ssim": _safe(bd_rate, anchor, model, _MSSSIM)})
    return rows


def sequence_sections(curves: Sequence[dict], plots: dict[str, str] | None = None) -> list[str]:
    """report.md lines, per sequence: its plot (``plots``: sequence -> image file, if given),
    the model's BD-rates (:func:`sequence_bd_rows`), then every curve's points on it."""
    seqs = sequence_curves(curves)
    if not seqs:
        return []
    bd = sequence_bd_rows(curves)
    out = ["## Per sequence", "",
           "Each sequence's own curves (video papers report per sequence): the model's BD-rates "
           "against each baseline and each other coding of the same model, then every curve's points.", ""]
    for name, seq in seqs.items():
        frames = seq[0].get("frames")
        out += [f"### {name}" + (f" ({frames} frames)" if frames else ""), ""]
        if plots and name in plots:
            out += [f"![{name}]({plots[name]})", ""]
        rows = [r for r in bd if r["sequence"] == name]
        if rows:
            out += ["| curve | anchor | BD-rate (PSNR YUV) | BD-rate (PSNR RGB) | BD-rate (MS-SSIM) |",
                    "|---|---|---|---|---|"]
            out += [f"| {r['curve']} | {r['anchor']} | {pct(r['bd_rate_psnr_yuv'])} | {pct(r['bd_rate_psnr'])} "
                    f"| {pct(r['bd_rate_ms_ssim'])} |" for r in rows] + [""]
        for c in seq:
            out += [f"{c['name']} ({c['kind']}):", ""] + _points_table(c) + [""]
    return out


def pct(v: float | None) -> str:
    """A percentage as the report shows it (``−12.3 %``, ``n/a`` for ``None``)."""
    return "n/a" if v is None else f"{v:+.1f} %".replace("-", "\u2212")


# ---------------------------------------------------------------------------- rd.png


def plot_rd(
    path: str | os.PathLike, curves: Sequence[dict], reference_name: str | None = None,
    title: str | None = None,
) -> None:
    """Plot PSNR (and, where curves have it, MS-SSIM in dB) against bpp to a PNG.

    Each curve that is not an anchor gets its BD-rates in the legend, e.g.
    ``nc (BD-rate vs jpeg −12.3 %)``. Styles: ``nc`` solid, ``baseline`` dashed,
    ``reference`` dotted. No display or pyplot state is used (Agg canvas).

    :param path: destination PNG
    :param curves: curves as in the module docstring
    :param reference_name: if given, the only anchor for BD-rates; else every baseline
    """
    from matplotlib.figure import Figure  # pyplot-free: Agg renders, no GUI backend

    anchors = _anchors(curves, reference_name)
    panels = [(_PSNR, "PSNR RGB (dB)")]
    if any(_PSNR_YUV in c for c in curves):
        panels.insert(0, (_PSNR_YUV, "PSNR YUV 4:2:0 (dB), (6Y + U + V) / 8"))
    if any(_MSSSIM in c for c in curves):
        panels.append((_MSSSIM, "MS-SSIM RGB (dB)  = \u221210 log10(1 \u2212 MS-SSIM)"))
    fig = Figure(figsize=(6.5 * len(panels), 5.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    style = {"nc": ("-", 2.0, "o"), "baseline": ("--", 1.2, "s"), "reference": (":", 1.2, "^")}
    for ax, (key, ylabel) in zip(axes, panels):
        for c in curves:
            q = _quality(c, key)
            if q is None:
                continue
            bpp = np.asarray(c["bpp"], dtype=np.float64)
            order = np.argsort(bpp)
            label = c["name"]
            if anchors and not any(a is c for a in anchors):
                bds = [f"vs {a['name']} {pct(_safe(bd_rate, a, c, key))}" for a in anchors]
                label += f"\n(BD-rate {', '.join(bds)})"
            ls, lw, marker = style.get(c.get("kind", "nc"), style["nc"])
            ax.plot(
                bpp[order],
                q[order],
                linestyle=ls,
                linewidth=lw,
                marker=marker,
                markersize=4,
                label=label,
            )
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)  # below: never hides data
    if title:
        fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write(path, buf.getvalue())


# ---------------------------------------------------------------------------- report.md


def _num(v: Any, fmt: str) -> str:
    return (
        "\u2014" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)
    )


def _points_table(curve: dict) -> list[str]:
    cols = [
        ("bpp", "bpp", ".4f"),
        (_PSNR, "PSNR (dB)", ".2f"),
        (_PSNR_YUV, "PSNR YUV (dB)", ".2f"),
        (_MSSSIM, "MS-SSIM", ".4f"),
        ("_msssim_db", "MS-SSIM (dB)", ".2f"),
        ("encoding_time", "enc (s)", ".3f"),
        ("decoding_time", "dec (s)", ".3f"),
    ]
    data = dict(curve)
    if _MSSSIM in data:
        data["_msssim_db"] = list(ms_ssim_db(data[_MSSSIM]))
    cols = [c for c in cols if c[0] in data]
    n = len(data["bpp"])
    labels = data.get("labels")
    head = (["point"] if labels else []) + [c[1] for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i in sorted(range(n), key=lambda i: data["bpp"][i]):
        cells = ([str(labels[i])] if labels else []) + [_num(data[k][i], f) for k, _, f in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report_md(
    path: str | os.PathLike,
    title: str,
    curves: Sequence[dict],
    notes: Iterable[str] = (),
    reference_name: str | None = None,
    budget: str | None = None,
    sections: Sequence[str] = (),
) -> None:
    """Write ``report.md``: notes, BD-rate table, then a points table per nc curve and baseline,
    then ``sections`` (more markdown lines, e.g. :func:`sequence_sections`).

    :param path: destination, e.g. ``runs/<name>/<id>/report.md``
    :param title: the level-1 heading
    :param curves: curves as in the module docstring; ``reference`` curves are compared in the
        BD table but not tabulated point by point
    :param notes: free lines shown as a bullet list (training budget, header bytes, data set...)
    :param reference_name: as in :func:`plot_rd`
    :param budget: what the nc models cost to train, repeated under the BD-rate table (BD-rates
        of a short training run say little without it)
    """
    out = [f"# {title}", ""]
    notes = list(notes)
    if notes:
        out += [f"- {n}" for n in notes] + [""]
    rows = bd_table(curves, reference_name)
    if rows:
        out += [
            "## BD-rate",
            "",
            (
                "Average rate change at equal quality (negative = fewer bits than the anchor; "
                "pchip Bjøntegaard over the overlapping quality range; MS-SSIM in dB). "
                "BD-PSNR: average PSNR gain at equal rate."
            ),
            "",
            "| curve | anchor | BD-rate (PSNR) | BD-rate (MS-SSIM) | BD-PSNR (dB) |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            bdp = "n/a" if r["bd_psnr"] is None else f"{r['bd_psnr']:+.2f}".replace("-", "\u2212")
            bdr = f"{pct(r['bd_rate_psnr'])} | {pct(r['bd_rate_ms_ssim'])}"
            out.append(f"| {r['curve']} | {r['anchor']} | {bdr} | {bdp} |")
        out.append("")
        if budget:
            out += [f"nc {budget}.", ""]
    for kind, heading in (("nc", "nc"), ("baseline", "baseline")):
        for c in curves:
            if c.get("kind", "nc") == kind:
                desc = f" \u2014 {c['description']}" if c.get("description") else ""
                out += [f"## {c['name']} ({heading}){desc}", ""] + _points_table(c) + [""]
    refs = [c["name"] for c in curves if c.get("kind") == "reference"]
    if refs:
        out += [f"Published reference curves overlaid: {', '.join(refs)}.", ""]
    out += list(sections)
    atomic_write(path, "\n".join(out))


# ------------------------------------------------------------------------------ lossless


def write_lossless_report_md(path: str | os.PathLike, title: str, rows: Sequence[dict],
                             baselines: Sequence[dict], notes: Iterable[str] = ()) -> None:
    """``report.md`` of a lossless pipeline: one row per trained model and coding variant
    (bits per dimension of the real file, the model's own code length, their ratio, initial
    bits, cumulative rates after the first items, timings), then the baselines."""
    out = [f"# {title}", ""] + [f"- {n}" for n in notes] + [""]
    after = sorted({k for r in rows for k in r.get("cumulative_bits_per_dim", {})}, key=int)
    out += [
        "## nc",
        "",
        "bits/dim: every byte of the file (header and initial bits included) over items x dims; "
        "model: the model's own code length (-ELBO for a latent-variable model, NLL for an "
        "autoregressive one), on the same items; after k: message bits after the first k items "
        "(initial bits included) per dimension.",
        "",
        "| coding | bits/dim | model bits/dim | file / model | initial bits | "
        + " | ".join(f"after {k}" for k in after) + (" | " if after else "") + "enc (s) | dec (s) |",
        "|" + "---|" * (7 + len(after)),
    ]
    for r in rows:
        cumulative = [_num(r.get("cumulative_bits_per_dim", {}).get(k), ".4f") for k in after]
        out.append(
            f"| {r['label']} | {r['bits_per_dim']:.4f} | {_num(r['model_bits_per_dim'], '.4f')} | "
            f"{_num(r['rate_over_model'], '.4f')} | {r['initial_bits']} | "
            + " | ".join(cumulative) + (" | " if cumulative else "")
            + f"{r['encoding_time']:.2f} | {r['decoding_time']:.2f} |"
        )
    if baselines:
        out += ["", "## baselines (same items)", "", "| baseline | files | bits/dim | enc (s) | dec (s) |",
                "|---|---|---|---|---|"]
        for b in baselines:
            out.append(f"| {b['name']} | {b['files']} | {b['bits_per_dim']:.4f} | {b['encoding_time']:.2f} | "
                       f"{b['decoding_time']:.2f} |")
    atomic_write(path, "\n".join(out) + "\n")
