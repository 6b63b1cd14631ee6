"""Range coder: constriction's ``RangeEncoder`` / ``RangeDecoder`` (a queue: FIFO)."""

from __future__ import annotations

import constriction

from nc_core.constriction_coders import ConstrictionBackend, ConstrictionCoder

_Enc = constriction.stream.queue.RangeEncoder  # (constriction.stream is not importable)
_Dec = constriction.stream.queue.RangeDecoder

_BACKEND = ConstrictionBackend(
    new_encoder=_Enc,
    push=_Enc.encode,
    new_decoder=_Dec,
    pop=_Dec.decode,
    exhausted=_Dec.maybe_exhausted,  # best effort: range coding cannot always tell
)


class RangeCoder(ConstrictionCoder):
    """Range coding (queue order; what autoregressive context models need)."""

    name = "range"
    order = "queue"
    backend = _BACKEND
