"""Discretised Gaussian latents: BB-ANS's equal-mass buckets of the standard normal.

A continuous latent is coded as the index of one of ``K = 2**precision`` buckets whose edges
are the standard normal's quantiles ``Phi^-1(i / K)``: under the N(0, 1) prior every bucket has
probability ``1/K``, so the prior costs ``precision`` bits per latent, and a posterior
N(mu, sigma) (or a conditional prior in a hierarchy) gives bucket ``i`` the mass
``Phi((e_i+1 - mu) / sigma) - Phi((e_i - mu) / sigma)``. The networks see bucket centres
``Phi^-1((i + 1/2) / K)``. Finer buckets cost more bits to code and give exactly as many back,
so the net rate approaches the continuous -ELBO as ``precision`` grows.

Determinism: the masses are computed with scipy's scalar (cephes) ``ndtr``, element by
element, from parameters the exact fixed-point networks produced; the same parameters give
the same float64 masses for any array shape or thread count.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import ndtr, ndtri

from nc_core.coding import Categorical, bin_masses, closed_categorical


@functools.lru_cache(maxsize=8)
def _grid(precision: int) -> tuple[np.ndarray, np.ndarray]:
    k = 1 << precision
    edges = ndtri(np.arange(k + 1, dtype=np.float64) / k)  # -inf .. +inf
    centres = ndtri((np.arange(k, dtype=np.float64) + 0.5) / k)
    edges.setflags(write=False)
    centres.setflags(write=False)
    return edges, centres


class Buckets:
    """Equal-mass buckets of N(0, 1) at ``precision`` bits per latent (2 to 16)."""

    def __init__(self, precision: int):
        if not 2 <= int(precision) <= 16:
            raise ValueError(f"latent precision must be 2..16 bits, got {precision}")
        self.precision = int(precision)
        self.size = 1 << self.precision
        self.edges, self.centres = _grid(self.precision)

    def centre(self, index: np.ndarray) -> np.ndarray:
        """The latent values the networks see for bucket indices."""
        return self.centres[np.asarray(index, dtype=np.int64)]

    def index(self, z: np.ndarray) -> np.ndarray:
        """The bucket holding each value of ``z`` (the mode's bucket, for a two-part code)."""
        return np.clip(np.searchsorted(self.edges, np.asarray(z, dtype=np.float64), side="right") - 1, 0, self.size - 1)

    def prior(self, n: int) -> Categorical:
        """N(0, 1) on the buckets: uniform, ``precision`` bits per latent."""
        return closed_categorical(np.ones(self.size), 0, shape=(n,))

    def gaussian(self, mean: np.ndarray, scale: np.ndarray) -> Categorical:
        """N(mean, scale) on the buckets, one row per latent (``mean``/``scale`` flat)."""
        mean = np.asarray(mean, dtype=np.float64).reshape(-1, 1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1, 1)
        return closed_categorical(bin_masses((self.edges[None, :] - mean) / scale, ndtr))
