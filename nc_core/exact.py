"""Exact fixed-point inference for the networks that produce coding distributions.

The decoder must derive exactly the probabilities the encoder used. Float convolutions and
matrix products do not guarantee that: their reductions are split by thread count, batch size
and instruction set, so a parameter near a table boundary could land on the other side.
Instead, every network whose output decides a coding distribution (a hyperprior's
hyper-synthesis, context and slice networks, a bits-back model's posterior and likelihood
networks, an autoregressive model's masked convolutions) runs at coding time in *integer
arithmetic*:

* activations are integers ``X = x * 2**ACT_BITS`` (clamped to ``+-ACT_LIMIT`` in value);
* each layer's weights are integers ``round(W * 2**e)`` with ``e`` chosen per layer so that
  ``|Wq| <= 2**WEIGHT_BITS``, biases ``round(b * 2**(ACT_BITS + e))``;
* a convolution or linear layer accumulates integer products, then ``floor(acc / 2**e)`` brings the result
  back to ``ACT_BITS`` fraction bits; ReLU and clamps are exact on integers, and a leaky ReLU
  multiplies negative values by its slope rounded to ``SLOPE_BITS`` bits, then floors.

The integers are held in float64 tensors and convolved with torch's float64 kernels. A sum of
integers whose partial sums stay below ``2**53`` is exact in any order, so the result is the
same for any thread count, batch composition or machine. :func:`quantize_layers` checks that
bound for every output channel from the quantized weights and the activation limit, and
lowers ``e`` for a layer that could exceed it. Training uses the ordinary float network; the
small fixed-point error only perturbs the entropy parameters (a negligible rate cost).
"""

from __future__ import annotations

import math

import attrs
import torch
import torch.nn.functional as F
from torch import nn

ACT_BITS = 12  # fraction bits of activations (resolution 1/4096)
ACT_LIMIT = 1 << 12  # activations are clamped to +-4096 in value
WEIGHT_BITS = 14  # |quantized weight| <= 2**14
EXACT_LIMIT = 2.0**53  # float64 integers are exact below this
SLOPE_BITS = 16  # a leaky ReLU's slope as an integer over 2**16 (|X| * 2**16 stays far below 2**53)


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only positions before the centre in raster order: mask "A"
    (PixelCNN's first layer, a spatial context model) excludes the centre, mask "B" (later
    layers of a PixelCNN) includes it."""

    def __init__(self, *args, mask_type: str = "A", **kwargs):
        super().__init__(*args, **kwargs)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        _, _, kh, kw = self.weight.shape
        mask = torch.ones_like(self.weight)
        mask[:, :, kh // 2, kw // 2 + (mask_type == "B"):] = 0
        mask[:, :, kh // 2 + 1:] = 0
        self.register_buffer("mask", mask, persistent=False)

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x):
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding)


class HalfTanh(nn.Module):
    """``0.5 * clamp(x, -1, 1)``: bounds latent residual predictions to half a quantization
    step (Minnen & Singh use ``0.5 * tanh``; the clamp is exact in fixed point)."""

    def forward(self, x):
        return 0.5 * x.clamp(-1, 1)


@attrs.frozen
class _Layer:
    op: str  # "conv", "deconv", "linear", "relu", "leaky", "halftanh", "igdn", "shuffle"
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    shift: float = 1.0  # 2**e (for "leaky": the slope times 2**SLOPE_BITS, an integer)
    stride: int = 1
    padding: int = 0
    output_padding: int = 0


def to_fixed(x: torch.Tensor) -> torch.Tensor:
    """Real values -> fixed-point integers (float64). Exact for values already on the grid."""
    return torch.round(x.double() * (1 << ACT_BITS))


def from_fixed(x: torch.Tensor) -> torch.Tensor:
    return x / (1 << ACT_BITS)  # exact (power of two)


def _quantize_conv(module: nn.Module, transposed: bool) -> _Layer:
    w = (module.effective_weight() if isinstance(module, MaskedConv2d) else module.weight).detach().double().cpu()
    if isinstance(module, nn.Linear):
        w = w[:, :, None, None]  # a linear layer is a 1x1 convolution of a 1x1 input
    out = w.shape[1] if transposed else w.shape[0]
    b = module.bias.detach().double().cpu() if module.bias is not None else torch.zeros(out, dtype=torch.float64)
    biggest = float(w.abs().max())
    e = WEIGHT_BITS - (math.ceil(math.log2(biggest)) if biggest > 0 else 0)
    act = float(ACT_LIMIT << ACT_BITS)
    while True:
        wq = torch.round(w * 2.0**e)
        bq = torch.round(b * 2.0 ** (e + ACT_BITS))
        # worst case |acc| per output channel: sum |Wq| * max |X| + |Bq|
        per_out = wq.abs().sum(dim=(0, 2, 3)) if transposed else wq.abs().sum(dim=(1, 2, 3))
        if float((per_out * act + bq.abs()).max()) < EXACT_LIMIT:
            break
        e -= 1
    if isinstance(module, nn.Linear):
        return _Layer("linear", wq[:, :, 0, 0], bq, 2.0**e)
    stride, padding = module.stride[0], module.padding[0]
    return _Layer("deconv" if transposed else "conv", wq, bq, 2.0**e, stride, padding,
                  module.output_padding[0] if transposed else 0)


#: x**2 of an activation, at ACT_BITS fraction bits, is at most this (|x| <= ACT_LIMIT)
_SQUARE_LIMIT = float(ACT_LIMIT) ** 2 * (1 << ACT_BITS)
#: an IGDN norm's square (beta + gamma x**2, at ACT_BITS fraction bits) is clamped below this, so
#: that its square root is taken of an integer below 2**53 (exactly rounded: an integer square root)
_NORM2_LIMIT = float(1 << (52 - ACT_BITS))


def _quantize_igdn(module: nn.Module) -> _Layer:
    """IGDN ``x_i * sqrt(beta_i + sum_j gamma_ij x_j**2)`` in fixed point: ``gamma`` as integers
    over ``2**e``, ``beta`` over ``2**(e + ACT_BITS)``, ``e`` as large as the 2**53 bound allows."""
    beta, gamma = module.parameters_now()
    gamma, beta = gamma.detach().double().cpu(), beta.detach().double().cpu()
    biggest = float(gamma.abs().max())
    e = WEIGHT_BITS - (math.ceil(math.log2(biggest)) if biggest > 0 else 0)
    while True:
        gq = torch.round(gamma * 2.0**e)
        bq = torch.round(beta * 2.0 ** (e + ACT_BITS))
        if float((gq.abs().sum(dim=1) * _SQUARE_LIMIT + bq.abs()).max()) < EXACT_LIMIT:
            return _Layer("igdn", gq[:, :, None, None], bq, 2.0**e)
        e -= 1


def _flat(net: nn.Sequential):
    """The modules of ``net``, nested ``Sequential`` s (a sub-pixel convolution) opened."""
    for m in net:
        yield from _flat(m) if isinstance(m, nn.Sequential) else (m,)


def quantize_layers(net: nn.Sequential) -> list[_Layer]:
    """The fixed-point program of a ``Sequential`` of convolutions, linear layers, ReLUs, leaky
    ReLUs, HalfTanh, pixel shuffles (sub-pixel convolutions) and inverse GDN
    (:class:`nc_core.layers.GDN` with ``inverse=True``); nested ``Sequential`` s are opened."""
    from nc_core.layers import GDN  # (layers builds on the core's contracts; exact does not)

    layers = []
    for m in _flat(net):
        if isinstance(m, GDN):
            if not m.inverse:
                raise TypeError("exact inference supports inverse GDN (a synthesis), not GDN")
            layers.append(_quantize_igdn(m))
        elif isinstance(m, nn.Linear):
            layers.append(_quantize_conv(m, transposed=False))
        elif isinstance(m, nn.ConvTranspose2d):
            layers.append(_quantize_conv(m, transposed=True))
        elif isinstance(m, nn.Conv2d):
            if m.groups != 1 or m.dilation != (1, 1) or len(set(m.stride)) != 1 or len(set(m.padding)) != 1:
                raise TypeError(f"exact inference supports plain square convolutions, not {m}")
            layers.append(_quantize_conv(m, transposed=False))
        elif isinstance(m, nn.ReLU):
            layers.append(_Layer("relu"))
        elif isinstance(m, nn.LeakyReLU):
            layers.append(_Layer("leaky", shift=float(round(m.negative_slope * (1 << SLOPE_BITS)))))
        elif isinstance(m, HalfTanh):
            layers.append(_Layer("halftanh"))
        elif isinstance(m, nn.PixelShuffle):  # a permutation of values: exact as it is
            layers.append(_Layer("shuffle", stride=m.upscale_factor))
        else:
            raise TypeError(f"exact inference does not support {type(m).__name__}")
    return layers


def _conv(x: torch.Tensor, layer: _Layer) -> torch.Tensor:
    """Integer convolution. A 1x1 kernel, or a kernel exactly covering an unpadded input (one
    context window), is a matrix product: far faster than float64 ``conv2d`` on tiny inputs,
    and as exact (integer partial sums below 2**53 are exact in any order)."""
    w = layer.weight
    cout, _, kh, kw = w.shape
    if layer.padding == 0 and x.shape[-2:] == (kh, kw):
        return (x.flatten(1) @ w.flatten(1).T + layer.bias)[:, :, None, None]
    if (kh, kw) == (1, 1) and layer.stride == 1:
        n, c, h, wd = x.shape
        out = x.permute(0, 2, 3, 1).reshape(-1, c) @ w.flatten(1).T + layer.bias
        return out.reshape(n, h, wd, cout).permute(0, 3, 1, 2)
    return F.conv2d(x, w, layer.bias, layer.stride, layer.padding)


def _deconv(x: torch.Tensor, layer: _Layer) -> torch.Tensor:
    """Integer transposed convolution as one matrix product and a col2im sum: faster than
    float64 ``conv_transpose2d`` (which has no optimised kernel) and as exact."""
    n, cin, h, w = x.shape
    _, cout, kh, kw = layer.weight.shape
    s, p, op = layer.stride, layer.padding, layer.output_padding
    cols = layer.weight.reshape(cin, cout * kh * kw).T @ x.reshape(n, cin, h * w)
    full = F.fold(cols, ((h - 1) * s + kh + op, (w - 1) * s + kw + op), (kh, kw), stride=s)
    out_h, out_w = (h - 1) * s - 2 * p + kh + op, (w - 1) * s - 2 * p + kw + op
    return full[:, :, p : p + out_h, p : p + out_w] + layer.bias[:, None, None]


def run_layers(layers: list[_Layer], x: torch.Tensor) -> torch.Tensor:
    """Run a fixed-point program on fixed-point integers ``x`` (float64, CPU).

    Every layer's input is clamped to ``+-ACT_LIMIT``; a product's sum is brought back to
    ``ACT_BITS`` fraction bits by an exact division by ``2**e`` and a floor. Operations work in
    place on tensors this function made (never on ``x``): the arithmetic is memory-bound."""
    limit = float(ACT_LIMIT << ACT_BITS)
    one = float(1 << ACT_BITS)
    bounded = fresh = False  # x within +-limit already; x made here (so it may change in place)
    for layer in layers:
        if layer.op == "relu":
            x = x.clamp_(0, limit) if fresh else x.clamp(0, limit)
        elif layer.op == "leaky":  # negative values times the integer slope, floored to the grid
            x = torch.where(x < 0, torch.floor(x * (layer.shift / (1 << SLOPE_BITS))), x)
        elif layer.op == "halftanh":  # 0.5 * clamp(x, -1, 1), floored to the grid
            x = (x.clamp_(-one, one) if fresh else x.clamp(-one, one)).div_(2).floor_()
        elif layer.op == "shuffle":
            x = F.pixel_shuffle(x, layer.stride)
            fresh = True  # a new tensor; bounded stays as it was
            continue
        elif layer.op == "igdn":
            if not bounded:
                x = x.clamp_(-limit, limit) if fresh else x.clamp(-limit, limit)
            square = (x * x).div_(one).floor_()  # x**2 on the grid (X**2 <= 2**48: exact)
            norm2 = _conv(square, layer).div_(layer.shift).floor_().clamp_(0, _NORM2_LIMIT - 1)
            # sqrt of an integer below 2**53 is correctly rounded (IEEE), so its floor is the
            # integer square root on every machine; X * norm < 2**24 * 2**26.5 stays exact
            norm = norm2.mul_(one).sqrt_().floor_()
            x = (x * norm).div_(one).floor_()
        else:
            if not bounded:
                x = x.clamp_(-limit, limit) if fresh else x.clamp(-limit, limit)
            if layer.op == "conv":
                x = _conv(x, layer)
            elif layer.op == "linear":
                x = torch.addmm(layer.bias, x, layer.weight.T)
            else:
                x = _deconv(x, layer)
            x = x.div_(layer.shift).floor_()
        fresh, bounded = True, layer.op in ("relu", "halftanh")
    return x


def program_of(net: nn.Sequential) -> list[_Layer]:
    """:func:`quantize_layers` of ``net``, cached on it until one of its parameters changes
    (tracked by the tensors' version counters)."""
    versions = tuple((id(p), p._version) for p in net.parameters())
    cached = net.__dict__.get("_nc_exact_program")
    if cached is None or cached[0] != versions:
        cached = net.__dict__["_nc_exact_program"] = (versions, quantize_layers(net))
    return cached[1]


class ExactNet(nn.Module):
    """A ``Sequential`` that runs in float for training and, through :meth:`exact`, in exact
    fixed point for coding. The fixed-point program is rebuilt whenever a parameter changed
    (tracked by the tensors' version counters)."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

    def program(self) -> list[_Layer]:
        return program_of(self.net)

    @torch.no_grad()
    def exact(self, x_fixed: torch.Tensor) -> torch.Tensor:
        """Fixed-point integers in, fixed-point integers out (float64, CPU)."""
        return run_layers(self.program(), x_fixed.double().cpu())
