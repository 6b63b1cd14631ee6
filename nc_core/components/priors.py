"""The core's built-in probability models. The deep factorized prior is a public layer
(:class:`nc_core.layers.DeepFactorized`); this module registers it."""

from nc_core import layers
from nc_core._deprecation import moved

PRIORS = [layers.DeepFactorized]

__getattr__ = moved(__name__, {name: "nc_core.layers" for name in ("DeepFactorized", "LIKELIHOOD_FLOOR", "ResizingBuffers")})
