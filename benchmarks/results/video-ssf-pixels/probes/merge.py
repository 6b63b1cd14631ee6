"""Intra weights from one trained point, P-frame weights from another (lambda_P = k lambda_I probe)."""
import sys

import torch

from nc_core.models import load_weights

intra_run, pframe_run, out = sys.argv[1:4]
a, b = load_weights(f"{intra_run}/model.pt"), load_weights(f"{pframe_run}/model.pt")
assert a.keys() == b.keys()
merged = {k: (a[k] if k.startswith("intra.") else b[k]) for k in a}
assert any(k.startswith("pframe.") for k in merged)
torch.save(merged, out)
print(out, sum(k.startswith("intra.") for k in merged), "intra tensors")
