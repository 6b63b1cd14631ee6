"""``cuda-rans``: the lane-interleaved rANS coder, on CPU or CUDA tensors alike.

Encoding is deferred: ``encode`` turns each group into ops (:mod:`nc_cuda.models`) and
``finish`` runs all lanes over all of them at once (:mod:`nc_cuda.lanes`); groups come back
in the order they were encoded (a queue). Decoding runs group by group, so a decoder can
compute the next group's distribution from the symbols before it (hyperpriors do).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from nc_core.coders import check_support, flat_symbols
from nc_core.coding import FAMILIES
from nc_core.contracts import Coder
from nc_core.devices import resolve_device
from nc_cuda.lanes import LaneDecoder, encode_ops, lane_count
from nc_cuda.models import Tables, decode_continuous, decode_overflow, encode_continuous, overflow_ops

__all__ = ["LaneRansCoder"]
_CONTINUOUS = ("gaussian", "laplace", "logistic")


class LaneRansCoder(Coder):
    """Lane-interleaved rANS for per-symbol parametric distributions, tables and categoricals.

    ``device``: where the lanes run (``cpu``, ``cuda``, ``cuda:N`` or ``auto``); the bytes are
    the same on every device. ``lanes``: the most lanes a stream uses; ``ops_per_lane``: a
    stream uses one lane per this many coded ops (symbols plus their escape and position
    digits), so that small streams do not pay 4 bytes for each of thousands of lanes.
    ``search``: how the decoder finds a continuous symbol's bin, ``rows`` (one CDF row per
    symbol: few large operations, for GPUs) or ``bisect`` (little work, for CPUs); ``auto``
    picks by device. The bytes and symbols are the same either way.
    """

    name = "cuda-rans"
    order = "queue"
    families = frozenset(FAMILIES)

    def __init__(self, device: str = "auto", lanes: int = 4096, ops_per_lane: int = 4096,
                 search: Literal["auto", "bisect", "rows"] = "auto"):
        if not 1 <= lanes < 1 << 32 or ops_per_lane < 1:
            raise ValueError(f"lanes must be in 1 .. 2**32 - 1 and ops_per_lane >= 1, got {lanes} and {ops_per_lane}")
        if search not in ("auto", "bisect", "rows"):
            raise ValueError(f"search must be auto, bisect or rows, not {search!r}")
        self.device = resolve_device(device)
        # how a decoder finds a continuous symbol's bin (the same bins either way): few large
        # operations on a GPU, little work on a CPU
        self.rows = search == "rows" or (search == "auto" and self.device.type == "cuda")
        self.lanes, self.ops_per_lane = int(lanes), int(ops_per_lane)

    def encoder(self) -> _Encoder:
        return _Encoder(self)

    def decoder(self, data: bytes) -> _Decoder:
        return _Decoder(self, data)


def _check_family(coder: LaneRansCoder, dist) -> str:
    family = getattr(dist, "family", None)
    if family not in coder.families:
        supported = ", ".join(sorted(coder.families))
        raise TypeError(f"coder {coder.name!r} does not support the {family!r} distribution family "
                        f"(got {type(dist).__name__}; supported: {supported})")
    return family


#: per-symbol categorical rows are quantized at most this many table cells at a time
_ROW_CELLS = 1 << 22


def _table_chunks(coder: LaneRansCoder, dist):
    """``(start, end, Tables)`` covering a ``tables`` or ``categorical`` group in order: one bank
    for indexed tables and a shared row, per-symbol rows a bounded number at a time."""
    device, name = coder.device, coder.name
    if dist.family == "tables":
        yield 0, dist.size, Tables(dist.pmfs, dist.offsets, dist.lengths, dist.index, device, name)
        return
    k = dist.probs.shape[-1]
    if dist.probs.ndim == 1:
        yield 0, dist.size, Tables(dist.probs[None, :], [dist.offset], [k], np.zeros(dist.size, np.int64), device, name)
        return
    step = max(1, _ROW_CELLS // (k + 1))
    for start in range(0, dist.size, step):
        end = min(dist.size, start + step)
        rows = end - start
        yield start, end, Tables(dist.probs[start:end], np.full(rows, dist.offset), np.full(rows, k), np.arange(rows),
                                 device, name)


def _table_support(dist, device: torch.device) -> tuple:
    """Per-symbol ``(lo, hi)`` of a ``tables`` group (tensors), or a categorical's (ints)."""
    if dist.family == "tables":
        index = torch.tensor(np.asarray(dist.index, np.int64).reshape(-1), device=device)
        lo = torch.tensor(np.asarray(dist.offsets, np.int64), device=device)[index]
        return lo, lo + torch.tensor(np.asarray(dist.lengths, np.int64), device=device)[index] - 1
    return int(dist.lo), int(dist.hi)


def _edges(x: torch.Tensor, lo, hi) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nc_core.coding.edge_split` in torch: ``(clipped, magnitudes)``, the magnitudes
    (int64 holding the unsigned 64-bit distance) of the edge positions in flat order."""
    clipped = torch.clamp(x, lo, hi)
    edge = (clipped == lo) | (clipped == hi)
    xe, ce = x[edge], clipped[edge]
    return clipped, torch.where(xe >= ce, xe - ce, ce - xe)  # wraps modulo 2**64 like numpy's view


class _Encoder:
    def __init__(self, coder: LaneRansCoder):
        self._coder = coder
        self._segments: list[tuple[torch.Tensor, torch.Tensor]] | None = []

    def encode(self, symbols, dist) -> None:
        if self._segments is None:
            raise ValueError(f"{self._coder.name} stream already finished")
        family = _check_family(self._coder, dist)
        flat = flat_symbols(symbols, dist)
        if flat.size == 0:
            return
        device = self._coder.device
        x = torch.tensor(flat, device=device)
        segments = self._segments
        if family in _CONTINUOUS:
            clipped, mags = _edges(x, int(dist.lo), int(dist.hi))
            segments += encode_continuous(clipped, dist, device)
        else:
            lo, hi = _table_support(dist, device)
            if getattr(dist, "closed", False):
                if bool(torch.any((x < lo) | (x > hi))):
                    raise ValueError(f"symbols outside the closed categorical range [{dist.lo}, {dist.hi}]")
                clipped, mags = x, None
            else:
                clipped, mags = _edges(x, lo, hi)
            parts = [model.encode(clipped[a:b] - model.lo) for a, b, model in _table_chunks(self._coder, dist)]
            segments.append((torch.cat([p for p, _ in parts]), torch.cat([f for _, f in parts])))
        if mags is not None:
            segments += overflow_ops(mags)

    def finish(self) -> bytes:
        if self._segments is None:
            raise ValueError(f"{self._coder.name} stream already finished")
        segments, self._segments = self._segments, None
        device = self._coder.device
        if segments:
            start = torch.cat([s for s, _ in segments])
            freq = torch.cat([f for _, f in segments])
        else:
            start = freq = torch.zeros(0, dtype=torch.int64, device=device)
        lanes = lane_count(start.numel(), self._coder.lanes, self._coder.ops_per_lane)
        return encode_ops(start, freq, lanes)


class _Decoder:
    def __init__(self, coder: LaneRansCoder, data: bytes):
        self._coder, self._data = coder, bytes(data)
        self._lanes: LaneDecoder | None = None

    @property
    def _dec(self) -> LaneDecoder:
        """The stream, read at first use (a wrong family is reported before bad bytes)."""
        if self._lanes is None:
            self._lanes = LaneDecoder(self._data, self._coder.device, self._coder.name)
        return self._lanes

    def decode(self, dist) -> np.ndarray:
        family = _check_family(self._coder, dist)
        check_support(dist)
        dec = self._dec
        if dec.done:
            raise ValueError(f"{self._coder.name} stream already finished")
        if dist.size == 0:
            return np.zeros(dist.shape, dtype=np.int64)
        if family in _CONTINUOUS:
            x = decode_continuous(dec, dist, self._coder.rows)
            lo, hi = int(dist.lo), int(dist.hi)
            closed = False
        else:
            lo, hi = _table_support(dist, dec.device)
            x = torch.cat([dec.decode(b - a, model.lookup) + model.lo for a, b, model in _table_chunks(self._coder, dist)])
            closed = getattr(dist, "closed", False)
        if not closed:
            edge = (x == lo) | (x == hi)
            count = int(edge.sum())
            if count:
                mags = decode_overflow(dec, count)
                lo_e = lo[edge] if isinstance(lo, torch.Tensor) else lo
                x[edge] = torch.where(x[edge] == lo_e, x[edge] - mags, x[edge] + mags)  # modulo 2**64
        return x.cpu().numpy().reshape(dist.shape)

    def finish(self) -> None:
        self._dec.finish()
