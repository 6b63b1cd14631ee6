"""The lane-interleaved rANS format: N independent rANS states, one stream of 16-bit words.

Format
------
Every symbol a coder writes becomes one or more *ops*: an interval ``[start, start + freq)``
of ``M = 2**PREC`` (the model's quantized probability ``freq / M``). Ops are numbered in
decode order across the whole stream, and op ``g`` belongs to lane ``g % N`` (round
``g // N``): every lane codes every N-th op, so all lanes work at once.

Each lane is a 32-bit rANS state ``x`` in ``[L, 2**32)``, ``L = 2**16``, renormalised in 16-bit
words. Decoding op ``g`` on its lane::

    slot = x % M;  (start, freq) = lookup(slot);  x = freq * (x >> PREC) + slot - start
    if x < L:  x = (x << 16) | next_word

The words are *interleaved in decode order*: within a round, the lanes that need a word take
the next ones in lane order, so a decoder finds every lane's word by a prefix sum over the
round, and the stream needs no per-lane offset table. The encoder runs the rounds backwards
(rANS is last in, first out) and writes the words it emits in the reverse of that order.

Bytes (16-bit little-endian words): ``N`` (two words, low first), the N lanes' final encoder
states (two words each, low first), then the interleaved words. Every lane starts encoding at
``x = L``, so a decoder that used the whole stream ends with every lane at ``L``: that, and
having read exactly every word, is the stream's check (a truncated or garbage stream fails it
with overwhelming probability). A lane's state costs at most 32 bits minus what its last state
holds: under 4 bytes a lane over the information content.

One code path
-------------
Everything is vectorised torch on whichever device the tensors live: the same operations on
CPU and CUDA tensors give the same integers, so the bytes are the same on both. A decoding
round does not synchronise with the host (the word cursor is a device tensor).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["L", "M", "PREC", "WORD", "LaneDecoder", "encode_ops", "lane_count"]

PREC = 15
M = 1 << PREC
WORD = 16
L = 1 << WORD
_WORD_MASK = (1 << WORD) - 1

#: a decode step: ``(slot, i0, i1)`` -> ``(value, start, freq)`` for the segment's ops i0..i1-1
Lookup = Callable[[torch.Tensor, int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def lane_count(ops: int, max_lanes: int, ops_per_lane: int) -> int:
    """How many lanes a stream of ``ops`` ops uses: one per ``ops_per_lane`` (at least one),
    at most ``max_lanes``; none for an empty stream."""
    if ops == 0:
        return 0
    return max(1, min(max_lanes, -(-ops // ops_per_lane)))


def encode_ops(start: torch.Tensor, freq: torch.Tensor, lanes: int) -> bytes:
    """The stream of the ops ``(start, freq)`` (int64, in decode order) on ``lanes`` lanes."""
    g = start.numel()
    device = start.device
    if g == 0:
        return np.zeros(2, "<u2").tobytes()
    n = lanes
    rounds = -(-g // n)
    x = torch.full((n,), L, dtype=torch.int64, device=device)
    emitted = torch.zeros((rounds, n), dtype=torch.bool, device=device)
    values = torch.zeros((rounds, n), dtype=torch.int32, device=device)
    for r in range(rounds - 1, -1, -1):
        g0, g1 = r * n, min(g, (r + 1) * n)
        k = g1 - g0
        xs, f, s = x[:k], freq[g0:g1], start[g0:g1]
        # the decoder reads a word after this op when its state fell below L: emit it now
        emit = xs >= (f << (2 * WORD - PREC))  # x_max = (L / M) * 2**WORD * freq
        emitted[r, :k] = emit
        values[r, :k] = (xs & _WORD_MASK).to(torch.int32)
        xs = torch.where(emit, xs >> WORD, xs)
        x[:k] = (xs // f) * M + xs % f + s
    words = values[emitted]  # round-major, lane order within a round: decode order
    head = torch.stack([x & _WORD_MASK, x >> WORD], dim=1).reshape(-1).to(torch.int32)
    header = torch.tensor([n & _WORD_MASK, n >> WORD], dtype=torch.int32, device=device)
    out = torch.cat([header, head, words]).cpu().numpy().astype("<u2")
    return out.tobytes()


class LaneDecoder:
    """Decodes a stream segment by segment: :meth:`decode` runs ``count`` ops (continuing the
    global op numbering) with a family's lookup; :meth:`finish` checks the stream's end."""

    def __init__(self, data: bytes, device: torch.device, name: str = "cuda-rans"):
        self.name, self.device = name, device
        data = bytes(data)
        if len(data) % 2 or len(data) < 4:
            raise ValueError(f"{name} stream of {len(data)} bytes is not a whole header and 16-bit words")
        w = np.frombuffer(data, dtype="<u2").astype(np.int64)
        n = int(w[0]) | int(w[1]) << WORD
        if 2 + 2 * n > len(w):
            raise ValueError(f"corrupt or truncated {name} stream: {n} lanes in {len(data)} bytes")
        states = w[2:2 + 2 * n].reshape(n, 2)
        x = states[:, 0] | (states[:, 1] << WORD)
        if np.any(x < L):
            raise ValueError(f"corrupt {name} stream: a lane state below 2**{WORD}")
        self.lanes = n
        self.x = torch.from_numpy(x).to(device)
        body = w[2 + 2 * n:]
        self.count = len(body)
        # one padding word: reads past the end stay in bounds and are caught by finish()
        self.words = torch.from_numpy(np.append(body, 0)).to(device)
        self.cursor = torch.zeros((), dtype=torch.int64, device=device)
        self.pos = 0
        self.done = False

    def decode(self, count: int, lookup: Lookup) -> torch.Tensor:
        """Decode ``count`` ops; ``lookup(slot, i0, i1)`` maps slots of the segment's ops
        ``i0 .. i1 - 1`` to ``(value, start, freq)``. Returns the values (int64)."""
        if self.done:
            raise ValueError(f"{self.name} stream already finished")
        out = torch.empty(count, dtype=torch.int64, device=self.device)
        if count == 0:
            return out
        n = self.lanes
        if n == 0:
            raise ValueError(f"corrupt or truncated {self.name} stream: no lanes for {count} symbols")
        i = 0
        while i < count:
            l0 = (self.pos + i) % n
            l1 = min(n, l0 + count - i)
            k = l1 - l0
            xs = self.x[l0:l1]
            slot = xs & (M - 1)
            value, start, freq = lookup(slot, i, i + k)
            xs = freq * (xs >> PREC) + slot - start
            need = xs < L
            at = self.cursor + torch.cumsum(need, 0) - 1
            word = self.words[at.clamp(0, self.count)]
            self.x[l0:l1] = torch.where(need, (xs << WORD) | word, xs)
            self.cursor = self.cursor + need.sum()
            out[i:i + k] = value
            i += k
        self.pos += count
        return out

    def finish(self) -> None:
        """Require the whole stream used and every lane back at its initial state."""
        if self.done:
            raise ValueError(f"{self.name} stream already finished")
        self.done = True
        if int(self.cursor) != self.count or bool(torch.any(self.x != L)):
            raise ValueError(f"corrupt or truncated {self.name} stream (lane states or length do not check)")
