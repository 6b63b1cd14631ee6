"""Reusable neural building blocks of learned codecs (public API, see docs/plugin-guide.md).

- :class:`GDN` (and IGDN) and :func:`lower_bound` (Ballé et al. 2017, 2018);
- :class:`ResizingBuffers`: coding-table buffers whose size depends on the trained weights;
- :class:`DeepFactorized`: the learned per-channel density of Ballé et al. 2018 (appendix 6.1),
  registered by the core as the ``deep-factorized`` prior and used by hyperprior models for
  their side information.

The deep factorized prior: each latent channel has its own learned cumulative distribution
``c(y)``: a tiny monotone network (positive matrices via softplus, ``x + tanh(a) * tanh(x)``
non-linearities). The likelihood of a quantized value is ``c(y + 1/2) - c(y - 1/2)``, computed
on the logit side with the sign trick for precision in the tails. ``update()`` evaluates each
channel's CDF on the integer grid in float64, keeps the support where the tails exceed
``tail_mass / 2`` and folds the tails into the edge bins. The tables are buffers saved with
the weights, so a decoder reads them instead of recomputing them (no floating-point drift
between encoder and decoder machines). Symbols outside a table go through the coders'
overflow escape.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nc_core.coding import IndexedTables
from nc_core.contracts import Prior

__all__ = ["LowerBound", "lower_bound", "GDN", "LIKELIHOOD_FLOOR", "ResizingBuffers", "DeepFactorized", "around",
           "in_float32"]


def in_float32(fn):
    """Run ``fn`` outside autocast, its half-precision tensor arguments cast to float32.

    Likelihoods (and so the rate) stay accurate when a pipeline trains under bf16 autocast
    (``train.precision: bf16``): bf16 keeps 8 bits of mantissa, so a probability near 1 would
    round to 1 and cost nothing. Entropy models decorate their likelihood functions with it.
    """

    def cast(v):
        return v.float() if isinstance(v, torch.Tensor) and v.dtype in (torch.bfloat16, torch.float16) else v

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with contextlib.ExitStack() as stack:
            for device in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
                stack.enter_context(torch.autocast(device, enabled=False))
            return fn(*[cast(a) for a in args], **{k: cast(v) for k, v in kwargs.items()})

    return wrapper


class LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still pulls values up from below the bound, so a
    parameter stuck under it can recover (plain clamp would zero its gradient)."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through, None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """``max(x, bound)`` with the gradient of :class:`LowerBound`."""
    return LowerBound.apply(x, bound)


class GDN(nn.Module):
    """Generalized divisive normalization: ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``
    (``inverse=True``: multiply instead, IGDN). ``beta`` and ``gamma`` are kept non-negative by
    the squared reparametrisation with a pedestal of Ballé et al. 2018."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.pedestal = 2.0**-36
        self.beta_bound = (beta_min + self.pedestal) ** 0.5
        self.gamma_bound = self.pedestal**0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self.pedestal))
        gamma = gamma_init * torch.eye(channels) + self.pedestal
        self.gamma = nn.Parameter(torch.sqrt(gamma))

    def parameters_now(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(beta, gamma)`` as the layer uses them (after the reparametrisation)."""
        beta = lower_bound(self.beta, self.beta_bound) ** 2 - self.pedestal
        gamma = lower_bound(self.gamma, self.gamma_bound) ** 2 - self.pedestal
        return beta, gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta, gamma = self.parameters_now()
        c = x.shape[1]
        norm = torch.sqrt(F.conv2d(x * x, gamma.view(c, c, 1, 1), beta))
        return x * norm if self.inverse else x / norm


def around(surrogate, y: torch.Tensor, centre: torch.Tensor | None) -> torch.Tensor:
    """``surrogate(y - centre) + centre``: a quantizer's training surrogate (``for_rate``,
    ``for_distortion``) around a prior's centres (:meth:`Prior.centres`), as coding rounds;
    ``surrogate(y)`` when there are none."""
    return surrogate(y) if centre is None else surrogate(y - centre) + centre


LIKELIHOOD_FLOOR = 1e-9
PMF_FLOOR = 1e-15  # no table entry is zero (a flat CDF): every symbol keeps a finite ideal cost
GRID_RADIUS = 4096  # tables can span up to +-GRID_RADIUS; beyond that the escape takes over


class ResizingBuffers(nn.Module):
    """Lets table buffers of data-dependent size load from a state dict of another size."""

    table_buffers: tuple[str, ...] = ()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.table_buffers:
            key = prefix + name
            if key in state_dict:
                getattr(self, name).resize_(state_dict[key].shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class DeepFactorized(Prior, ResizingBuffers):
    """Per-channel learned CDF. ``channels`` is set by the codec (``bind``).

    ``centred``: latents are rounded around a per-channel centre (the ``medians`` buffer, as
    CompressAI's entropy bottleneck rounds around its medians) instead of around zero; the
    coding tables then hold the bins ``[s + m - 1/2, s + m + 1/2]`` of symbol ``s``. Imported
    CompressAI models use it; nc's own training leaves it off (the medians are not learned)."""

    name = "deep-factorized"
    table_buffers = ("pmfs", "offsets", "lengths")

    def __init__(self, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0, tail_mass: float = 1e-6,
                 centred: bool = False):
        super().__init__()
        if not 0 < tail_mass < 0.1:
            raise ValueError("tail_mass must be in (0, 0.1)")
        self.filters = tuple(int(f) for f in filters)
        self.init_scale = float(init_scale)
        self.tail_mass = float(tail_mass)
        self.centred = bool(centred)
        self.channels = 0
        self.register_buffer("pmfs", torch.zeros(0, 0, dtype=torch.float64))
        self.register_buffer("offsets", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("lengths", torch.zeros(0, dtype=torch.int64))

    def bind(self, channels: int) -> "DeepFactorized":
        """Create the per-channel parameters for ``channels`` latent channels."""
        self.channels = c = int(channels)
        dims = (1, *self.filters, 1)
        scale = self.init_scale ** (1 / (len(self.filters) + 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(dims) - 1):
            init = float(np.log(np.expm1(1 / scale / dims[i + 1])))
            self.matrices.append(nn.Parameter(torch.full((c, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(c, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(c, dims[i + 1], 1)))
        if self.centred:
            self.register_buffer("medians", torch.zeros(c))
        return self

    def centres(self) -> torch.Tensor | None:
        """The per-channel centres (``1 x C x 1 x 1``) to round around, or ``None`` (zero)."""
        return self.medians.view(1, -1, 1, 1) if self.centred else None

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of the CDF; ``x`` is ``(C, 1, n)``."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(matrix.to(x.dtype)), x) + bias.to(x.dtype)
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i].to(x.dtype)) * torch.tanh(x)
        return x

    def _bin_probability(self, centres: torch.Tensor) -> torch.Tensor:
        """P([y - 1/2, y + 1/2]) for ``centres`` of shape ``(C, 1, n)``."""
        lower = self._logits(centres - 0.5)
        upper = self._logits(centres + 0.5)
        # evaluate in the tail where it is accurate (never sign 0: a bin centred on the median)
        sign = torch.where(lower + upper > 0, -1.0, 1.0).to(lower.dtype).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    @in_float32
    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Likelihoods of ``y`` (``N x C x H x W``), floored for a finite rate."""
        n, c, h, w = y.shape
        flat = y.permute(1, 0, 2, 3).reshape(c, 1, -1)
        p = self._bin_probability(flat).reshape(c, n, h, w).permute(1, 0, 2, 3)
        return p.clamp_min(LIKELIHOOD_FLOOR)

    @torch.no_grad()
    def update(self) -> None:
        grid = torch.arange(-GRID_RADIUS, GRID_RADIUS + 1, dtype=torch.float64)
        upper_edges = (grid + 0.5).expand(self.channels, 1, -1)
        if self.centred:
            upper_edges = upper_edges + self.medians.double().view(-1, 1, 1)
        logits = self._logits(upper_edges)[:, 0, :]
        cdf = torch.sigmoid(logits).numpy()  # cdf[c, k] = P(y <= grid[k] + 1/2 (+ median))
        ccdf = torch.sigmoid(-logits).numpy()  # 1 - cdf, accurate in the upper tail
        logits = logits.numpy()
        half = self.tail_mass / 2
        pmfs, offsets = [], []
        for row, crow, lrow in zip(cdf, ccdf, logits):
            lo = int(np.searchsorted(row, half))  # first bin whose upper edge passes the tail
            hi = int(np.searchsorted(row, 1 - half))
            # one more bin on each side: the edge symbols (which carry the escape) then hold
            # only tail mass, never the likely values (a collapsed channel's single value)
            lo, hi = max(lo - 1, 0), min(max(hi, lo) + 1, len(grid) - 1)
            # interior bin k: F(k + 1/2) - F(k - 1/2), from the tail where it is accurate
            upper_side = lrow[lo:hi] + lrow[lo + 1:hi + 1] > 0
            inner = np.where(upper_side, crow[lo:hi] - crow[lo + 1:hi + 1], row[lo + 1:hi + 1] - row[lo:hi])
            pmf = np.concatenate([[row[lo]], inner[:-1], [crow[hi - 1]]])  # edge bins take the tails
            pmfs.append(np.maximum(pmf, PMF_FLOOR))
            offsets.append(int(grid[lo]))
        width = max(len(p) for p in pmfs)
        table = np.zeros((self.channels, width))
        for i, p in enumerate(pmfs):
            table[i, : len(p)] = p
        self.pmfs = torch.from_numpy(table)
        self.offsets = torch.tensor(offsets, dtype=torch.int64)
        self.lengths = torch.tensor([len(p) for p in pmfs], dtype=torch.int64)

    def coding_distribution(self, shape, **cond) -> IndexedTables:
        if self.pmfs.numel() == 0:
            raise RuntimeError("deep-factorized prior has no coding tables: call update() first")
        n, c, h, w = shape
        index = np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), (n, c, h, w))
        return IndexedTables(
            pmfs=self.pmfs.numpy(), offsets=self.offsets.numpy(), lengths=self.lengths.numpy(), index=index
        )
