"""Lossless plumbing of the core: the npz dataset, lossless baselines, the NLL loss and the
one-file set evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nc_core.coders import decode_all, encode_all
from nc_core.coding import closed_categorical
from nc_core.components.baselines import BZ2, LZMA, PNG, GZip, WebPLossless
from nc_core.components.datasets import ArrayFile
from nc_core.components.losses import NegativeLogLikelihood
from nc_core.contracts import LosslessCodec, Payload
from nc_core.imaging import as_items
from nc_core.runner.evaluate import ReconstructionMismatch, evaluate_lossless, evaluate_lossless_baseline
from nc_core.testing import require

nc_ans = require("nc_ans")

LOSSLESS = [PNG, WebPLossless, GZip, BZ2, LZMA]


@pytest.fixture
def npz(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (30, 6, 5), dtype=np.uint8)
    path = tmp_path / "digits.npz"
    np.savez(path, data=data)
    return path, data


def test_npz_dataset_slices_binarizes_and_batches(npz):
    path, data = npz
    ds = ArrayFile(str(path), start=10, stop=20, binarize=128, batch=4)
    names, items = zip(*ds.images())
    assert names[0] == "00010" and len(items) == 10 and items[0].shape == (6, 5, 1)
    np.testing.assert_array_equal(np.stack(items)[..., 0], (data[10:20] >= 128).astype(np.uint8))
    assert ds.levels == 1
    batch = next(ds.batches(0))
    assert batch.shape == (4, 1, 6, 5) and set(batch.unique().tolist()) <= {0.0, 1.0}
    full = ArrayFile(str(path))
    assert full.levels == 255 and float(next(full.batches(0)).max()) <= 1.0


def test_npz_dataset_errors(npz, tmp_path):
    path, _ = npz
    with pytest.raises(ValueError, match="does not exist"):
        ArrayFile(str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="no array 'x'"):
        list(ArrayFile(str(path), key="x").images())
    with pytest.raises(ValueError, match="beyond the 30 items"):
        list(ArrayFile(str(path), stop=31).images())
    with pytest.raises(ValueError, match="threshold"):
        ArrayFile(str(path), binarize=0)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9), c=st.sampled_from([1, 3]),
       binary=st.booleans(), seed=st.integers(0, 99))
def test_lossless_baselines_round_trip_any_items(n, h, w, c, binary, seed):
    rng = np.random.default_rng(seed)
    items = rng.integers(0, 2 if binary else 256, (n, h, w, c), dtype=np.uint8)
    for cls in LOSSLESS:
        row = evaluate_lossless_baseline(cls(cls.qualities[0]), items)  # raises unless exact
        assert row["bits_per_dim"] > 0 and row["files"] == (1 if cls in (GZip, BZ2, LZMA) else n)


def test_lossless_baselines_refuse_single_images_and_bad_levels():
    with pytest.raises(TypeError, match="sets"):
        GZip(9).compress(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="level"):
        LZMA(0)
    with pytest.raises(ValueError, match="N x H x W x C"):
        PNG(9).compress_set(np.zeros((4, 4), np.uint8))


def test_negative_log_likelihood_is_bits_per_dim():
    x = torch.zeros(2, 1, 4, 4)
    loss, logs = NegativeLogLikelihood()(x, {"bits": torch.tensor([16.0, 48.0])}, None)
    assert float(loss) == pytest.approx(2.0) and logs["bits/dim"] == pytest.approx(2.0)


class UniformCodec(LosslessCodec):
    """Every value uniform over 0..levels: code length exactly known."""

    name = "uniform-test"

    def __init__(self, shape=(1, 3, 3), levels=255, broken=False):
        super().__init__()
        self.shape, self.levels, self.broken = tuple(shape), levels, broken
        self.coder = nc_ans.AnsCoder()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def _dist(self, n):
        return closed_categorical(np.ones(self.levels + 1), 0, shape=(n, *self.shape))

    def model_bits(self, items):
        return np.full(len(items), np.prod(self.shape) * np.log2(self.levels + 1))

    def encode_set(self, items, trace=None):
        if trace is not None:
            trace += [0] + [int(np.ceil((i + 1) * self.model_bits(items[:1])[0])) for i in range(len(items))]
        return Payload([encode_all(self.coder, [(items, self._dist(len(items)))])], [len(items)])

    def decode_set(self, payload):
        out = decode_all(self.coder, payload.streams[0], [self._dist(payload.header[0])])[0]
        return out + 1 if self.broken else out


def test_evaluate_lossless_counts_every_byte_and_checks_values():
    items = np.random.default_rng(1).integers(0, 256, (120, 3, 3, 1), dtype=np.uint8)
    row = evaluate_lossless(UniformCodec(), items)
    assert row["items"] == 120 and row["dims"] == 9
    assert row["bits_per_dim"] == pytest.approx(row["bytes"] * 8 / (120 * 9))
    assert row["model_bits_per_dim"] == pytest.approx(8.0)
    assert 1.0 < row["rate_over_model"] < 1.05  # stream + container header
    assert set(row["cumulative_bits_per_dim"]) == {"1", "10", "100"}
    with pytest.raises(ReconstructionMismatch):
        evaluate_lossless(UniformCodec(broken=True), items)


def test_as_items_needs_one_shape():
    with pytest.raises(ValueError, match="one shape"):
        as_items([("a", np.zeros((2, 2, 1), np.uint8)), ("b", np.zeros((3, 2, 1), np.uint8))])


def test_image_folder_crop_yields_centre_crops(tmp_path):
    from PIL import Image

    from nc_core.components.datasets import ImageFolder

    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8), rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    items = dict(ImageFolder(str(tmp_path), patch=16, crop=20).images())
    np.testing.assert_array_equal(items["a"], a[10:30, 5:25])
    np.testing.assert_array_equal(items["b"], b[5:25, 10:30])
    with pytest.raises(ValueError, match="smaller than crop=31"):
        list(ImageFolder(str(tmp_path), patch=16, crop=31).images())
