"""The P-frame coder: an untrained one predicts the reference, training passes give every
likelihood, and a chain of coded frames decodes to the encoder's reconstructions exactly."""

from __future__ import annotations

import pytest
import torch
from nc_video.pframe import PFrameCoder

from nc_core.coders import encode_all
from nc_core.pipeline import build


def _coder(scale_mediated=False, motion_search=0, motion_vectors=0) -> PFrameCoder:
    torch.manual_seed(0)
    entropy = {"use": "mean-scale-hyperprior", "hyper_channels": 8}
    return PFrameCoder(build(entropy, "probability-model"), build(entropy, "probability-model"),
                       build("mixed", "quantizer"), channels=8, latent=8, scale_mediated=scale_mediated,
                       motion_search=motion_search, motion_vectors=motion_vectors)


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    base = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    return torch.stack([torch.roll(base, 2 * k, dims=-1) for k in range(4)])  # 4 x 1 x 3 x 64 x 96


def test_an_untrained_coder_predicts_the_reference(clip):
    coder = _coder()
    out = coder(clip[1], clip[0])
    assert torch.allclose(out["x_bar"], clip[0], atol=1e-5) and out["x_hat"].shape == clip[1].shape
    assert torch.equal(out["flow"], torch.zeros_like(out["flow"])) and "found" not in out
    assert set(out["likelihoods"]) == {"motion-y", "motion-z", "residual-y", "residual-z"}
    assert all(((v > 0) & (v <= 1)).all() for v in out["likelihoods"].values())


def test_the_motion_layers_keep_their_signal(clip):
    """He initialisation: the flow decoder's last hidden layer sees activations of order one
    (PyTorch's default init left them ~0.01, and the motion branch never learned)."""
    coder = _coder()
    h = coder.motion_analysis(torch.cat([clip[1], clip[0]], dim=1))
    for layer in list(coder.motion_synthesis)[:-1]:
        h = layer(h)
    assert h.pow(2).mean().sqrt() > 0.1


@pytest.mark.parametrize("scale_mediated,search,vectors", [(False, 0, 0), (True, 0, 0), (False, 3, 0), (True, 3, 4)])
def test_a_chain_of_frames_decodes_exactly(clip, scale_mediated, search, vectors):
    coder = _coder(scale_mediated, search, vectors)
    with torch.no_grad():  # weights that move, blur and scale
        for p in coder.motion_synthesis[-1].parameters():
            p.normal_(0, 0.05)
    coder.update()
    coder.eval()
    sym = build("ans", "coder")
    ref, streams, recs = clip[0], [], []
    for t in (1, 2, 3):
        pairs, x_hat = coder.encode(clip[t], ref, seed=t)
        streams.append(encode_all(sym, pairs))
        ref = x_hat.clamp(0, 1).mul(255).round().div(255)  # the decoder's frame buffer holds pixels
        recs.append(ref)
    ref = clip[0]
    for t, (stream, rec) in enumerate(zip(streams, recs), start=1):
        decoder = sym.decoder(stream)
        out = coder.decode(decoder, ref, seed=t)
        decoder.finish()
        ref = out.clamp(0, 1).mul(255).round().div(255)
        assert torch.equal(ref, rec), f"frame {t} drifted"
    assert all(len(s) > 0 for s in streams)


def test_motion_search_finds_a_known_shift_and_feeds_the_encoder(clip):
    """Block matching recovers the clip's 2-px roll (interior blocks), the search flow reaches
    the forward pass, and the decoder never needs it (the chain test above decodes with it on)."""
    from nc_video.search import block_flow
    from nc_video.warp import warp

    found = block_flow(clip[1], clip[0], radius=3)
    assert found.shape == (1, 2, 64, 96)
    inner = found[..., 8:-8, 8:-8]
    assert torch.all(inner[:, 0] == -2) and torch.all(inner[:, 1] == 0)  # x(p) = ref(p - 2 px)
    moved = warp(clip[0], torch.cat([found, torch.zeros_like(found[:, :1])], dim=1))
    assert torch.allclose(moved[..., 8:-8, 8:-8], clip[1][..., 8:-8, 8:-8], atol=1e-5)
    out = _coder(motion_search=3)(clip[1], clip[0])
    assert torch.equal(out["found"], found)
    with pytest.raises(ValueError, match="multiples of 8"):
        block_flow(clip[1][..., :60], clip[0][..., :60], radius=3)


def test_motion_vectors_predict_with_the_searched_motion_from_the_start(clip):
    """motion_vectors: an untrained coder's decoded flow is the search's, block-averaged and
    quantized to 1/K px, so it predicts the 2-px roll; without vectors it predicts the reference."""
    out = _coder(motion_search=3, motion_vectors=4)(clip[1], clip[0])
    flow = out["flow"][..., 16:-16, 16:-16]
    assert torch.allclose(flow[:, 0], torch.full_like(flow[:, 0], -2.0), atol=0.13)  # means move symbols by < 1/2 step
    assert torch.all(flow[:, 1].abs() <= 0.13) and torch.all(out["flow"][:, 2] == 0)
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    err_vectors = (out["x_bar"] - clip[1])[inner].abs().mean()
    err_plain = (_coder(motion_search=3)(clip[1], clip[0])["x_bar"] - clip[1])[inner].abs().mean()
    assert err_vectors < 0.2 * err_plain
    with pytest.raises(ValueError, match="motion_vectors needs motion_search"):
        _coder(motion_vectors=4)


def test_a_penalised_search_keeps_the_global_motion_unless_a_block_clearly_moves_otherwise():
    """motion_penalty: where a block is flat and noisy the unconstrained search fits the noise
    (vectors that cost bits for nothing), the penalised one keeps the frame's global motion;
    a block that really moves otherwise keeps its own vector."""
    from nc_video.search import block_flow

    g = torch.Generator().manual_seed(3)
    base = torch.rand(1, 3, 64, 96, generator=g)
    ref, x = base.clone(), torch.roll(base, 2, dims=-1)  # global motion: 2 px to the right
    x[..., 40:56, 48:80] = torch.roll(base, 5, dims=-1)[..., 40:56, 48:80]  # an object moving 5 px
    for frame in (ref, x):  # a flat, noisy region
        frame[..., :32, :32] = 0.5 + 0.01 * torch.randn(1, 3, 32, 32, generator=g)
    free, constrained = block_flow(x, ref, 6), block_flow(x, ref, 6, penalty=0.002)
    flat = (slice(None), slice(None), slice(0, 32), slice(8, 32))
    assert (free[flat][:, 0] != -2).any()  # noise-fitting vectors
    assert torch.all(constrained[flat][:, 0] == -2) and torch.all(constrained[flat][:, 1] == 0)
    assert torch.all(constrained[..., 40:56, 56:80][:, 0] == -5)  # the object keeps its motion
    with pytest.raises(ValueError, match="penalty must be >= 0"):
        block_flow(x, ref, 4, penalty=-1)
    with pytest.raises(ValueError, match="motion_penalty must be >= 0 and needs motion_search"):
        _coder(motion_search=0).__class__(*[build({"use": "mean-scale-hyperprior", "hyper_channels": 8},
                                                  "probability-model") for _ in range(2)],
                                          build("mixed", "quantizer"), motion_penalty=0.002)
