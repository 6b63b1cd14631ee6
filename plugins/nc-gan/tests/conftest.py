"""Shared by the nc-gan tests: the tiny two-stage pipeline (stage 1 rate-distortion, stage 2
against a discriminator), as text."""

import pytest

PIPELINE = """\
name: gan
seed: 0
device: cpu
data:
  train: {use: samples, split: train, patch: 32, batch: 2}
  test: {use: samples, split: test}
codec:
  use: generative
  transform: {use: factorized, channels: 8, latent: 8}
  entropy: {use: mean-scale-hyperprior, hyper_channels: 8}
  quantizer: mixed
  coder: ans
  noise_channels: 2
  generator_widths: [8, 8, 8, 8]
train:
  loss: {use: rate-distortion, distortion: mse, lmbda: 0.01}
  steps: 4
  checkpoint_every: 1
  optimizer: {lr: 0.01}
  then:
    - name: gan
      loss: {use: rate-distortion-perception, distortion: mse, lmbda: 0.01, discriminator_widths: [8, 8]}
      steps: 4
      optimizer: {lr: 0.01}
evaluate:
  metrics: [bpp, psnr, swd]
  max_images: 1
  variants: [{codec.realism: 0.0}]
"""


@pytest.fixture(scope="session")
def gan_pipeline() -> str:
    return PIPELINE
