"""nc-hyperprior: exact entropy parameters, round trips with both coders, batch/thread
determinism, refinement, failure paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nc_core.coders import encode_all
from nc_core.container import ContainerError
from nc_core.exact import ACT_BITS, ExactNet, HalfTanh, MaskedConv2d, from_fixed, to_fixed
from nc_core.pipeline import build
from nc_hyperprior.testing import MODELS, make_codec


def _image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    # smooth content plus noise: latents of every size, not only zeros
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 100 * np.sin(xx[..., None] / 7.0 + np.arange(3)) * np.cos(yy[..., None] / 5.0)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ exact nets


def _net():
    torch.manual_seed(1)
    return ExactNet(nn.ConvTranspose2d(6, 8, 5, 2, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU(),
                    nn.Conv2d(8, 4, 3, 1, 1), HalfTanh())


def test_exact_net_is_independent_of_batch_and_threads():
    net = _net()
    x = to_fixed(torch.randn(5, 6, 7, 9) * 3)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        batched = net.exact(x)
        torch.set_num_threads(1)
        alone = torch.cat([net.exact(x[i:i + 1]) for i in range(5)])
    finally:
        torch.set_num_threads(saved)
    assert torch.equal(batched, alone)
    assert torch.equal(batched, torch.round(batched))  # integers on the grid
    # and it approximates the float network it was quantized from
    assert torch.allclose(from_fixed(batched).float(), net(from_fixed(x).float()), atol=0.02)


def test_exact_program_follows_the_weights():
    net = _net()
    x = to_fixed(torch.randn(1, 6, 4, 4))
    before = net.exact(x)
    with torch.no_grad():
        net.net[0].weight.mul_(2)
    assert not torch.equal(before, net.exact(x))


def test_masked_context_sees_only_earlier_positions():
    conv = MaskedConv2d(2, 3, 5, padding=2)
    x = torch.randn(1, 2, 6, 6)
    out = conv(x)
    x2 = x.clone()
    x2[0, :, 3, 3:] += 5  # the centre and everything after it in raster order
    x2[0, :, 4:] += 5
    assert torch.equal(conv(x2)[0, :, 3, 3], out[0, :, 3, 3])


def test_unsupported_layer_is_refused():
    with pytest.raises(TypeError, match="Sigmoid"):
        ExactNet(nn.Conv2d(1, 1, 1), nn.Sigmoid()).exact(torch.zeros(1, 1, 1, 1))


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("coder", ["ans", "range"])
def test_round_trip_every_model_both_coders(model_name, coder):
    codec = make_codec(model_name, coder)
    image = _image(45, 70)
    data = codec.compress(image)
    expected = codec.reconstruct(image)
    assert np.array_equal(codec.decompress(data), expected)
    payload = codec.encode(image)
    assert payload.ideal_bits is not None and np.isfinite(payload.ideal_bits)
    coded_bits = 8 * sum(len(s) for s in payload.streams)
    assert coded_bits <= payload.ideal_bits * 1.01 + 64 + 32


@settings(max_examples=12, deadline=None)
@given(h=st.integers(1, 60), w=st.integers(1, 60), model=st.sampled_from(MODELS), seed=st.integers(0, 2**16))
def test_any_image_size_round_trips(h, w, model, seed):
    codec = _cached(model)
    image = _image(h, w, seed)
    decoded = codec.decompress(codec.compress(image))
    assert decoded.shape == image.shape
    assert np.array_equal(decoded, codec.reconstruct(image))


_CACHE: dict = {}


def _cached(model):
    if model not in _CACHE:
        _CACHE[model] = make_codec(model)
    return _CACHE[model]


def test_symbols_far_outside_the_tables_use_the_escape():
    codec = make_codec("mean-scale-hyperprior", gain=4000.0)
    image = _image(32, 32)
    assert np.array_equal(codec.decompress(codec.compress(image)), codec.reconstruct(image))


def _decode_alone_one_thread(codec, payloads):
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [codec.decode(p) for p in payloads]
    finally:
        torch.set_num_threads(saved)


def _check_batch_determinism(codec, images):
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        payloads, recs = codec.encode_batch(images)
    finally:
        torch.set_num_threads(saved)
    for decoded, rec in zip(_decode_alone_one_thread(codec, payloads[::-1]), recs[::-1]):
        assert np.array_equal(decoded, rec)


def test_batch_encode_two_threads_decodes_alone_one_thread(model_name):
    codec = make_codec(model_name)
    _check_batch_determinism(codec, [_image(40, 56, seed) for seed in range(3)])


@pytest.mark.data
@pytest.mark.parametrize("model", ["mean-scale-hyperprior", "channel-autoregressive"])
def test_batch_determinism_on_all_kodak_images(model, kodak):
    """The 24 Kodak images, batched by orientation with 2 threads, each decoded alone with 1."""
    from PIL import Image

    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(kodak.glob("*.png"))]
    assert len(images) == 24
    codec = make_codec(model, channels=32, latent=48)
    for shape in {im.shape for im in images}:
        _check_batch_determinism(codec, [im for im in images if im.shape == shape])


# ------------------------------------------------------------------------------ refinement


def test_refined_files_decode_with_the_plain_model_and_lower_the_loss():
    codec = make_codec("mean-scale-hyperprior", gain=4.0)
    # an untrained codec: lmbda and size large enough that the gain is not a rounding error
    loss = build({"use": "rate-distortion", "lmbda": 0.05, "distortion": "mse"}, "loss")
    image = _image(64, 64)
    refined = codec.refined(loss, steps=100, lr=0.02)
    payload, rec = refined.encode_with_reconstruction(image)
    data = refined.compress(image)
    assert np.array_equal(codec.decompress(data), rec)  # the plain codec decodes it

    def cost(nbytes, rec):
        mse = np.mean((rec.astype(float) - image.astype(float)) ** 2) / 255**2
        return loss.lmbda * loss.scale * mse + nbytes * 8 / image.shape[0] / image.shape[1]

    plain = codec.compress(image)
    assert cost(len(data), rec) < cost(len(plain), codec.reconstruct(image))


def test_refinement_needs_positive_steps():
    loss = build({"use": "rate-distortion", "lmbda": 0.01, "distortion": "mse"}, "loss")
    with pytest.raises(ValueError, match="steps"):
        make_codec("scale-hyperprior").refined(loss, steps=0, lr=0.1)


# ------------------------------------------------------------------------------ failures


def test_a_factorized_prior_is_refused_with_a_pointer():
    from nc_core.layers import DeepFactorized
    from nc_hyperprior.codec import HyperpriorCodec

    with pytest.raises(ValueError, match="transform-coding"):
        HyperpriorCodec(build({"use": "factorized", "channels": 8, "latent": 8}, "transform"), DeepFactorized(),
                        build("mixed", "quantizer"), build("ans", "coder"))


def test_corrupt_truncated_and_foreign_files_raise_container_errors(model_name):
    codec = make_codec(model_name)
    other = make_codec(model_name, seed=1)
    data = codec.compress(_image(40, 40))
    rng = np.random.default_rng(0)
    for n in range(40):
        bad = bytearray(data)
        if n % 2:
            bad = bad[: rng.integers(0, len(bad))]
        else:
            for _ in range(rng.integers(1, 4)):
                bad[rng.integers(0, len(bad))] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ContainerError):
            codec.decompress(bytes(bad))
    with pytest.raises(ContainerError, match="weights|model"):
        other.decompress(data)


def test_act_bits_grid():
    assert float(to_fixed(torch.tensor([0.5]))) == 0.5 * (1 << ACT_BITS)


# ------------------------------------------------------------------------------ large inputs

_LARGE = """
import numpy as np
from nc_hyperprior.testing import make_codec
codec = make_codec("channel-autoregressive", channels=64, latent=96)
h, w = 2160, 3840
yy, xx = np.mgrid[0:h, 0:w]
image = np.stack([(xx // 7 + yy // 5) % 256, (xx * yy // 97) % 256, (xx + 3 * yy) % 256], -1).astype(np.uint8)
data = codec.compress(image)
decoded = codec.decompress(data)
assert decoded.shape == image.shape
print(len(data))
"""


def test_4k_image_round_trips_under_6_gib():
    """3840x2160 through compress and decompress at the recipes' widths, in a child process
    whose peak resident memory is measured."""
    import resource
    import subprocess
    import sys

    script = _LARGE
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    assert before / 2**20 < 6  # earlier children did not mask the measurement
    assert peak_gib < 6.0, f"peak RSS {peak_gib:.2f} GiB"


@pytest.mark.parametrize("model", ["mean-scale-hyperprior", "channel-autoregressive"])
def test_exact_synthesis_round_trips_close_to_the_float_synthesis(model):
    codec = make_codec(model)
    image = _image(45, 70)
    float_pixels = codec.reconstruct(image)
    codec.exact_synthesis = True
    data = codec.compress(image)
    pixels = codec.decompress(data)
    assert np.array_equal(pixels, codec.reconstruct(image))
    assert np.abs(pixels.astype(int) - float_pixels.astype(int)).max() <= 1


def _conditional_model(m=6, k=3):
    """A mean-scale model bound for a context, its context network given random weights (it
    starts at zero, i.e. with no effect)."""
    torch.manual_seed(0)
    model = build({"use": "mean-scale-hyperprior", "hyper_channels": 8}, "probability-model").bind(m, context=k)
    nn.init.normal_(model.context_fusion.net[-1].weight, std=0.3)
    model.update()
    return model.eval()


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 2**16), spread=st.floats(0.1, 20))
def test_a_context_conditions_y_and_decodes_exactly(h, w, seed, spread):
    model, quantizer = _conditional_model(), build("mixed", "quantizer")
    g = torch.Generator().manual_seed(seed)
    y = spread * torch.randn(1, 6, h, w, generator=g)
    context = spread * torch.randn(1, 3, h, w, generator=g)
    coder = build("ans", "coder")
    y_hat, groups = model.encode(y, quantizer, seed, context=context)
    decoder = coder.decoder(encode_all(coder, groups[0]))
    assert torch.equal(model.decode(decoder, (1, 6, h, w), quantizer, seed, context=context), y_hat)
    decoder.finish()


def test_the_context_decides_the_distribution():
    model, quantizer = _conditional_model(), build("mixed", "quantizer")
    y, context = 3 * torch.randn(1, 6, 8, 8), 3 * torch.randn(1, 3, 8, 8)
    (symbols, tables), = model.encode(y, quantizer, 0, context=context)[1][0][1:]
    (other_symbols, other_tables), = model.encode(y, quantizer, 0, context=-context)[1][0][1:]
    assert not np.array_equal(tables.index, other_tables.index)  # other scales
    assert not np.array_equal(symbols, other_symbols)  # other means


def test_a_context_is_checked_and_refused_where_unsupported():
    model = _conditional_model()
    y, quantizer = torch.zeros(1, 6, 4, 4), build("mixed", "quantizer")
    with pytest.raises(ValueError, match="bound for 3 context channels, and was given none"):
        model(y, quantizer)
    with pytest.raises(ValueError, match=r"context must be 1 x 3 x 4 x 4, got \(1, 2, 4, 4\)"):
        model(y, quantizer, context=torch.zeros(1, 2, 4, 4))
    plain = build({"use": "mean-scale-hyperprior", "hyper_channels": 8}, "probability-model").bind(6)
    with pytest.raises(ValueError, match="bound for 0 context channels, and was given a context"):
        plain(y, quantizer, context=torch.zeros(1, 3, 4, 4))
    for name in ("scale-hyperprior", "joint-autoregressive", "channel-autoregressive"):
        with pytest.raises(TypeError, match=f"entropy model '{name}' takes no context"):
            build({"use": name, "hyper_channels": 8}, "probability-model").bind(6, context=3)
