"""The P-frame coder: an untrained one predicts the reference, training passes give every
likelihood, and a chain of coded frames decodes to the encoder's reconstructions exactly."""

from __future__ import annotations

import pytest
import torch
from nc_video.pframe import PFrameCoder

from nc_core.coders import encode_all
from nc_core.pipeline import build


def _coder(scale_mediated=False) -> PFrameCoder:
    torch.manual_seed(0)
    entropy = {"use": "mean-scale-hyperprior", "hyper_channels": 8}
    return PFrameCoder(build(entropy, "probability-model"), build(entropy, "probability-model"),
                       build("mixed", "quantizer"), channels=8, latent=8, scale_mediated=scale_mediated)


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    base = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    return torch.stack([torch.roll(base, 2 * k, dims=-1) for k in range(4)])  # 4 x 1 x 3 x 64 x 96


def test_an_untrained_coder_predicts_the_reference(clip):
    coder = _coder()
    x_hat, likelihoods, pred = coder(clip[1], clip[0])
    assert torch.allclose(pred, clip[0], atol=1e-5) and x_hat.shape == clip[1].shape
    assert set(likelihoods) == {"motion-y", "motion-z", "residual-y", "residual-z"}
    assert all(((v > 0) & (v <= 1)).all() for v in likelihoods.values())


@pytest.mark.parametrize("scale_mediated", [False, True])
def test_a_chain_of_frames_decodes_exactly(clip, scale_mediated):
    coder = _coder(scale_mediated)
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
