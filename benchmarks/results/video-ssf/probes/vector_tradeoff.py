"""Does explicit block motion pay for its vectors in the latent P-frames? On bikes' frames 1 and 41
(reference: the previous frame coded by zoo:mean-scale-mse at rung 1, a real file): the latents'
bits relative to intra (per-channel Gaussian fitted to y - a c, as prediction_bound.py) with the
prediction copied by the rate-constrained integer block search (``nc_video.search.block_flow``,
±8 px) at 8 and 16 px blocks and three penalties, beside the ideal i.i.d. entropy of its vectors
(joint over the two components): what a P-frame would pay for them coded without context.
    python benchmarks/results/video-ssf/probes/vector_tradeoff.py"""

import torch
from nc_video.search import block_flow
from prediction_bound import bits, entropy, moved, padded_frames, tensor  # this folder's probe

from nc_core import models

torch.set_num_threads(1)
base = models.load_model(models.model_dir("zoo:mean-scale-mse"))
intra = base.with_quality(1)

for start in (0, 40):
    fr = padded_frames(2, start)
    with torch.no_grad():
        ref = tensor(base.decompress(base.with_quality(1).compress(fr[0])))
        x = tensor(fr[1])
        y = intra.latents(x)
        ib = bits(y, None)
        ibytes = len(base.with_quality(1).compress(fr[1]))
        out = [f"frame {start + 1} intra {ibytes} B unmoved {bits(y, intra.latents(ref)) / ib:.3f}"]
        for blk in (8, 16):
            for pen in (0.005, 0.01, 0.02):
                f = block_flow(x, ref, 8, block=blk, penalty=pen)
                v = f[0, :, ::blk, ::blk].flatten(1).T.numpy()
                out.append(
                    f"{blk}px λ{pen}: {bits(y, intra.latents(moved(ref, f))) / ib:.3f} joint-iid {entropy(v) * len(v) / 8:.0f} B"
                )
        print(" | ".join(out), flush=True)
