"""ANS coder: constriction's ``AnsCoder`` (a stack: last encoded, first decoded)."""

from __future__ import annotations

import constriction

from nc_core.constriction_coders import ConstrictionBackend, ConstrictionCoder

_Ans = constriction.stream.stack.AnsCoder  # (constriction.stream is not an importable module)

_BACKEND = ConstrictionBackend(
    new_encoder=_Ans,
    push=_Ans.encode_reverse,  # reversed within a call, so one decode call pops in order
    new_decoder=_Ans,
    pop=_Ans.decode,
    exhausted=_Ans.is_empty,
)


class AnsCoder(ConstrictionCoder):
    """Asymmetric numeral systems (stack order; what bits-back coding needs)."""

    name = "ans"
    order = "stack"
    backend = _BACKEND
