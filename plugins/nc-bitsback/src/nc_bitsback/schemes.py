"""The three ways of coding one item with a latent-variable model on a stack.

Each scheme pushes one item onto a :class:`nc_core.coders.Stack` and pops it back:

``bb-ans`` (Townsend et al. 2019)
    sample every latent from the posterior first (``z_1 ~ q(z_1|x)``, ``z_l+1 ~ q(z_l+1|z_l)``,
    decoded from the message), then push ``x | z_1``, each ``z_l | z_l+1`` and ``z_L`` under
    the prior. The decoder pops them and pushes the latents back under the posteriors:
    ``-log q`` bits come back. The first item needs all of ``sum_l -log q(z_l|.)`` on the
    message before anything is pushed.
``bit-swap`` (Kingma et al. 2019)
    interleaved: sample ``z_1``, push ``x | z_1``, sample ``z_2 ~ q(z_2|z_1)``, push
    ``z_1 | z_2``, ... The bits pushed for a layer feed the next layer's sample, so the
    initial bits needed are those of the largest partial deficit, not of the whole sum.
``two-part``
    no bits back: the posterior's mode bucket per layer, coded under the model's prior and
    likelihood; ``-log p(x, z)`` bits per item (the survey's section 2.3.1).

With one latent layer, ``bit-swap`` and ``bb-ans`` are the same code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from nc_bitsback.buckets import Buckets
from nc_bitsback.models import MarkovVAE
from nc_core.constriction_coders import Stack
from nc_core.exact import to_fixed

SCHEMES = ("bb-ans", "bit-swap", "two-part")


def _fixed(values: np.ndarray) -> torch.Tensor:
    return to_fixed(torch.from_numpy(np.ascontiguousarray(values)).reshape(1, -1))


class ItemCoder:
    """Pushes and pops single items (flat int arrays of ``model.dims`` values).

    ``watch`` (optional) is called after every sample; the initial-bits probe uses it to
    find how deep into the message the samples reach.
    """

    def __init__(self, model: MarkovVAE, buckets: Buckets, scheme: str):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        self.model, self.buckets, self.scheme = model, buckets, scheme
        self.layers = len(model.latents)

    # -- the model's distributions for one item --------------------------------------------------
    def _posterior(self, layer: int, h_fixed: torch.Tensor):
        return self.buckets.gaussian(*self.model.posterior_params(layer, h_fixed))

    def _conditional(self, layer: int, z_fixed: torch.Tensor):
        """``p(x | z_1)`` for layer 0, ``p(z_layer | z_layer+1)`` above."""
        if layer == 0:
            return self.model.likelihood_distribution(z_fixed)
        return self.buckets.gaussian(*self.model.conditional_params(layer, z_fixed))

    # -- encoding ----------------------------------------------------------------------------
    def push(self, stack: Stack, x: np.ndarray, watch: Callable[[], None] | None = None) -> None:
        x = np.asarray(x, dtype=np.int64).reshape(-1)
        below = [x]  # below[l]: the value z_l codes against (x for l = 0)
        h = self.model.fixed_input(x)
        fixed = []  # centres of the sampled buckets, fixed point, per layer
        for layer in range(self.layers):
            if self.scheme == "two-part":
                mean, _ = self.model.posterior_params(layer, h)
                index = self.buckets.index(mean)
            else:
                index = stack.sample(self._posterior(layer, h))
                if watch is not None:
                    watch()
            h = _fixed(self.buckets.centre(index))
            fixed.append(h)
            below.append(index)
            if self.scheme == "bit-swap":  # push the layer below now: its bits feed the next sample
                stack.push(below[layer], self._conditional(layer, h))
        if self.scheme != "bit-swap":
            for layer in range(self.layers):
                stack.push(below[layer], self._conditional(layer, fixed[layer]))
        stack.push(below[-1], self.buckets.prior(self.model.latents[-1]))

    # -- decoding ----------------------------------------------------------------------------
    def pop(self, stack: Stack) -> np.ndarray:
        top = stack.pop(self.buckets.prior(self.model.latents[-1]))
        above = [None] * self.layers + [top]  # above[l + 1]: z_l+1's bucket indices
        fixed: list = [None] * (self.layers + 1)
        fixed[self.layers] = _fixed(self.buckets.centre(top))
        for layer in range(self.layers - 1, -1, -1):
            value = stack.pop(self._conditional(layer, fixed[layer + 1]))
            above[layer] = value
            if layer:
                fixed[layer] = _fixed(self.buckets.centre(value))
            if self.scheme == "bit-swap":  # give back the bits z_layer+1's sample took
                h = self.model.fixed_input(value) if layer == 0 else fixed[layer]
                stack.push(above[layer + 1], self._posterior(layer, h))
        if self.scheme == "bb-ans":  # undo the samples, last one first
            for layer in range(self.layers - 1, -1, -1):
                h = self.model.fixed_input(above[0]) if layer == 0 else fixed[layer]
                stack.push(above[layer + 1], self._posterior(layer, h))
        return above[0]
