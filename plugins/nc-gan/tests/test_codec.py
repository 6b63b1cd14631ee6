"""The generative codec: one file for every realism level, realism 0 the base synthesis
exactly, bit-exact decoding with the noise seeded from the file, and the
rate-distortion-perception loss training only what it may."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nc_core.pipeline import PipelineError, build
from nc_gan.codec import GenerativeCodec, noise_seed
from nc_gan.losses import RateDistortionPerception

SPEC = {"use": "generative", "transform": {"use": "factorized", "channels": 8, "latent": 8},
        "entropy": {"use": "mean-scale-hyperprior", "hyper_channels": 8}, "quantizer": "mixed", "coder": "ans",
        "noise_channels": 2, "generator_widths": [8, 8, 8, 8]}


@pytest.fixture(scope="module", params=[False, True], ids=["z", "z+texture-noise"])
def codec(request) -> GenerativeCodec:
    torch.manual_seed(0)
    codec = build(SPEC | {"texture_noise": request.param}, "codec")
    with torch.no_grad():  # an untrained branch adds nothing: give it weights that do
        for p in codec.generator.parameters():
            p.normal_(0, 0.3)
    codec.update()
    return codec.eval()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)


def test_every_realism_decodes_the_same_file_bit_exactly(codec, image):
    data = codec.compress(image)
    decoded = {}
    for r in (0.0, 0.5, 1.0):
        view = codec.with_realism(r)
        assert view.compress(image) == data  # the file never depends on the realism
        payload, reconstruction = view.encode_with_reconstruction(image)
        decoded[r] = view.decompress(data)
        np.testing.assert_array_equal(decoded[r], reconstruction)
        np.testing.assert_array_equal(view.decompress(data), decoded[r])  # the noise is the file's
    assert not np.array_equal(decoded[0.0], decoded[1.0])
    assert not np.array_equal(decoded[0.5], decoded[1.0])


def test_realism_zero_is_the_base_synthesis_whatever_the_generator(codec, image):
    import copy

    from nc_core.imaging import fixed_threads, pad_to, to_image, to_tensor

    data = codec.compress(image)
    base = codec.with_realism(0.0).decompress(data)
    with torch.no_grad(), fixed_threads():
        y_hat, _ = codec.entropy.encode(codec.transform.analysis(pad_to(to_tensor(image), 16)), codec.quantizer, 0)
        expected = to_image(codec.transform.synthesis(y_hat.float())[..., :37, :53])
    np.testing.assert_array_equal(base, expected)
    other = copy.deepcopy(codec)
    with torch.no_grad():
        for p in other.generator.parameters():
            p.normal_(0, 1.0)
    np.testing.assert_array_equal(other.with_realism(0.0).decode(other.encode(image)), base)


def test_the_noise_is_seeded_from_the_stream():
    import hashlib

    digest = hashlib.sha256(b"stream").digest()
    assert noise_seed(b"stream") == int.from_bytes(digest[:8], "little") // 2
    assert noise_seed(b"stream") != noise_seed(b"stream2")
    assert all(0 <= noise_seed(bytes([i])) < 2**63 for i in range(256))


def test_texture_noise_adds_a_map_at_every_resolution():
    """Each upsampling block gets its own noise map (StyleGAN's noise inputs): changing any one
    map changes the residual, and zero strengths (the initial state) make the maps irrelevant."""
    torch.manual_seed(0)
    gen = build(SPEC | {"texture_noise": True}, "codec").generator
    y_hat, z, x_base, beta = torch.randn(1, 8, 2, 3), torch.randn(1, 2, 2, 3), torch.rand(1, 3, 32, 48), torch.ones(1)
    shapes = gen.texture_noise_shapes(y_hat.shape)
    assert shapes == [(1, 1, 4, 6), (1, 1, 8, 12), (1, 1, 16, 24), (1, 1, 32, 48)]
    maps = [torch.randn(s) for s in shapes]
    with torch.no_grad():
        for p in gen.parameters():
            p.normal_(0, 0.3)
        base = gen(y_hat, z, x_base, beta, maps)
        for i in range(len(maps)):
            other = [m if j != i else torch.randn(m.shape) for j, m in enumerate(maps)]
            assert not torch.equal(gen(y_hat, z, x_base, beta, other), base), f"map {i} is unused"
        for s in gen.strengths:
            s.zero_()
        assert torch.equal(gen(y_hat, z, x_base, beta, maps), gen(y_hat, z, x_base, beta, [m * 0 for m in maps]))


def test_detail_scale_leaves_the_residual_no_content_below_that_scale():
    """With ``detail_scale: s`` the branch's residual is its own high-pass: blurring it by the
    same Gaussian leaves (almost) nothing, so colour and shading stay the base synthesis's."""
    from nc_gan.generator import gaussian_blur

    torch.manual_seed(0)
    y_hat, z, x_base, beta = torch.randn(1, 8, 4, 4), torch.randn(1, 2, 4, 4), torch.rand(1, 3, 64, 64), torch.ones(1)
    residuals = {}
    for scale in (0.0, 4.0):
        torch.manual_seed(1)
        gen = build(SPEC | {"detail_scale": scale}, "codec").generator
        with torch.no_grad():
            for p in gen.parameters():
                p.normal_(0, 0.3)
            residuals[scale] = gen(y_hat, z, x_base, beta)
    full, detail = residuals[0.0], residuals[4.0]
    torch.testing.assert_close(detail, full - gaussian_blur(full, 4.0))  # the same weights, high-passed
    assert gaussian_blur(full, 8.0).abs().mean() > 10 * gaussian_blur(detail, 8.0).abs().mean()
    with pytest.raises(PipelineError, match=r"detail_scale must be in \[0, 64\]"):
        build(SPEC | {"detail_scale": -1.0}, "codec")


def test_realism_outside_the_unit_interval_is_refused(codec):
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"realism must be in \[0, 1\]"):
            codec.with_realism(bad)
    with pytest.raises(PipelineError, match="generator_widths needs 4 entries"):
        build({**SPEC, "generator_widths": [8, 8]}, "codec")


def _step(codec, loss, x):
    """One training step of ``loss``'s players and model, as the runner takes it."""
    params = loss.model_parameters(codec)
    opts = [(p, torch.optim.SGD(p.parameters, lr=0.1)) for p in loss.players(codec)]
    model_opt = torch.optim.SGD(params, lr=0.1)
    out, logs = codec(x), {}
    for player, opt in opts:
        value, player_logs = player.step(x, out, codec)
        logs |= player_logs
        opt.zero_grad()
        value.backward()
        opt.step()
    value, model_logs = loss(x, out, codec)
    model_opt.zero_grad()
    value.backward()
    model_opt.step()
    return logs | model_logs


@pytest.mark.parametrize("adversarial", ["non-saturating", "least-squares", "hinge"])
def test_stage_two_trains_the_generator_and_the_discriminator_only(adversarial):
    torch.manual_seed(0)
    codec = build(SPEC, "codec").train()
    loss = build({"use": "rate-distortion-perception", "distortion": "mse", "lmbda": 0.01,
                  "adversarial": adversarial, "discriminator_widths": [8, 8]}, "loss")
    assert {id(p) for p in loss.model_parameters(codec)} == {id(p) for p in codec.generator.parameters()}
    frozen = {k: v.clone() for k, v in codec.state_dict().items() if not k.startswith("generator.")}
    generator = {k: v.clone() for k, v in codec.generator.state_dict().items()}
    x = torch.rand(2, 3, 32, 32)
    _step(codec, loss, x)  # the zero-initialised output layer moves first
    disc = {k: v.clone() for k, v in loss.discriminator.state_dict().items()}
    logs = _step(codec, loss, x)
    assert {"d_loss", "g_adv", "mse", "bpp", "psnr"} <= set(logs)
    for k, v in codec.state_dict().items():
        if k in frozen:
            assert torch.equal(v, frozen[k]), f"{k} changed in stage 2"
    assert any(not torch.equal(v, generator[k]) for k, v in codec.generator.state_dict().items())
    assert any(not torch.equal(v, disc[k]) for k, v in loss.discriminator.state_dict().items())
    assert "discriminator.net.0.parametrizations.weight.original" in loss.state_dict()


def test_without_freeze_everything_trains_and_the_rate_counts():
    torch.manual_seed(0)
    codec = build(SPEC, "codec").train()
    loss = build({"use": "rate-distortion-perception", "distortion": "mse", "lmbda": 0.01, "freeze": False,
                  "discriminator_widths": [8, 8]}, "loss")
    assert len(loss.model_parameters(codec)) == len(list(codec.parameters()))
    before = codec.transform.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    _step(codec, loss, torch.rand(2, 3, 32, 32))
    assert any(not torch.equal(v, before[k]) for k, v in codec.transform.state_dict().items())


def test_the_discriminator_starts_from_the_same_weights_whatever_ran_before():
    codec = build(SPEC, "codec")
    spec = {"use": "rate-distortion-perception", "distortion": "mse", "lmbda": 0.01, "discriminator_widths": [8, 8]}
    first = build(spec, "loss")
    first.players(codec)
    torch.rand(100)  # another RNG state
    second = RateDistortionPerception(0.01, build("mse", "metric"), discriminator_widths=(8, 8))
    second.players(codec)
    for k, v in first.state_dict().items():
        assert torch.equal(v, second.state_dict()[k]), k


def test_the_loss_needs_a_generative_codec():
    codec = build({"use": "transform-coding", "transform": {"use": "factorized", "channels": 8, "latent": 8},
                   "quantizer": "mixed", "prior": "deep-factorized", "coder": "ans"}, "codec")
    loss = build({"use": "rate-distortion-perception", "distortion": "mse", "lmbda": 0.01}, "loss")
    with pytest.raises(ValueError, match="needs a generative codec, not 'transform-coding'"):
        loss.players(codec)
    with pytest.raises(PipelineError, match="not a training distortion"):
        build({"use": "rate-distortion-perception", "distortion": "bpp", "lmbda": 0.01}, "loss")


def test_feature_matching_adds_the_discriminator_feature_distance():
    """``loss(fm=w) - loss(fm=0) == w * mean_i b_i * mean_layers |D_l(x_hat_b_i) - D_l(x_i)|``,
    the activations read by hooks on the discriminator's hidden layers (no spectral norm: its power
    iteration would move the weights between forward passes)."""
    torch.manual_seed(0)
    codec = build(SPEC, "codec").train()
    x = torch.rand(2, 3, 32, 32)
    out = codec(x)
    values = {}
    for w in (0.0, 3.0):
        loss = build({"use": "rate-distortion-perception", "distortion": "mse", "lmbda": 0.01,
                      "discriminator_widths": [8, 8], "spectral_norm": False, "feature_matching": w}, "loss")
        loss.players(codec)
        torch.manual_seed(1)  # the same realism levels b
        values[w], logs = loss(x, dict(out), codec)
    torch.manual_seed(1)
    beta = torch.rand(2).sqrt()
    fake = codec.realistic({k: out[k].detach() for k in ("x_hat", "y_hat")}, beta)
    acts = []
    hooks = [m.register_forward_hook(lambda m, i, o: acts.append(o)) for m in loss.discriminator.net
             if isinstance(m, torch.nn.LeakyReLU)]
    with torch.no_grad():
        loss.discriminator(fake, out["y_hat"]), loss.discriminator(x, out["y_hat"])
    for h in hooks:
        h.remove()
    half = len(acts) // 2
    per_image = sum((f - r).abs().mean(dim=(1, 2, 3)) for f, r in zip(acts[:half], acts[half:])) / half
    expected = float((beta * per_image).mean())
    assert logs["feature_matching"] == pytest.approx(expected, rel=1e-5) and expected > 0
    assert float((values[3.0] - values[0.0]).detach()) == pytest.approx(3.0 * expected, rel=1e-4)
    with pytest.raises(PipelineError, match="feature_matching >= 0"):
        build({"use": "rate-distortion-perception", "distortion": "mse", "lmbda": 0.01, "feature_matching": -1},
              "loss")
