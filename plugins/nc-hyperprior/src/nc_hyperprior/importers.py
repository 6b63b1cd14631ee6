"""``nc import compressai``: CompressAI checkpoints as nc models of the same architecture.

=====================  ====================================================================
``--arch``             nc codec
=====================  ====================================================================
bmshj2018-factorized   transform-coding, factorized transform, centred deep-factorized prior
bmshj2018-hyperprior   hyperprior, scale-hyperprior (centred ``z``)
mbt2018-mean           hyperprior, mean-scale-hyperprior with ``layout: mbt2018`` (centred ``z``)
mbt2018                hyperprior, joint-autoregressive with ``layout: mbt2018`` (centred ``z``)
cheng2020-anchor       hyperprior, ``cheng2020`` transform, joint-autoregressive with
                       ``layout: cheng2020`` (centred ``z``)
=====================  ====================================================================

The widths N and M are read from the weights, so every CompressAI quality converts (N=128,
M=192 for the low qualities; M=320 for the high ones). What carries over: the transforms, GDN
as CompressAI parameterises it (the same squared reparametrisation with a pedestal), the
entropy bottleneck's density and its medians (CompressAI rounds around them; nc's ``centred``
prior does too), the hyper transforms. What does not: CompressAI's coding tables
(``_quantized_cdf``, ``_offset``, ``_cdf_length``, the Gaussian ``scale_table``). nc builds its
own: the same 64 log-spaced scales from 0.11 to 256, but the hyper-synthesis runs in exact
fixed point, so a file decodes identically on any machine and thread count (in CompressAI it
may not: its issues #279, #309, #340). The bitstreams are nc containers, not CompressAI's.
For ``mbt2018`` and ``cheng2020-anchor`` the masked context convolution, the entropy-parameter
network and the serial decoding carry over; their coding path (decoded latents
``round(y - mean) + mean`` as the context) is CompressAI's ``compress`` / ``decompress``, not
its training-time forward (which synthesises ``round(y)``). ``cheng2020-attn`` (attention
blocks) is not converted yet.
"""

from __future__ import annotations

import re

import torch

from nc_core.contracts import Importer
from nc_core.exact import MaskedConv2d

BOTTLENECK = "entropy_bottleneck."
#: CompressAI's entropy-bottleneck parameter -> nc's deep-factorized parameter list
DENSITY = {"matrix": "matrices", "bias": "biases", "factor": "factors"}
#: state-dict entries nc does not use (coding tables nc rebuilds, lower-bound constants, the mask)
IGNORED = re.compile(r"(^|\.)(_quantized_cdf|_offset|_cdf_length|scale_table|_medians)$|_reparam\.|lower_bound\.bound$"
                     r"|^context_prediction\.mask$"  # checked (_check_mask), then built by nc's MaskedConv2d
                     r"|^gaussian_conditional\.")


def _take(state: dict, prefix: str, into: str, out: dict) -> None:
    """Copy every ``prefix*`` entry to ``into*`` (``Sequential`` indices keep their meaning)."""
    for key, value in state.items():
        if key.startswith(prefix) and not IGNORED.search(key):
            out[into + key[len(prefix):]] = value


def _bottleneck(state: dict, into: str, out: dict) -> list[int]:
    """Copy the entropy bottleneck into nc's centred deep-factorized prior; returns its
    ``filters`` (CompressAI's default is ``(3, 3, 3, 3)``, nc's ``(3, 3, 3)``)."""
    for key, value in state.items():
        m = re.fullmatch(re.escape(BOTTLENECK) + r"_(matrix|bias|factor)(\d+)", key)
        if m:
            out[f"{into}{DENSITY[m[1]]}.{m[2]}"] = value
    if BOTTLENECK + "quantiles" not in state:
        raise ValueError(f"no {BOTTLENECK}quantiles")
    out[into + "medians"] = state[BOTTLENECK + "quantiles"][:, 0, 1]  # (C, 1, 3): lower, median, upper
    matrices = sorted((int(k[len(into) + len("matrices."):]), v) for k, v in out.items() if k.startswith(into + "matrices."))
    return [int(v.shape[1]) for _, v in matrices[:-1]]  # each matrix is (C, out, in); the last outputs 1


def _require(state: dict, *keys: str) -> None:
    for key in keys:
        if key not in state:
            raise ValueError(f"no {key}")


def _check_mask(state: dict) -> None:
    """CompressAI saves its context convolution's mask; nc's is built (mask "A"): they must agree."""
    weight, mask = state["context_prediction.weight"], state.get("context_prediction.mask")
    if mask is None:
        return
    expected = MaskedConv2d(weight.shape[1], weight.shape[0], weight.shape[-1], mask_type="A").mask
    if mask.shape != expected.shape or not torch.equal(mask.to(expected.dtype), expected):
        raise ValueError("context_prediction.mask is not the raster-order mask 'A' nc's context model uses")


def _widths(state: dict) -> tuple[int, int]:
    _require(state, "g_a.0.weight", "g_a.6.weight")
    return int(state["g_a.0.weight"].shape[0]), int(state["g_a.6.weight"].shape[0])


class CompressAIImporter(Importer):
    """CompressAI's ``bmshj2018-factorized``, ``bmshj2018-hyperprior``, ``mbt2018-mean``,
    ``mbt2018`` and ``cheng2020-anchor``."""

    name = "compressai"
    architectures = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor")

    def convert(self, state: dict[str, torch.Tensor], arch: str) -> tuple[dict, dict[str, torch.Tensor]]:
        if arch == "cheng2020-anchor":
            _require(state, "g_a.0.conv1.weight")
            n = m = int(state["g_a.0.conv1.weight"].shape[0])
            transform = {"use": "cheng2020", "channels": n}
        else:
            n, m = _widths(state)
            transform = {"use": "factorized", "channels": n, "latent": m}
        common = {"quantizer": {"use": "mixed"}, "coder": {"use": "ans"}}
        out: dict[str, torch.Tensor] = {}
        _take(state, "g_a.", "transform.g_a.", out)
        _take(state, "g_s.", "transform.g_s.", out)
        if arch == "bmshj2018-factorized":
            filters = _bottleneck(state, "prior.", out)
            codec = {"use": "transform-coding", "transform": transform,
                     "prior": {"use": "deep-factorized", "filters": filters, "centred": True}, **common}
            known = ("g_a.", "g_s.", BOTTLENECK)
        else:
            _require(state, "h_a.0.weight", "h_s.0.weight")
            filters = _bottleneck(state, "entropy.z_prior.", out)
            _take(state, "h_a.", "entropy.h_a.", out)
            _take(state, "h_s.", "entropy.h_s.net.", out)
            entropy = {"use": "scale-hyperprior", "hyper_channels": n, "centred_z": True, "z_filters": filters}
            known = ("g_a.", "g_s.", "h_a.", "h_s.", BOTTLENECK, "gaussian_conditional.")
            if arch == "mbt2018-mean":
                entropy |= {"use": "mean-scale-hyperprior", "layout": "mbt2018"}
            elif arch in ("mbt2018", "cheng2020-anchor"):
                entropy |= {"use": "joint-autoregressive", "layout": "mbt2018" if arch == "mbt2018" else "cheng2020"}
                _require(state, "context_prediction.weight", "entropy_parameters.0.weight")
                _check_mask(state)
                _take(state, "context_prediction.", "entropy.context.net.0.", out)
                _take(state, "entropy_parameters.", "entropy.entropy_parameters.net.", out)
                known += ("context_prediction.", "entropy_parameters.")
            codec = {"use": "hyperprior", "transform": transform, "entropy": entropy, **common}
        foreign = sorted(k for k in state if not k.startswith(known))
        if foreign:
            raise ValueError(f"unexpected key {foreign[0]}" + (f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""))
        return codec, out


IMPORTERS = [CompressAIImporter]
