"""Where a bits-back chain's rate departs from the model's -ELBO, term by term.

For the first N test items of a trained bits-back run, one posterior sample per item:

* **coded**: the discrete terms the coder pays, from the exact coding distributions on the
  latent buckets: ``-log P(x | z1)``, per layer ``-log P(z_l | z_l+1) + log Q(z_l | .)``;
* **continuous**: the same terms of the float model's -ELBO with continuous samples.

Also prints the share of continuous latent samples beyond |3.5|, where the N(0, 1)
equal-mass buckets are widest. Sampled, so the totals differ from the chain's rate by noise.

    python benchmarks/bitsback_layers.py RUN_DIR [--items 100]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from nc_core.exact import to_fixed
from nc_core.imaging import as_items
from nc_core.models import PIPELINE_FILE, load_model
from nc_core.pipeline import build, load_pipeline


def coded_terms(codec, items, rng) -> tuple[float, list[float]]:
    """Mean ``-log2 P(x | z1)`` and per-layer ``-log2 P(z_l | .) + log2 Q(z_l | .)`` (bits)."""
    model, coder, buckets = codec.model, codec.items, codec.buckets
    layers = len(model.latents)
    recon, kl = 0.0, np.zeros(layers)
    for x in items:
        h, fixed, idxs = model.fixed_input(x), [], []
        for layer in range(layers):
            p = coder._posterior(layer, h).probs
            p = p / p.sum(axis=1, keepdims=True)
            idx = np.array([rng.choice(p.shape[1], p=row) for row in p])
            kl[layer] += np.log2(p[np.arange(len(idx)), idx]).sum()
            h = to_fixed(torch.from_numpy(np.ascontiguousarray(buckets.centre(idx))).reshape(1, -1))
            fixed.append(h)
            idxs.append(idx)
        recon -= np.log2(coder._conditional(0, fixed[0]).probabilities(x)).sum()
        for layer in range(1, layers):
            kl[layer - 1] -= np.log2(coder._conditional(layer, fixed[layer]).probabilities(idxs[layer - 1])).sum()
        kl[-1] += buckets.precision * model.latents[-1]
    return recon / len(items), list(kl / len(items))


@torch.no_grad()
def continuous_terms(model, items) -> tuple[float, list[float], list[float]]:
    """Mean terms of the float model's -ELBO (coding likelihood) and each layer's tail share."""
    recon, kls, zs = model.elbo_terms(torch.from_numpy(items), coding=True)
    tails = [float((z.abs() > 3.5).float().mean()) for z in zs]
    return float(recon.mean()), [float(kl.mean()) for kl in kls], tails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()
    config = load_pipeline(args.run_dir / PIPELINE_FILE).config
    codec = load_model(args.run_dir)
    items = as_items(list(build(config["data"]["test"], "dataset").images()))[: args.items]
    items = items.reshape(len(items), -1).astype(np.int64)
    torch.manual_seed(0)
    recon, kl = coded_terms(codec, items, np.random.default_rng(0))
    c_recon, c_kl, tails = continuous_terms(codec.model, items)
    print(f"{len(items)} items, bits per item | -log p(x|z1) | KL per layer (bottom first)")
    print(f"coded      | {recon:9.2f} | {', '.join(f'{v:.2f}' for v in kl)} | total {recon + sum(kl):.2f}")
    print(f"continuous | {c_recon:9.2f} | {', '.join(f'{v:.2f}' for v in c_kl)} | total {c_recon + sum(c_kl):.2f}")
    print("share of latent samples beyond |3.5| per layer:", ", ".join(f"{t:.4f}" for t in tails))


if __name__ == "__main__":
    main()
