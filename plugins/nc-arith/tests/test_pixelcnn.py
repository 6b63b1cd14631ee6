"""PixelCNN lossless coding: exact round trips in raster order with the range coder and in
reverse with ANS, the same integer network output from the whole image and from windows,
coded sizes at the model's information content, and clean failures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nc_ans import AnsCoder
from nc_arith import RangeCoder
from nc_arith.pixelcnn import PixelCNNCodec
from nc_core.coding import information_bits
from nc_core.container import ContainerError

CODERS = {"range": RangeCoder, "ans": AnsCoder}


def make_codec(coder="range", shape=(1, 5, 4), levels=255, seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"hidden": 8, "layers": 2, "mixtures": 3} | kw
    return PixelCNNCodec(CODERS[coder](), list(shape), levels, **kw).eval()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coder=st.sampled_from(sorted(CODERS)), c=st.sampled_from([1, 3]), h=st.integers(1, 6), w=st.integers(1, 6),
       levels=st.sampled_from([1, 255]), n=st.integers(0, 4), layers=st.integers(0, 2), seed=st.integers(0, 9))
def test_any_set_round_trips_exactly(coder, c, h, w, levels, n, layers, seed):
    codec = make_codec(coder, (c, h, w), levels, seed, layers=layers)
    items = np.random.default_rng(seed).integers(0, levels + 1, (n, c, h, w))
    np.testing.assert_array_equal(codec.decompress_set(codec.compress_set(items)), items)


def test_window_and_whole_image_give_the_same_integers():
    codec = make_codec(shape=(3, 7, 6), layers=2)
    items = np.random.default_rng(1).integers(0, 256, (3, 3, 7, 6))
    whole = codec.model.exact(codec._padded(items))
    r, size = codec.model.radius, 2 * codec.model.radius + 1
    padded = codec._padded(items)
    for i in range(7):
        for j in range(6):
            window = padded.clone()
            window[:, :, r + i, r + j + 1:] = 0  # nothing after (i, j) is known yet
            window[:, :, r + i + 1:] = 0
            out = codec.model.exact(window[:, :, i : i + size, j : j + size])
            np.testing.assert_array_equal(out[:, :, 0, 0], whole[:, :, i, j])


def _ideal_bits(codec, items) -> float:
    """-sum log2 P of ``items`` under the codec's exact coding distributions."""
    x = codec._check_items(items)
    out = codec.model.exact(codec._padded(x))
    return sum(information_bits(s, d) for s, d in codec._groups(x, out))


def test_coded_size_is_the_information_content():
    codec = make_codec(shape=(1, 6, 6), levels=1)
    items = np.random.default_rng(2).integers(0, 2, (50, 1, 6, 6))
    ideal = _ideal_bits(codec, items)
    payload = codec.encode_set(items)
    stream_bits = len(payload.streams[0]) * 8
    assert ideal < stream_bits < ideal * 1.01 + 96  # + the check word and the last partial word


def test_model_bits_match_the_coded_information_for_a_trained_like_model():
    """The float NLL and the exact coding tables agree (fixed point perturbs little)."""
    codec = make_codec(shape=(1, 6, 6), levels=1)
    items = np.random.default_rng(3).integers(0, 2, (40, 1, 6, 6))
    ideal = _ideal_bits(codec, items)
    assert abs(codec.model_bits(items).sum() - ideal) < 0.01 * ideal


def test_bad_input_and_damaged_files():
    codec = make_codec()
    with pytest.raises(ValueError, match="item shape"):
        codec.compress_set(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="0..255"):
        codec.compress_set(np.full((1, 1, 5, 4), 256))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        make_codec(shape=(2, 5, 4))
    items = np.random.default_rng(4).integers(0, 256, (6, 1, 5, 4))
    data = codec.compress_set(items)
    for bad in (data[: len(data) // 2], data[:20] + bytes([data[20] ^ 1]) + data[21:]):
        with pytest.raises(ContainerError):
            codec.decompress_set(bad)
    with pytest.raises(ContainerError):
        make_codec(seed=1).decompress_set(data)  # other weights
