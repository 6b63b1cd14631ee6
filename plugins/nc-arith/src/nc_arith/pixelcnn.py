"""Autoregressive lossless coding: a PixelCNN with a discretised logistic mixture likelihood.

The model (van den Oord et al. 2016; PixelCNN++'s likelihood, Salimans et al. 2017) predicts
each pixel from the pixels before it in raster order: a 7x7 masked convolution that excludes
the centre (mask "A"), ``layers`` 3x3 masked convolutions that include it (mask "B") and two
1x1 layers, plus a linear 7x7 mask-A path from the input straight to the output (a learned
linear predictor, as classical lossless coders use, which the network corrects), give, per
pixel, ``mixtures`` logistic components over ``0 .. levels`` shared by the channels, with the
later channels' means shifted linearly by the earlier channels' values (``coefficient in
[-1, 1]``). Convolutions are unpadded on an input padded once by the receptive radius, so
the same integer result comes from the whole image (the encoder, one pass) and from a window
around one pixel (the decoder, pixel by pixel). The input carries a
channel of ones that the padding sets to zero, so the network tells the image's border from
mid-grey pixels (as in PixelCNN++).

Coding: the symbols of all items are interleaved position by position (pixel ``(i, j)``,
channel ``c`` of every item, then the next), so the decoder evaluates the network once per
position for the whole batch of items. Each group is a closed categorical over
``0 .. levels`` (the mixture masses, exact from the fixed-point network). ``encode_all`` puts
the groups in the coder's order: a range coder (queue) writes them in raster order; ANS
(stack) writes them in reverse so it still decodes in raster order.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import exp2, expit
from torch import nn

from nc_core.coders import encode_all
from nc_core.coding import bin_masses, closed_categorical
from nc_core.contracts import Coder, LosslessCodec, Payload
from nc_core.exact import ExactNet, MaskedConv2d, from_fixed, to_fixed

LOG_SCALE_MIN = -3.0  # logistic scales are at least exp(-3) ~ 0.05 levels
LOG2 = math.log(2.0)


class PixelCNN(nn.Module):
    """The masked network: ``C x H x W`` values -> per-pixel mixture parameters."""

    def __init__(self, channels: int, levels: int, hidden: int, layers: int, mixtures: int):
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"items must have 1 or 3 channels, got {channels}")
        if min(hidden, mixtures) < 1 or layers < 0:
            raise ValueError("hidden and mixtures must be >= 1, layers >= 0")
        self.channels, self.levels, self.mixtures = channels, levels, mixtures
        k, c = mixtures, channels
        self.params = k * (1 + 2 * c + (3 if c == 3 else 0))
        modules: list[nn.Module] = [MaskedConv2d(c + 1, hidden, 7, mask_type="A"), nn.ReLU()]
        for _ in range(layers):
            modules += [MaskedConv2d(hidden, hidden, 3, mask_type="B"), nn.ReLU()]
        modules += [nn.Conv2d(hidden, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, self.params, 1)]
        self.net = ExactNet(*modules)
        self.linear = ExactNet(MaskedConv2d(c + 1, self.params, 7, mask_type="A"))
        self.layers, self.radius = layers, 3 + layers

    def _add_linear(self, out, linear):
        """The network's output plus the linear path's, cropped to it (the linear path has
        the smaller receptive radius, so its unpadded output is ``layers`` wider each side)."""
        m = self.layers
        return out + linear[..., m : m + out.shape[-2], m : m + out.shape[-1]]

    def net_input(self, x: torch.Tensor, fixed: bool = False) -> torch.Tensor:
        """Integer values ``(N, C, H, W)`` -> padded network input: ``values / levels - 1/2``
        and a channel of ones, zeros around (in fixed point with ``fixed``)."""
        r = self.radius
        v = torch.cat([self.scaled(x), torch.ones_like(x[:, :1])], dim=1)
        return F.pad(to_fixed(v) if fixed else v, (r, r, r, r))

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Integer values as the network sees them: ``values / levels - 1/2``."""
        return x / self.levels - 0.5

    def _split(self, out):
        """Mixture logits ``(N, K, ...)``, raw means and log-scales ``(N, C, K, ...)``, raw
        coefficients ``(N, 3, K, ...)`` or None. Works on torch and numpy arrays alike."""
        k, c = self.mixtures, self.channels
        n, rest = out.shape[0], tuple(out.shape[2:])
        logits = out[:, :k]
        means = out[:, k : k + c * k].reshape((n, c, k) + rest)
        log_scales = out[:, k + c * k : k + 2 * c * k].reshape((n, c, k) + rest)
        coeffs = out[:, k + 2 * c * k :].reshape((n, 3, k) + rest) if c == 3 else None
        return logits, means, log_scales, coeffs

    # -- training ------------------------------------------------------------------------------
    def nll_bits(self, x: torch.Tensor) -> torch.Tensor:
        """Exact negative log-likelihood in bits per item (``x``: integer values, float)."""
        inp = self.net_input(x)
        logits, means, log_scales, coeffs = self._split(self._add_linear(self.net(inp), self.linear(inp)))
        means = (means + 0.5) * self.levels
        if coeffs is not None:  # later channels' means follow the earlier channels' values
            a, b, g = coeffs.clamp(-1, 1).unbind(1)
            r_, g_ = x[:, 0:1], x[:, 1:2]
            means = torch.stack([means[:, 0], means[:, 1] + a * r_, means[:, 2] + b * r_ + g * g_], 1)
        log_scales = log_scales.clamp(min=LOG_SCALE_MIN)
        log_mass = _log_logistic_mass(x[:, :, None], means, log_scales, self.levels).sum(1)  # (N, K, H, W)
        log_p = torch.logsumexp(log_mass + F.log_softmax(logits, dim=1), dim=1)
        return -log_p.flatten(1).sum(1) / LOG2

    # -- coding (numpy float64 from exact integers) ----------------------------------------------
    def exact(self, padded_fixed: torch.Tensor) -> np.ndarray:
        return from_fixed(self._add_linear(self.net.exact(padded_fixed), self.linear.exact(padded_fixed))).numpy()

    def channel_rows(self, out: np.ndarray, x_prev: list[np.ndarray], weights: np.ndarray | None, c: int):
        """Mixture rows ``(n, levels + 1)`` of channel ``c`` at one position for ``n`` items
        (``out``: ``(n, params)``), given the earlier channels' values; returns the rows and
        the per-component masses of the coded value's bin (for the next channel's weights)."""
        logits, means, log_scales, coeffs = self._split(out)
        if weights is None:
            weights = exp2((logits - logits.max(axis=1, keepdims=True)) / LOG2)
        mean = (means[:, c] + 0.5) * self.levels
        if c == 1:
            mean = mean + np.clip(coeffs[:, 0], -1.0, 1.0) * x_prev[0][:, None]
        elif c == 2:
            co = np.clip(coeffs, -1.0, 1.0)
            mean = mean + co[:, 1] * x_prev[0][:, None] + co[:, 2] * x_prev[1][:, None]
        inv = exp2(-np.maximum(log_scales[:, c], LOG_SCALE_MIN) / LOG2)
        edges = np.concatenate([[-np.inf], np.arange(self.levels, dtype=np.float64) + 0.5, [np.inf]])
        masses = bin_masses((edges[None, None, :] - mean[:, :, None]) * inv[:, :, None], expit)  # (n, K, L+1)
        rows = weights[:, 0, None] * masses[:, 0]
        for k in range(1, self.mixtures):  # a fixed order of additions: the same floats everywhere
            rows = rows + weights[:, k, None] * masses[:, k]
        return rows, weights, masses


def _log_logistic_mass(x, mean, log_scale, levels):
    """log P(x) of a discretised logistic over ``0 .. levels`` (edge bins take the tails)."""
    inv = torch.exp(-log_scale)
    upper, lower = (x - mean + 0.5) * inv, (x - mean - 0.5) * inv
    log_first = -F.softplus(-upper)
    log_last = -F.softplus(lower)
    mid = torch.sigmoid(upper) - torch.sigmoid(lower)
    u = (x - mean) * inv
    log_pdf = u - log_scale - 2 * F.softplus(u)
    log_mid = torch.where(mid > 1e-5, torch.log(mid.clamp(min=1e-12)), log_pdf)
    return torch.where(x <= 0, log_first, torch.where(x >= levels, log_last, log_mid))


class PixelCNNCodec(LosslessCodec):
    """Lossless coding of sets of ``shape`` (``C x H x W``) items with a :class:`PixelCNN`,
    in raster order, with any coder."""

    name = "pixelcnn"

    def __init__(self, coder: Coder, shape: list[int], levels: int = 255, hidden: int = 64, layers: int = 4,
                 mixtures: int = 5):
        super().__init__()
        if len(shape) != 3:
            raise ValueError(f"shape must be [C, H, W], got {shape}")
        if levels < 1:
            raise ValueError(f"levels (the largest item value) must be >= 1, got {levels}")
        self.coder, self.shape, self.levels = coder, tuple(int(s) for s in shape), int(levels)
        self.model = PixelCNN(self.shape[0], self.levels, hidden, layers, mixtures)

    def forward(self, x: torch.Tensor) -> dict:
        return {"bits": self.model.nll_bits(torch.round(x * self.levels))}

    @torch.no_grad()
    def model_bits(self, items: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(self._check_items(items)).float()
        return np.concatenate([self.model.nll_bits(x[i:i + 256]).double().numpy() for i in range(0, len(x), 256)])

    def _check_items(self, items) -> np.ndarray:
        a = np.asarray(items)
        if a.ndim != 4 or a.shape[1:] != self.shape:
            raise ValueError(f"items of shape {a.shape[1:]} for a codec of item shape {self.shape}")
        if a.dtype.kind not in "iub":
            raise ValueError(f"items must be integers, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() > self.levels):
            raise ValueError(f"item values must lie in 0..{self.levels}")
        return a.astype(np.int64)

    def _padded(self, x: np.ndarray) -> torch.Tensor:
        """Integer items as the network's padded fixed-point input."""
        return self.model.net_input(torch.from_numpy(x).double(), fixed=True)

    @staticmethod
    def _posterior(weights: np.ndarray, masses: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Mixture weights after a channel took value ``x`` (rescaled: no underflow)."""
        w = weights * masses[np.arange(len(x)), :, x]
        top = w.max(axis=1, keepdims=True)
        return np.divide(w, top, out=np.ones_like(w), where=top > 0)

    def _groups(self, items: np.ndarray, out: np.ndarray):
        """``(symbols, closed categorical)`` per position and channel, raster order."""
        c_count, h, w = self.shape
        for i in range(h):
            for j in range(w):
                weights, prev = None, []
                for c in range(c_count):
                    rows, weights, masses = self.model.channel_rows(out[:, :, i, j], prev, weights, c)
                    x = items[:, c, i, j]
                    yield x, closed_categorical(rows)
                    weights = self._posterior(weights, masses, x)
                    prev.append(x.astype(np.float64))

    @torch.no_grad()
    def encode_set(self, items: np.ndarray, trace: list | None = None) -> Payload:
        x = self._check_items(items)
        out = np.zeros((0, self.model.params, *self.shape[1:]))
        if len(x):
            out = np.concatenate([self.model.exact(self._padded(x[s : s + 64])) for s in range(0, len(x), 64)])
        return Payload([encode_all(self.coder, list(self._groups(x, out)))], [len(x)])

    @torch.no_grad()
    def decode_set(self, payload: Payload) -> np.ndarray:
        from nc_core import container

        if len(payload.header) != 1 or len(payload.streams) != 1 or payload.header[0] < 0:
            raise container.ContainerError("not a pixelcnn set (header or streams)")
        n = payload.header[0]
        if n > 8 * len(payload.streams[0]) + 64:
            raise container.ContainerError("pixelcnn header claims more items than the stream holds")
        c_count, h, w = self.shape
        r, size = self.model.radius, 2 * self.model.radius + 1
        items = np.zeros((n, c_count, h, w), dtype=np.int64)
        canvas = self._padded(items)  # decoded values so far, fixed point, padded
        decoder = self.coder.decoder(payload.streams[0])
        for i in range(h):
            for j in range(w):
                out = self.model.exact(canvas[:, :, i : i + size, j : j + size])[:, :, 0, 0]
                weights, prev = None, []
                for c in range(c_count):
                    rows, weights, masses = self.model.channel_rows(out, prev, weights, c)
                    x = decoder.decode(closed_categorical(rows)).astype(np.int64)
                    items[:, c, i, j] = x
                    weights = self._posterior(weights, masses, x)
                    prev.append(x.astype(np.float64))
                canvas[:, :c_count, r + i, r + j] = to_fixed(self.model.scaled(torch.from_numpy(items[:, :, i, j]).double()))
        decoder.finish()
        return items


CODECS = [PixelCNNCodec]
