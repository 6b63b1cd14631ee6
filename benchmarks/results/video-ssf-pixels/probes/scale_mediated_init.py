"""The scale-mediated probe's starting weights: a fresh seed-0 ssf with scale_mediated, its
intra codec from the plain λ = 0.0067 point's stage-1 model (run from the repository root)."""
import torch
import yaml

from nc_core.models import load_weights
from nc_core.pipeline import build

spec = dict(yaml.safe_load(open("examples/video-ssf-pixels.yaml"))["codec"], scale_mediated=True)
torch.manual_seed(0)
state = build(spec, "codec").state_dict()
stage1 = load_weights("runs/video-ssf/20261204-004755/lmbda=0.0067/stage1/model.pt")
state |= {k: stage1[k] for k in state if k.startswith("intra.")}
torch.save(state, "/tmp/probe/scale-mediated-init.pt")
