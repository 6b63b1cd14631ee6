"""Hyperprior entropy models: the latent ``y`` is coded under a conditional Gaussian whose
parameters come from side information ``z`` (coded first, under a deep factorized prior) and,
for the autoregressive variants, from already decoded parts of ``y``.

=========================  =====================================================  ==========
name                       parameters of y's Gaussian                             decoding
=========================  =====================================================  ==========
scale-hyperprior           scale = h_s(z)          (Ballé et al. 2018)            parallel
mean-scale-hyperprior      mean, scale = h_s(z)    (Minnen et al. 2018)           parallel
joint-autoregressive       + masked 5x5 context of decoded y (Minnen et al. 2018) serial
channel-autoregressive     per channel slice, from h_s(z) and earlier slices,     S steps
                           with latent residual prediction (Minnen & Singh 2020)
=========================  =====================================================  ==========

Every network that decides a coding distribution runs in exact fixed point at coding time
(:mod:`nc_core.exact`); the symbols are ``round(y - mean)`` coded with the scale
tables of :mod:`nc_hyperprior.gaussian`, an ``IndexedTables`` distribution that every coder
supports. Decoded latents are kept on the fixed-point grid (``y_hat = symbol + mean``).
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from nc_core.contracts import EntropyModel, Quantizer
from nc_core.exact import ExactNet, HalfTanh, MaskedConv2d, from_fixed, run_layers, to_fixed
from nc_core.layers import DeepFactorized, around
from nc_hyperprior.gaussian import GaussianTables, gaussian_likelihood
from nc_hyperprior.transforms import subpel_conv3x3

#: one coded group: int64 symbols and their coding distribution
Group = tuple


def _conv(cin, cout, k=5, stride=2):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def _deconv(cin, cout, k=5, stride=2):
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1)


def _crop(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return t[..., :h, :w]


class HyperpriorModel(EntropyModel):
    """Base of the hyperprior entropy models (``use:`` one of the subclasses).

    ``hyper_channels`` is the width N of the hyper transforms and of ``z``; the latent width M
    comes from the transform (``bind``). ``centred_z`` rounds ``z`` around its prior's
    per-channel medians and ``z_filters`` sizes that prior's density network (CompressAI's
    conventions, for imported models: ``true`` and ``[3, 3, 3, 3]``). Subclasses define
    ``_build``, ``_train_y``, ``_encode_y`` and ``_decode_y``.
    """

    def __init__(self, hyper_channels: int = 64, centred_z: bool = False, z_filters: tuple[int, ...] = (3, 3, 3)):
        super().__init__()
        if hyper_channels < 1:
            raise ValueError("hyper_channels must be positive")
        self.hyper_channels = int(hyper_channels)
        self.centred_z = bool(centred_z)
        self.z_filters = tuple(int(f) for f in z_filters)
        self.channels = 0
        self.tables = GaussianTables()

    #: whether the model can condition ``y`` on a ``context`` (see :class:`EntropyModel`)
    takes_context = False

    def bind(self, channels: int, context: int = 0) -> "HyperpriorModel":
        if context and not self.takes_context:
            raise TypeError(f"entropy model {self.name!r} takes no context (mean-scale-hyperprior does)")
        self.channels, self.context_channels = int(channels), int(context)
        self.z_prior = DeepFactorized(self.z_filters, centred=self.centred_z).bind(self.hyper_channels)
        self._build(self.channels, self.hyper_channels)
        return self

    def _context(self, context: torch.Tensor | None, y_shape) -> torch.Tensor | None:
        """``context``, checked against the binding and the latents' shape."""
        if (context is None) != (not self.context_channels):
            raise ValueError(f"entropy model {self.name!r} was bound for {self.context_channels} context channels, "
                             f"and was given {'none' if context is None else 'a context'}")
        if context is not None and tuple(context.shape) != (y_shape[0], self.context_channels, *y_shape[2:]):
            raise ValueError(f"context must be {y_shape[0]} x {self.context_channels} x {y_shape[2]} x {y_shape[3]}, "
                             f"got {tuple(context.shape)}")
        return context

    def _build(self, m: int, n: int) -> None:
        raise NotImplementedError

    def _hyper_analysis(self, m: int, n: int) -> nn.Sequential:
        return nn.Sequential(_conv(m, n, 3, 1), nn.ReLU(), _conv(n, n), nn.ReLU(), _conv(n, n))

    def _mean_scale_hyper(self, m: int, n: int, layout: str) -> tuple[nn.Module, ExactNet]:
        """``(h_a, h_s)`` of a model with means and scales, ``h_s`` giving ``2M`` channels:
        ``nc`` (ReLU; hyper-synthesis widths N, N, 3N/2, 2M) or ``mbt2018`` (CompressAI's
        ``mbt2018`` and ``mbt2018-mean``: leaky ReLU; widths N, M, 3M/2, 2M) or ``cheng2020``
        (CompressAI's ``cheng2020-anchor``: 3x3 convolutions, leaky ReLU, sub-pixel upsampling)."""
        if layout == "cheng2020":
            leaky = nn.LeakyReLU
            h_a = nn.Sequential(_conv(m, n, 3, 1), leaky(), _conv(n, n, 3, 1), leaky(), _conv(n, n, 3, 2), leaky(),
                                _conv(n, n, 3, 1), leaky(), _conv(n, n, 3, 2))
            return h_a, ExactNet(_conv(n, n, 3, 1), leaky(), subpel_conv3x3(n, n, 2), leaky(),
                                 _conv(n, n * 3 // 2, 3, 1), leaky(), subpel_conv3x3(n * 3 // 2, n * 3 // 2, 2), leaky(),
                                 _conv(n * 3 // 2, 2 * m, 3, 1))
        if layout == "nc":
            return self._hyper_analysis(m, n), ExactNet(_deconv(n, n), nn.ReLU(), _deconv(n, n * 3 // 2), nn.ReLU(),
                                                        _conv(n * 3 // 2, 2 * m, 3, 1))
        return (nn.Sequential(_conv(m, n, 3, 1), nn.LeakyReLU(), _conv(n, n), nn.LeakyReLU(), _conv(n, n)),
                ExactNet(_deconv(n, m), nn.LeakyReLU(), _deconv(m, m * 3 // 2), nn.LeakyReLU(),
                         _conv(m * 3 // 2, 2 * m, 3, 1)))

    def _hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def update(self) -> None:
        self.z_prior.update()
        self.tables.update()

    # -- training ---------------------------------------------------------------------------
    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        """The side information ``z`` of latents ``y`` (before quantization)."""
        return self.h_a(self._hyper_input(y))

    def forward(self, y: torch.Tensor, quantizer: Quantizer, z: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """``(latent for the synthesis, {"y": likelihoods, "z": likelihoods})``; ``z``
        overrides the hyper-analysis (latent refinement optimises it directly)."""
        context = self._context(context, y.shape)
        z = self.hyper_analysis(y) if z is None else z
        c = self.z_prior.centres()
        z_likelihoods, z_hat = self.z_prior(around(quantizer.for_rate, z, c)), around(quantizer.for_distortion, z, c)
        y_syn, y_likelihoods = self._train_y(y, z_hat, quantizer, context)
        return y_syn, {"y": y_likelihoods, "z": z_likelihoods}

    def _train_y(self, y, z_hat, quantizer, context=None):
        raise NotImplementedError

    # -- coding -----------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, y: torch.Tensor, quantizer: Quantizer, seed: int, z: torch.Tensor | None = None,
               context: torch.Tensor | None = None) -> tuple[torch.Tensor, list[list[Group]]]:
        """Quantize and model a batch of latents: ``(y_hat, groups)`` where ``groups[i]`` is
        image ``i``'s list of ``(symbols, distribution)`` in decode order."""
        context = self._context(context, y.shape)
        z = self.hyper_analysis(y) if z is None else z
        c = self.z_prior.centres()
        z_symbols = torch.round(z if c is None else z - c).to(torch.int64)
        z_dist = self.z_prior.coding_distribution(tuple(z_symbols[:1].shape))
        y_hat, y_groups = self._encode_y(y.double(), self._z_fixed(z_symbols), quantizer, seed,
                                         None if context is None else to_fixed(context.double()))
        groups = [[(z_symbols[i:i + 1].numpy(), z_dist), *y_groups[i]] for i in range(y.shape[0])]
        return y_hat, groups

    @torch.no_grad()
    def decode(self, decoder, shape: tuple[int, int, int, int], quantizer: Quantizer, seed: int,
               context: torch.Tensor | None = None) -> torch.Tensor:
        """Decode one image's latents (``shape`` ``1 x M x h x w``) from ``decoder``."""
        context = self._context(context, shape)
        _, m, h, w = shape
        zh, zw = -(-h // 4), -(-w // 4)
        z_symbols = decoder.decode(self.z_prior.coding_distribution((1, self.hyper_channels, zh, zw)))
        return self._decode_y(decoder, self._z_fixed(torch.from_numpy(z_symbols)), (h, w), quantizer, seed,
                              None if context is None else to_fixed(context.double()))

    def _z_fixed(self, z_symbols: torch.Tensor) -> torch.Tensor:
        """``z_hat`` on the fixed-point grid: the symbols, plus the medians when centred."""
        c = self.z_prior.centres()
        return to_fixed(z_symbols if c is None else z_symbols.double() + c.double())

    def _encode_y(self, y, z_fixed, quantizer, seed, context_fixed=None):
        raise NotImplementedError

    def _decode_y(self, decoder, z_fixed, size, quantizer, seed, context_fixed=None):
        raise NotImplementedError

    # -- helpers shared by the variants ----------------------------------------------------------
    @staticmethod
    def _quantize(y, mean_fixed, quantizer, seed):
        """``(symbols, y_hat_fixed)``: symbols around the exact mean, y_hat on the grid."""
        mean = from_fixed(mean_fixed) if mean_fixed is not None else None
        symbols = quantizer.quantize(y, offset=mean, seed=seed)
        return symbols, to_fixed(quantizer.dequantize(symbols, offset=mean, seed=seed))

    @staticmethod
    def _dequantize(symbols, mean_fixed, quantizer, seed):
        mean = from_fixed(mean_fixed) if mean_fixed is not None else None
        return to_fixed(quantizer.dequantize(torch.from_numpy(symbols), offset=mean, seed=seed))

    def _dist(self, scale_fixed):
        return self.tables.distribution(scale_fixed)


def _layout(layout: str, layouts: tuple[str, ...]) -> str:
    if layout not in layouts:
        raise ValueError(f"layout must be one of {', '.join(layouts)}, not {layout!r}")
    return layout


def _split_groups(symbols: torch.Tensor, scales_fixed: torch.Tensor, model: HyperpriorModel) -> list[Group]:
    """One group per image of a batch."""
    return [(symbols[i:i + 1].numpy(), model._dist(scales_fixed[i:i + 1])) for i in range(symbols.shape[0])]


class ScaleHyperprior(HyperpriorModel):
    """Ballé et al. 2018: zero-mean Gaussian, scales from the hyper-synthesis of ``z``."""

    name = "scale-hyperprior"

    def _build(self, m, n):
        self.h_a = self._hyper_analysis(m, n)
        self.h_s = ExactNet(_deconv(n, n), nn.ReLU(), _deconv(n, n), nn.ReLU(), _conv(n, m, 3, 1), nn.ReLU())

    def _hyper_input(self, y):
        return y.abs()

    def _train_y(self, y, z_hat, quantizer, context=None):
        scales = _crop(self.h_s(z_hat), *y.shape[-2:])
        return quantizer.for_distortion(y), gaussian_likelihood(quantizer.for_rate(y), scales)

    def _encode_y(self, y, z_fixed, quantizer, seed, context_fixed=None):
        scales = _crop(self.h_s.exact(z_fixed), *y.shape[-2:])
        symbols, y_hat = self._quantize(y, None, quantizer, seed)
        return from_fixed(y_hat), [[g] for g in _split_groups(symbols, scales, self)]

    def _decode_y(self, decoder, z_fixed, size, quantizer, seed, context_fixed=None):
        scales = _crop(self.h_s.exact(z_fixed), *size)
        symbols = decoder.decode(self._dist(scales))
        return from_fixed(self._dequantize(symbols, None, quantizer, seed))


class MeanScaleHyperprior(HyperpriorModel):
    """Minnen et al. 2018 without the context model: means and scales from ``z``.

    ``layout``: ``nc`` (ReLU; hyper-synthesis widths N, N, 3N/2, 2M) or ``mbt2018``
    (CompressAI's ``mbt2018-mean``: leaky ReLU; widths N, M, 3M/2, 2M).

    Bound with a context (``bind(M, context=K)``), the parameters are ``h_s(z) + f([h_s(z),
    context])``, ``f`` three 3x3 convolutions (ReLU, N wide) whose last layer starts at zero: the
    model starts as the plain hyperprior (a trained one's weights load into it as they are) and
    learns where the context makes ``y`` predictable (Liu et al. 2020, "Conditional entropy
    coding for efficient video compression"). ``f`` runs in exact fixed point at coding time, on
    the context rounded to the fixed-point grid."""

    name = "mean-scale-hyperprior"
    LAYOUTS = ("nc", "mbt2018")
    takes_context = True

    def __init__(self, hyper_channels: int = 64, layout: str = "nc", centred_z: bool = False,
                 z_filters: tuple[int, ...] = (3, 3, 3)):
        super().__init__(hyper_channels, centred_z, z_filters)
        self.layout = _layout(layout, self.LAYOUTS)

    def _build(self, m, n):
        self.h_a, self.h_s = self._mean_scale_hyper(m, n, self.layout)
        if self.context_channels:
            self.context_fusion = ExactNet(_conv(2 * m + self.context_channels, n, 3, 1), nn.ReLU(),
                                           _conv(n, n, 3, 1), nn.ReLU(), _conv(n, 2 * m, 3, 1))
            nn.init.zeros_(self.context_fusion.net[-1].weight)
            nn.init.zeros_(self.context_fusion.net[-1].bias)

    def _gaussian(self, hyper, context):
        """``(scales, means)`` from the hyper-synthesis' output and the context (float)."""
        if context is not None:
            hyper = hyper + self.context_fusion(torch.cat([hyper, context], dim=1))
        return hyper.chunk(2, dim=1)

    def _exact_gaussian(self, z_fixed, size, context_fixed):
        """``(scales, means)`` in fixed point, from ``z`` and the fixed-point context."""
        hyper = _crop(self.h_s.exact(z_fixed), *size)
        if context_fixed is not None:
            hyper = hyper + self.context_fusion.exact(torch.cat([hyper, context_fixed], dim=1))
        return hyper.chunk(2, dim=1)

    def _train_y(self, y, z_hat, quantizer, context=None):
        scales, means = self._gaussian(_crop(self.h_s(z_hat), *y.shape[-2:]), context)
        likelihoods = gaussian_likelihood(quantizer.for_rate(y - means), scales)
        return quantizer.for_distortion(y - means) + means, likelihoods

    def _encode_y(self, y, z_fixed, quantizer, seed, context_fixed=None):
        scales, means = self._exact_gaussian(z_fixed, y.shape[-2:], context_fixed)
        symbols, y_hat = self._quantize(y, means, quantizer, seed)
        return from_fixed(y_hat), [[g] for g in _split_groups(symbols, scales, self)]

    def _decode_y(self, decoder, z_fixed, size, quantizer, seed, context_fixed=None):
        scales, means = self._exact_gaussian(z_fixed, size, context_fixed)
        symbols = decoder.decode(self._dist(scales))
        return from_fixed(self._dequantize(symbols, means, quantizer, seed))


class JointAutoregressive(HyperpriorModel):
    """Minnen et al. 2018: hyperprior plus a masked 5x5 spatial context model. Decoding is
    serial, in wavefronts: position ``(i, j)`` sees only ``(i, j-1)``, ``(i, j-2)`` and the two
    rows above at ``j-2 .. j+2``, all on earlier fronts ``3i + j``, so every position of one front
    is decoded together (all channels of a front in one group). A landscape Kodak image's
    32 x 48 latent takes 141 fronts instead of 1,536 positions; the fixed-point context and entropy
    parameters are exact in any batching, so the fronts change nothing but the speed and the
    order of the symbols in the file.

    ``layout``: ``nc`` (ReLU, the hyper-synthesis widths of the mean-scale model's ``nc``),
    ``mbt2018`` (CompressAI's ``mbt2018``: leaky ReLU throughout, widths N, M, 3M/2, 2M) or
    ``cheng2020`` (CompressAI's ``cheng2020-anchor``: 3x3 hyper transforms with sub-pixel
    upsampling; use it with the ``cheng2020`` transform)."""

    name = "joint-autoregressive"
    KERNEL = 5
    LAYOUTS = ("nc", "mbt2018", "cheng2020")

    def __init__(self, hyper_channels: int = 64, layout: str = "nc", centred_z: bool = False,
                 z_filters: tuple[int, ...] = (3, 3, 3)):
        super().__init__(hyper_channels, centred_z, z_filters)
        self.layout = _layout(layout, self.LAYOUTS)

    def _build(self, m, n):
        self.h_a, self.h_s = self._mean_scale_hyper(m, n, self.layout)
        self.context = ExactNet(MaskedConv2d(m, 2 * m, self.KERNEL, padding=self.KERNEL // 2))
        act = nn.ReLU if self.layout == "nc" else nn.LeakyReLU
        self.entropy_parameters = ExactNet(
            nn.Conv2d(4 * m, 10 * m // 3, 1), act(), nn.Conv2d(10 * m // 3, 8 * m // 3, 1), act(),
            nn.Conv2d(8 * m // 3, 2 * m, 1),
        )

    def _train_y(self, y, z_hat, quantizer, context=None):
        hyper = _crop(self.h_s(z_hat), *y.shape[-2:])
        ctx = self.context(quantizer.for_distortion(y))
        scales, means = self.entropy_parameters(torch.cat([hyper, ctx], dim=1)).chunk(2, dim=1)
        likelihoods = gaussian_likelihood(quantizer.for_rate(y - means), scales)
        return quantizer.for_distortion(y - means) + means, likelihoods

    def _serial(self, hyper, step):
        """Visit the wavefronts in order; ``step(rows, cols, scales, means) -> y_hat_fixed`` of
        the front's positions (parameters ``N x M x 1 x P``, the result ``N x M x P``). Returns
        the padded fixed-point latent being filled in."""
        n, _, h, w = hyper.shape
        k = self.KERNEL
        pad = k // 2
        (ctx_layer,) = self.context.program()
        ctx_layer = attrs.evolve(ctx_layer, padding=0)  # applied to one k x k window per position
        ep = self.entropy_parameters.program()
        y_hat = torch.zeros(n, self.channels, h + 2 * pad, w + 2 * pad, dtype=torch.float64)
        for front in range(3 * (h - 1) + w):
            rows = torch.arange(max(0, (front - w + 3) // 3), min(h - 1, front // 3) + 1)
            if not len(rows):  # a latent narrower than 3 leaves fronts empty
                continue
            cols = front - 3 * rows
            windows = torch.stack([y_hat[:, :, i:i + k, j:j + k] for i, j in zip(rows.tolist(), cols.tolist())], 1)
            ctx = run_layers([ctx_layer], windows.flatten(0, 1))  # (N * P) x 2M x 1 x 1
            ctx = ctx.view(n, len(rows), -1).permute(0, 2, 1).unsqueeze(2)
            params = run_layers(ep, torch.cat([hyper[:, :, rows, cols].unsqueeze(2), ctx], dim=1))
            scales, means = params.chunk(2, dim=1)
            y_hat[:, :, rows + pad, cols + pad] = step(rows, cols, scales, means)
        return y_hat[:, :, pad:pad + h, pad:pad + w]

    def _encode_y(self, y, z_fixed, quantizer, seed, context_fixed=None):
        hyper = _crop(self.h_s.exact(z_fixed), *y.shape[-2:])
        groups = [[] for _ in range(y.shape[0])]

        def step(rows, cols, scales, means):
            symbols, y_hat = self._quantize(y[:, :, rows, cols].unsqueeze(2), means, quantizer, seed)
            for b, group in enumerate(_split_groups(symbols, scales, self)):
                groups[b].append(group)
            return y_hat[:, :, 0]

        return from_fixed(self._serial(hyper, step)), groups

    def _decode_y(self, decoder, z_fixed, size, quantizer, seed, context_fixed=None):
        hyper = _crop(self.h_s.exact(z_fixed), *size)

        def step(rows, cols, scales, means):
            symbols = decoder.decode(self._dist(scales))
            return self._dequantize(symbols, means, quantizer, seed)[:, :, 0]

        return from_fixed(self._serial(hyper, step))


class ChannelAutoregressive(HyperpriorModel):
    """Minnen & Singh 2020: the latent is split into ``slices`` channel groups coded in turn;
    each slice's mean and scale come from the hyper-synthesis and all earlier slices, and a
    latent residual prediction (LRP) network corrects each decoded slice. Every slice is coded
    in parallel over space, so decoding takes ``slices`` steps."""

    name = "channel-autoregressive"

    def __init__(self, hyper_channels: int = 64, slices: int = 4, centred_z: bool = False,
                 z_filters: tuple[int, ...] = (3, 3, 3)):
        super().__init__(hyper_channels, centred_z, z_filters)
        if slices < 1:
            raise ValueError("slices must be positive")
        self.slices = int(slices)

    def _build(self, m, n):
        if m % self.slices:
            raise ValueError(f"latent channels {m} are not divisible by slices={self.slices}")
        k = m // self.slices
        self.h_a = self._hyper_analysis(m, n)
        self.h_mean = ExactNet(_deconv(n, n), nn.ReLU(), _deconv(n, n), nn.ReLU(), _conv(n, m, 3, 1))
        self.h_scale = ExactNet(_deconv(n, n), nn.ReLU(), _deconv(n, n), nn.ReLU(), _conv(n, m, 3, 1))

        def slice_net(cin, last=()):
            return ExactNet(_conv(cin, n, 3, 1), nn.ReLU(), _conv(n, n // 2, 3, 1), nn.ReLU(),
                            _conv(n // 2, k, 3, 1), *last)

        self.mean_nets = nn.ModuleList(slice_net(m + i * k) for i in range(self.slices))
        self.scale_nets = nn.ModuleList(slice_net(m + i * k) for i in range(self.slices))
        self.lrp_nets = nn.ModuleList(slice_net(m + (i + 1) * k, (HalfTanh(),)) for i in range(self.slices))

    def _train_y(self, y, z_hat, quantizer, context=None):
        h, w = y.shape[-2:]
        hyper_mean, hyper_scale = _crop(self.h_mean(z_hat), h, w), _crop(self.h_scale(z_hat), h, w)
        decoded, likelihoods = [], []
        for i, y_slice in enumerate(y.chunk(self.slices, dim=1)):
            means = self.mean_nets[i](torch.cat([hyper_mean, *decoded], dim=1))
            scales = self.scale_nets[i](torch.cat([hyper_scale, *decoded], dim=1))
            likelihoods.append(gaussian_likelihood(quantizer.for_rate(y_slice - means), scales))
            y_hat = quantizer.for_distortion(y_slice - means) + means
            y_hat = y_hat + self.lrp_nets[i](torch.cat([hyper_mean, *decoded, y_hat], dim=1))
            decoded.append(y_hat)
        return torch.cat(decoded, dim=1), torch.cat(likelihoods, dim=1)

    def _slices(self, hyper_mean, hyper_scale, code):
        """Code slice by slice; ``code(i, scales, means) -> y_hat_fixed`` of slice ``i``."""
        decoded = []
        for i in range(self.slices):
            means = self.mean_nets[i].exact(torch.cat([hyper_mean, *decoded], dim=1))
            scales = self.scale_nets[i].exact(torch.cat([hyper_scale, *decoded], dim=1))
            y_hat = code(i, scales, means)
            y_hat = y_hat + self.lrp_nets[i].exact(torch.cat([hyper_mean, *decoded, y_hat], dim=1))
            decoded.append(y_hat)
        return torch.cat(decoded, dim=1)

    def _hyper(self, z_fixed, h, w):
        return _crop(self.h_mean.exact(z_fixed), h, w), _crop(self.h_scale.exact(z_fixed), h, w)

    def _encode_y(self, y, z_fixed, quantizer, seed, context_fixed=None):
        groups = [[] for _ in range(y.shape[0])]
        y_slices = y.chunk(self.slices, dim=1)

        def code(i, scales, means):
            symbols, y_hat = self._quantize(y_slices[i], means, quantizer, seed + i)
            for b, group in enumerate(_split_groups(symbols, scales, self)):
                groups[b].append(group)
            return y_hat

        return from_fixed(self._slices(*self._hyper(z_fixed, *y.shape[-2:]), code)), groups

    def _decode_y(self, decoder, z_fixed, size, quantizer, seed, context_fixed=None):
        def code(i, scales, means):
            return self._dequantize(decoder.decode(self._dist(scales)), means, quantizer, seed + i)

        return from_fixed(self._slices(*self._hyper(z_fixed, *size), code))


MODELS = [ScaleHyperprior, MeanScaleHyperprior, JointAutoregressive, ChannelAutoregressive]
