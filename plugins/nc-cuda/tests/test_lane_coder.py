"""The lane coder beyond the conformance suite: bytes equal to the scalar reference, a million
symbols of every family with escapes, the size bound, the exact tables, and devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nc_cuda import coder as coder_module
from nc_cuda import models
from nc_cuda.coder import LaneRansCoder
from nc_cuda.tables import CDF_ONE, FAMILY_TABLES, GRID_BITS, level_thresholds
from scipy.special import expit, ndtr

from nc_core.coders import decode_all, encode_all
from nc_core.coding import (
    Categorical,
    IndexedTables,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
    information_bits,
    overflow_digits,
)
from nc_core.errors import UserError
from nc_core.testing.coders import any_pair

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")


# ---------------------------------------------------------------- the scalar reference


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pairs=st.lists(any_pair, max_size=4), lanes=st.integers(1, 9), per_lane=st.integers(1, 50))
def test_bytes_equal_the_scalar_reference(reference, pairs, lanes, per_lane):
    coder = LaneRansCoder(device="cpu", lanes=lanes, ops_per_lane=per_lane)
    data = encode_all(coder, pairs)
    assert data == reference.encode(pairs, lanes, per_lane)
    for search in ("bisect", "rows"):  # the CPU's and the GPU's bin lookup
        out = decode_all(LaneRansCoder(device="cpu", search=search), data, [d for _, d in pairs])
        for (x, d), y in zip(pairs, out, strict=True):
            np.testing.assert_array_equal(y, np.asarray(x).reshape(d.shape))


def test_bytes_equal_the_scalar_reference_on_typical_latents(reference, monkeypatch):
    """Thousands of symbols with fractional locations and small scales, where one unit of the
    fixed-point location or scale changes the integer CDF."""
    monkeypatch.setattr(models, "CHUNK", 700)  # several chunks, one not full
    monkeypatch.setattr(coder_module, "_ROW_CELLS", 500)  # categorical rows in several chunks too
    rng = np.random.default_rng(9)
    n = 3000
    loc, scale = rng.normal(0, 4, n), np.exp(rng.uniform(np.log(0.02), np.log(50), n))
    pairs = [(np.round(rng.normal(loc, scale)).astype(np.int64), cls(loc, scale, lo, hi))
             for cls in (QuantizedGaussian, QuantizedLaplace, QuantizedLogistic) for lo, hi in [(-40, 40), (-5000, 5000)]]
    rows = rng.dirichlet(np.full(30, 0.5), n)
    x = (rows.cumsum(1) > rng.random((n, 1))).argmax(1) - 7
    x[::101] = 1 << 50
    pairs.append((x, Categorical(rows, offset=-7)))
    data = encode_all(LaneRansCoder(device="cpu", lanes=5, ops_per_lane=100), pairs)
    assert data == reference.encode(pairs, 5, 100)
    for search in ("bisect", "rows"):
        out = decode_all(LaneRansCoder(device="cpu", search=search), data, [d for _, d in pairs])
        for (x, _), y in zip(pairs, out, strict=True):
            np.testing.assert_array_equal(y, x)


# ------------------------------------------------------------- a million symbols each

N = 1_000_000


def _million(family: str, rng):
    loc = rng.normal(0, 30, N)
    scale = np.exp(rng.uniform(np.log(0.05), np.log(300), N))
    if family in ("gaussian", "laplace", "logistic"):
        cls = {"gaussian": QuantizedGaussian, "laplace": QuantizedLaplace, "logistic": QuantizedLogistic}[family]
        sample = {"gaussian": rng.normal, "laplace": rng.laplace, "logistic": rng.logistic}[family]
        x = np.round(sample(loc, scale)).astype(np.int64)
        dist = cls(loc, scale, -2000, 2000)
    elif family == "tables":
        t, k = 64, 200
        pmfs = rng.dirichlet(np.full(k, 0.3), t)
        index = rng.integers(0, t, N)
        x = (pmfs.cumsum(1)[index] > rng.random((N, 1))).argmax(1) - 100
        dist = IndexedTables(pmfs, np.full(t, -100), np.full(t, k), index)
    else:
        p = rng.dirichlet(np.ones(40))
        x = rng.choice(40, N, p=p) - 20
        dist = Categorical(p, offset=-20, shape=(N,))
    return x, dist


@pytest.mark.parametrize("family", ["gaussian", "laplace", "logistic", "tables", "categorical"])
def test_a_million_symbols_round_trip_within_the_size_bound(family):
    rng = np.random.default_rng(7)
    x, dist = _million(family, rng)
    coder = LaneRansCoder(device="cpu", lanes=1024, ops_per_lane=1024)
    data = encode_all(coder, [(x, dist)])
    (y,) = decode_all(coder, data, [dist])
    np.testing.assert_array_equal(y, x)
    lanes = int.from_bytes(data[:4], "little")
    info = information_bits(x, dist)
    assert np.isfinite(info)
    # the bound: information content x 1.005 plus 4 bytes a lane (and the 4-byte lane count)
    assert len(data) <= info / 8 * 1.005 + 4 * lanes + 4, (len(data), info / 8, lanes)
    # escapes: far outside the support, on its edges (and, continuous, in the window tails)
    x[rng.integers(0, N, 300)] = rng.integers(-(1 << 62), 1 << 62, 300)
    x[rng.integers(0, N, 300)] = -100 if family == "tables" else dist.lo
    x[rng.integers(0, N, 300)] = rng.integers(-1000, 1000, 300)
    (y,) = decode_all(coder, encode_all(coder, [(x, dist)]), [dist])
    np.testing.assert_array_equal(y, x)


# ----------------------------------------------------------------- exact components


def test_cdf_grids_are_monotone_symmetric_and_match_float_references():
    refs = {"gaussian": ndtr, "laplace": lambda z: np.where(z < 0, 0.5 * np.exp(z), 1 - 0.5 * np.exp(-z)),
            "logistic": expit}
    for name, fam in FAMILY_TABLES.items():
        g = fam.grid[:-1]
        assert np.all(np.diff(g) >= 0) and g[0] >= 0 and g[-1] <= CDF_ONE
        np.testing.assert_array_equal(g + g[::-1], CDF_ONE)
        z = -fam.zmax + np.arange(len(g)) / (1 << GRID_BITS)
        assert np.abs(g - refs[name](z) * CDF_ONE).max() <= 1.0, name


def test_scale_levels_are_increasing_and_two_percent_apart():
    t = level_thresholds()
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(t[1:] / t[:-1], 2 ** (1 / 32), rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(mags=st.lists(st.integers(0, (1 << 64) - 1), max_size=30))
def test_overflow_digits_match_the_core(mags):
    m = np.array(mags, dtype=np.uint64)
    counts, chunks = models.overflow_digits(torch.from_numpy(m.view(np.int64)))
    ref_counts, ref_chunks = overflow_digits(m)
    np.testing.assert_array_equal(counts.numpy(), ref_counts)
    np.testing.assert_array_equal(chunks.numpy(), ref_chunks)


def test_cdf_is_monotone_with_every_live_bin_codable():
    rng = np.random.default_rng(3)
    n = 5000
    for cls in (QuantizedGaussian, QuantizedLaplace, QuantizedLogistic):
        for lo, hi in [(-3, 3), (-200, 200), (-(1 << 50), 1 << 50)]:
            loc = np.concatenate([rng.normal(0, 50, n - 4), [np.nan, np.inf, -1e300, 1e300]])
            scale = np.exp(rng.uniform(np.log(1e-4), np.log(1e8), n))
            model = models.Continuous(cls.family, torch.from_numpy(loc), torch.from_numpy(scale), lo, hi)
            s = slice(None)
            prev = model.cdf(torch.zeros(n, dtype=torch.int64), s)
            assert torch.all(prev == 0)
            for j in range(1, models.MAX_BINS + 3):
                jj = torch.minimum(torch.full((n,), j), model.nb + 2)
                c = model.cdf(jj, s)
                assert torch.all(c >= prev)
                prev = c
            assert torch.all(prev == models.M)


def test_bytes_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(5)
    n = 50_000
    dist = QuantizedGaussian(rng.normal(0, 5, n), np.exp(rng.uniform(-3, 4, n)), -500, 500)
    x = np.round(rng.normal(dist.loc, dist.scale)).astype(np.int64)
    coder = LaneRansCoder(device="cpu", lanes=64, ops_per_lane=64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = encode_all(coder, [(x, dist)])
        torch.set_num_threads(max(2, before))
        many = encode_all(coder, [(x, dist)])
    finally:
        torch.set_num_threads(before)
    assert one == many


# --------------------------------------------------------------------------- devices


def test_cuda_without_cuda_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA device"):
        LaneRansCoder(device="cuda")
    assert LaneRansCoder(device="auto").device == torch.device("cpu")
    with pytest.raises(UserError, match="unknown device"):
        LaneRansCoder(device="gpu0")


def _cross_device_pairs():
    rng = np.random.default_rng(11)
    n = 200_000
    loc, scale = rng.normal(0, 10, n), np.exp(rng.uniform(-3, 5, n))
    x = np.round(rng.normal(loc, scale)).astype(np.int64)
    x[::997] = 1 << 40
    pm = rng.dirichlet(np.ones(30), 8)
    idx = rng.integers(0, 8, n)
    return [(x, QuantizedGaussian(loc, scale, -1000, 1000)), (x, QuantizedLogistic(loc, scale, -(1 << 40), 1 << 40)),
            ((pm.cumsum(1)[idx] > rng.random((n, 1))).argmax(1), IndexedTables(pm, [0] * 8, [30] * 8, idx))]


@needs_cuda
def test_gpu_and_cpu_write_the_same_bytes_and_read_each_other():
    pairs = _cross_device_pairs()
    dists = [d for _, d in pairs]
    cpu, gpu = LaneRansCoder(device="cpu", lanes=512), LaneRansCoder(device="cuda", lanes=512)
    on_cpu, on_gpu = encode_all(cpu, pairs), encode_all(gpu, pairs)
    assert on_cpu == on_gpu
    for coder, data in ((cpu, on_gpu), (gpu, on_cpu)):
        for (x, _), y in zip(pairs, decode_all(coder, data, dists), strict=True):
            np.testing.assert_array_equal(y, x)
