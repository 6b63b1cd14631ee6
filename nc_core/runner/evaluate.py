"""Evaluation on real bytes: every test image is compressed to a container, decoded from those
bytes, checked against the evaluation reconstruction, and measured."""

from __future__ import annotations

import time
from typing import Iterable, Sequence

import numpy as np

from nc_core import container
from nc_core.contracts import Baseline, LearnedCodec, Metric


class ReconstructionMismatch(RuntimeError):
    """The decoded image differs from the evaluation reconstruction (an nc bug)."""


def _measure(metrics: Sequence[Metric], original, decoded, num_bytes: int) -> dict[str, float]:
    return {m.results_key: float(m.compute(original, decoded, num_bytes * 8)) for m in metrics}


def evaluate_codec(codec: LearnedCodec, images: Iterable[tuple[str, np.ndarray]], metrics: Sequence[Metric],
                   progress=None) -> list[dict]:
    """Per-image rows: metrics on the decoded image, sizes, ideal bits and timings."""
    codec.cpu().eval()
    rows = []
    for name, image in images:
        t0 = time.perf_counter()
        payload, expected = codec.encode_with_reconstruction(image)
        data = container.pack(codec, payload)
        t1 = time.perf_counter()
        decoded = codec.decompress(data)
        t2 = time.perf_counter()
        if not np.array_equal(decoded, expected):
            raise ReconstructionMismatch(f"{name}: decoded image differs from the evaluation reconstruction")
        row = {"image": name, "bytes": len(data), "header_bytes": container.header_size(data, payload),
               "ideal_bits": payload.ideal_bits}
        row |= _measure(metrics, image, decoded, len(data))
        row |= {"encoding_time": t1 - t0, "decoding_time": t2 - t1}
        rows.append(row)
        if progress:
            progress(name, row)
    return rows


def evaluate_baseline(baseline: Baseline, images: Sequence[tuple[str, np.ndarray]],
                      metrics: Sequence[Metric]) -> list[dict]:
    rows = []
    for name, image in images:
        t0 = time.perf_counter()
        data = baseline.compress(image)
        t1 = time.perf_counter()
        decoded = baseline.decompress(data)
        t2 = time.perf_counter()
        row = {"image": name, "bytes": len(data)} | _measure(metrics, image, decoded, len(data))
        rows.append(row | {"encoding_time": t1 - t0, "decoding_time": t2 - t1})
    return rows


def mean_point(rows: Sequence[dict]) -> dict[str, float]:
    """Mean over images of every numeric field (CompressAI averages per-image values)."""
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def as_curve(name: str, kind: str, points: Sequence[dict], labels: Sequence[str] | None = None) -> dict:
    """Points (one dict per rate point) -> a report curve (one list per field), by rate."""
    order = sorted(range(len(points)), key=lambda i: points[i]["bpp"])
    curve = {"name": name, "kind": kind} | {k: [points[i][k] for i in order] for k in points[0]}
    if labels is not None:
        curve["labels"] = [labels[i] for i in order]
    return curve


def baseline_curve(codecs: Sequence[Baseline], images, metrics) -> dict:
    """One R-D curve from one baseline at several qualities: mean points, sorted by rate."""
    points = [mean_point(evaluate_baseline(codec, images, metrics)) for codec in codecs]
    return as_curve(codecs[0].name, "baseline", points, labels=[f"q={c.quality}" for c in codecs])
