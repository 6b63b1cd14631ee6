"""The conditional Gaussian entropy model shared by every hyperprior variant.

Training: the likelihood of a (noisy) latent ``y`` under ``N(mu, sigma)`` convolved with a
unit box, ``Phi((1/2 - |y - mu|) / sigma) - Phi((-1/2 - |y - mu|) / sigma)``, with ``sigma``
bounded below by ``SCALE_MIN``.

Coding: symbols are ``round(y - mu)`` and their distribution is one of ``TABLES`` quantized
zero-mean Gaussians whose scales are log-spaced from ``SCALE_MIN`` to ``SCALE_MAX``
(CompressAI's scale table). Each symbol's table index comes from its predicted scale by
comparing it with fixed-point boundaries (geometric midpoints of neighbouring table scales).
The predicted scale is itself exact (see :mod:`nc_core.exact`), so the index is too.
Tables and boundaries are built once by ``update()`` and saved with the weights, so a decoder
never recomputes them with its own floating-point library.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import ndtr

from nc_core.coding import IndexedTables
from nc_core.exact import ACT_BITS
from nc_core.layers import LIKELIHOOD_FLOOR, ResizingBuffers, in_float32, lower_bound

SCALE_MIN, SCALE_MAX, TABLES = 0.11, 256.0, 64
TAIL_MASS = 1e-9  # mass of each table's cut-off tails (folded into the edge bins)
PMF_FLOOR = 1e-15  # no table entry is zero: every symbol has a finite ideal cost


@in_float32
def gaussian_likelihood(y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None = None) -> torch.Tensor:
    """Differentiable probability of the unit bin around ``y``."""
    v = (y - means if means is not None else y).abs()
    s = lower_bound(scales, SCALE_MIN)
    normal = torch.distributions.Normal(0.0, 1.0)
    p = normal.cdf((0.5 - v) / s) - normal.cdf((-0.5 - v) / s)
    return p.clamp_min(LIKELIHOOD_FLOOR)


class GaussianTables(ResizingBuffers):
    """The scale table's coding tables and index boundaries (buffers, built by ``update``)."""

    table_buffers = ("pmfs", "offsets", "lengths", "bounds")

    def __init__(self):
        super().__init__()
        self.register_buffer("pmfs", torch.zeros(0, 0, dtype=torch.float64))
        self.register_buffer("offsets", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("lengths", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("bounds", torch.zeros(0, dtype=torch.float64))
        self._arrays = None

    @torch.no_grad()
    def update(self) -> None:
        scales = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), TABLES))
        z = -float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(TAIL_MASS / 2, dtype=torch.float64)))
        radius = np.ceil(scales * z).astype(np.int64)
        width = int(2 * radius.max() + 1)
        pmfs = np.zeros((TABLES, width))
        for t, (s, r) in enumerate(zip(scales, radius)):
            # the lower half from lower-tail CDF values (accurate), mirrored: the upper tail
            # computed as 1 - F would round to zero probabilities
            k = np.arange(-r, 1, dtype=np.float64)
            cdf = ndtr(np.minimum(k + 0.5, 0.0) / s)  # bin 0's upper edge is its own mirror
            half = np.diff(np.concatenate([[0.0], cdf]))  # bin -r takes the lower tail
            half[-1] *= 2.0  # bin 0 spans [-1/2, 1/2]
            pmfs[t, : 2 * r + 1] = np.maximum(np.concatenate([half, half[-2::-1]]), PMF_FLOOR)
        # fixed-point boundaries between neighbouring tables (geometric midpoints)
        mids = np.sqrt(scales[1:] * scales[:-1])
        self.pmfs = torch.from_numpy(pmfs)
        self.offsets = torch.from_numpy(-radius)
        self.lengths = torch.from_numpy(2 * radius + 1)
        self.bounds = torch.from_numpy(np.round(mids * (1 << ACT_BITS)))
        self._arrays = None

    def _load_from_state_dict(self, *args, **kwargs):
        self._arrays = None
        super()._load_from_state_dict(*args, **kwargs)

    def arrays(self):
        """Read-only numpy views of the tables (one object, so coders can reuse their models)."""
        if self.pmfs.numel() == 0:
            raise RuntimeError("Gaussian tables are missing: call update() first")
        if self._arrays is None:
            arrays = [t.numpy().copy() for t in (self.pmfs, self.offsets, self.lengths)]
            for a in arrays:
                a.flags.writeable = False
            self._arrays = arrays
        return self._arrays

    def index(self, scales_fixed: torch.Tensor) -> np.ndarray:
        """Table index of each fixed-point scale (exact comparisons of integers)."""
        return torch.searchsorted(self.bounds, scales_fixed.contiguous()).numpy()

    def distribution(self, scales_fixed: torch.Tensor) -> IndexedTables:
        pmfs, offsets, lengths = self.arrays()
        return IndexedTables(pmfs=pmfs, offsets=offsets, lengths=lengths, index=self.index(scales_fixed))
