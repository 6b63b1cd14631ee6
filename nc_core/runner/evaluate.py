"""Evaluation on real bytes: every test image is compressed to a container, decoded from those
bytes, checked against the evaluation reconstruction, and measured.

Under torchrun the images (sequences) are shared out over the processes and every rank gets
all rows back in order (:func:`nc_core.distributed.map_items`): the same rows, the same bytes
per image, as one process."""

from __future__ import annotations

import hashlib
import io
import time
from typing import Iterable, Sequence

import numpy as np
import torch

from nc_core import container, distributed
from nc_core.contracts import Baseline, LearnedCodec, LosslessCodec, Metric, VideoCodec

#: cumulative rates are reported after these many items (the initial-bits effect)
CUMULATIVE_AFTER = (1, 10, 100)


class ReconstructionMismatch(RuntimeError):
    """The decoded image differs from the evaluation reconstruction (an nc bug)."""


def _measure(metrics: Sequence[Metric], original, decoded, num_bytes: int) -> dict[str, float]:
    return {m.results_key: float(m.compute(original, decoded, num_bytes * 8)) for m in metrics if m.per_image}


def measure_set(metrics: Sequence[Metric], originals: Sequence[np.ndarray],
                decoded: Sequence[np.ndarray]) -> dict[str, float]:
    """The set metrics (``per_image = False``) of one rate point."""
    return {m.results_key: float(m.compute_set(originals, decoded)) for m in metrics if not m.per_image}


def evaluate_codec(codec: LearnedCodec, images: Iterable[tuple[str, np.ndarray]], metrics: Sequence[Metric],
                   progress=None, keep: list | None = None, device: torch.device | str | None = None) -> list[dict]:
    """Per-image rows: metrics on the decoded image, sizes, ideal bits and timings; ``keep``
    (a list) receives each ``(original, decoded)`` pair, for the set metrics. The codec runs on
    ``device`` (default: where its weights are); its files do not depend on it."""
    if device is not None:
        codec.to(device)
    codec.eval()

    def one(item):
        name, image = item
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
        if progress:
            progress(name, row)
        return row, ((image, decoded) if keep is not None else None)

    results = distributed.map_items(one, images)
    if keep is not None:
        keep.extend(pair for _, pair in results)
    return [row for row, _ in results]


def evaluate_baseline(baseline: Baseline, images: Sequence[tuple[str, np.ndarray]],
                      metrics: Sequence[Metric], keep: list | None = None) -> list[dict]:
    def one(item):
        name, image = item
        t0 = time.perf_counter()
        data = baseline.compress(image)
        t1 = time.perf_counter()
        decoded = baseline.decompress(data)
        t2 = time.perf_counter()
        row = {"image": name, "bytes": len(data)} | _measure(metrics, image, decoded, len(data))
        return row | {"encoding_time": t1 - t0, "decoding_time": t2 - t1}, ((image, decoded) if keep is not None
                                                                             else None)

    results = distributed.map_items(one, images)
    if keep is not None:
        keep.extend(pair for _, pair in results)
    return [row for row, _ in results]


def evaluate_sequence(codec: VideoCodec, name: str, frames: Iterable[np.ndarray], metrics: Sequence[Metric],
                      device: torch.device | str | None = None) -> dict:
    """Code one sequence to a real file, frame by frame, decode it from those bytes and check
    every frame against the encoder's reconstruction (by hash: memory does not grow with the
    sequence). The row: the per-frame metrics' means over frames, the file's bytes and bpp,
    timings per frame, and ``per_frame`` (bytes, intra, metrics of each frame). The codec runs
    on ``device`` (default: where its weights are), as :func:`evaluate_codec`."""
    if device is not None:
        codec.to(device)
    codec.eval()
    per_frame, digests, pixels = [], [], [0]

    def coded(frame, reconstruction, nbytes):
        digests.append(hashlib.sha256(reconstruction.tobytes()).digest())
        pixels[0] += frame.shape[0] * frame.shape[1]
        per_frame.append({"bytes": nbytes} | _measure(metrics, frame, reconstruction, nbytes))

    out = io.BytesIO()
    t0 = time.perf_counter()
    size = codec.compress_sequence(frames, out, on_frame=coded)
    t1 = time.perf_counter()
    count = 0
    for k, decoded in enumerate(codec.decompress_sequence(io.BytesIO(out.getvalue()))):
        if k >= len(digests) or hashlib.sha256(decoded.tobytes()).digest() != digests[k]:
            raise ReconstructionMismatch(f"{name}: frame {k} decodes differently from the encoder's reconstruction")
        count += 1
    t2 = time.perf_counter()
    if count != len(digests):
        raise ReconstructionMismatch(f"{name}: {count} frames decoded of {len(digests)} coded")
    means = {k: float(np.mean([f[k] for f in per_frame])) for k in per_frame[0] if k != "bytes"}
    # the rate is the whole file's (container included), not the frames' mean
    return {"sequence": name, "frames": count} | means | {
        "bytes": size, "bpp": 8 * size / pixels[0], "encoding_time": (t1 - t0) / count,
        "decoding_time": (t2 - t1) / count, "per_frame": per_frame}


def sequences_point(codec: VideoCodec, sequences, metrics: Sequence[Metric], device: torch.device | str | None = None
                    ) -> tuple[list[dict], dict[str, float]]:
    """``(per-sequence rows, mean point)``: each number the mean over sequences of the
    per-sequence values, as learned-video papers average (frame counts may differ)."""
    rows = distributed.map_items(lambda item: evaluate_sequence(codec, *item, metrics, device), sequences)
    return rows, mean_point([{k: v for k, v in r.items() if k not in ("sequence", "frames", "per_frame")}
                             for r in rows])


def evaluate_baseline_sequence(baseline: Baseline, name: str, frames: Iterable[np.ndarray],
                               metrics: Sequence[Metric]) -> dict:
    """A video baseline on one sequence: its file's bytes and bpp, the per-frame metrics' means
    and timings per frame. The originals are kept for the comparison (one sequence at a time)."""
    originals = list(frames)
    t0 = time.perf_counter()
    data = baseline.compress_sequence(originals)
    t1 = time.perf_counter()
    per_frame = [_measure(metrics, o, d, 0) for o, d in zip(originals, baseline.decompress_sequence(data))]
    t2 = time.perf_counter()
    if len(per_frame) != len(originals):
        raise RuntimeError(f"{baseline.name}: {name} decoded to {len(per_frame)} frames of {len(originals)}")
    pixels = sum(o.shape[0] * o.shape[1] for o in originals)
    means = {k: float(np.mean([f[k] for f in per_frame])) for k in per_frame[0] if k != "bpp"}
    return {"sequence": name, "frames": len(originals)} | means | {
        "bytes": len(data), "bpp": 8 * len(data) / pixels, "encoding_time": (t1 - t0) / len(originals),
        "decoding_time": (t2 - t1) / len(originals)}


def baseline_sequences_curve(baselines: Sequence[Baseline], sequences, metrics: Sequence[Metric]) -> dict:
    """One R-D curve of a video baseline at several qualities: per quality, the mean over
    sequences (as :func:`sequences_point`) and ``per_sequence``, each sequence's row."""
    points = []
    for baseline in baselines:
        rows = distributed.map_items(lambda item, b=baseline: evaluate_baseline_sequence(b, *item, metrics), sequences)
        mean = mean_point([{k: v for k, v in r.items() if k not in ("sequence", "frames")} for r in rows])
        points.append(mean | {"per_sequence": rows})
    return as_curve(baselines[0].label, baselines[0].curve_kind, points, labels=[f"q={b.quality}" for b in baselines])


def _point(rows: list[dict], metrics: Sequence[Metric], pairs: list | None) -> dict[str, float]:
    if pairs is None:
        return mean_point(rows)
    return mean_point(rows) | measure_set(metrics, [o for o, _ in pairs], [d for _, d in pairs])


def _pairs(metrics: Sequence[Metric]) -> list | None:
    """A list to keep ``(original, decoded)`` pairs in when a set metric needs them."""
    return [] if any(not m.per_image for m in metrics) else None


def codec_point(codec: LearnedCodec, images, metrics: Sequence[Metric], device: torch.device | str | None = None
                ) -> tuple[list[dict], dict[str, float]]:
    """``(per-image rows, mean point with the set metrics)`` of a codec on ``images`` (run on
    ``device``, as :func:`evaluate_codec`)."""
    pairs = _pairs(metrics)
    rows = evaluate_codec(codec, images, metrics, keep=pairs, device=device)
    return rows, _point(rows, metrics, pairs)


def baseline_point(baseline: Baseline, images, metrics: Sequence[Metric]) -> dict[str, float]:
    pairs = _pairs(metrics)
    return _point(evaluate_baseline(baseline, images, metrics, keep=pairs), metrics, pairs)


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
    points = [baseline_point(codec, images, metrics) for codec in codecs]
    return as_curve(codecs[0].label, codecs[0].curve_kind, points, labels=[f"q={c.quality}" for c in codecs])


# ------------------------------------------------------------------------------ lossless


def evaluate_lossless(codec: LosslessCodec, items: np.ndarray) -> dict:
    """Code the whole set as one file, decode it, check every value, and measure.

    ``bits_per_dim`` counts every byte of the file (header and initial bits included);
    ``model_bits_per_dim`` is the model's own code length (``model_bits``); ``initial_bits``
    is the message size before the first item; ``cumulative_bits_per_dim[k]`` the message
    size after ``k`` items (initial bits included, container header not) per dimension.
    """
    codec.cpu().eval()
    chw = np.ascontiguousarray(items.transpose(0, 3, 1, 2))
    n, dims = len(chw), int(np.prod(chw.shape[1:]))
    trace: list[int] = []
    t0 = time.perf_counter()
    payload = codec.encode_set(chw, trace)
    data = container.pack(codec, payload)
    t1 = time.perf_counter()
    decoded = codec.decompress_set(data)
    t2 = time.perf_counter()
    if not np.array_equal(decoded, chw):
        raise ReconstructionMismatch("the decoded items differ from the originals")
    model_bits = float(np.sum(codec.model_bits(chw)))
    total = n * dims
    return {
        "items": n, "dims": dims, "bytes": len(data), "header_bytes": container.header_size(data, payload),
        "bits_per_dim": len(data) * 8 / total, "model_bits_per_dim": model_bits / total,
        "rate_over_model": len(data) * 8 / model_bits if model_bits > 0 else float("nan"),
        "initial_bits": trace[0] if trace else 0,
        "cumulative_bits_per_dim": {str(k): trace[k] / (k * dims) for k in CUMULATIVE_AFTER if k < len(trace)},
        "encoding_time": t1 - t0, "decoding_time": t2 - t1,
    }


def evaluate_lossless_baseline(baseline: Baseline, items: np.ndarray) -> dict:
    t0 = time.perf_counter()
    files = baseline.compress_set(items)
    t1 = time.perf_counter()
    decoded = baseline.decompress_set(files, items.shape)
    t2 = time.perf_counter()
    if not np.array_equal(decoded, items):
        raise ReconstructionMismatch(f"baseline {baseline.name!r} is not lossless on these items")
    nbytes = sum(len(f) for f in files)
    return {"name": baseline.name, "files": len(files), "bytes": nbytes, "bits_per_dim": nbytes * 8 / items.size,
            "encoding_time": t1 - t0, "decoding_time": t2 - t1}
