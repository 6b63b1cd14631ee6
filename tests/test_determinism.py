"""Training is a function of the pipeline, its seed and the thread count: two runs of one
pipeline in one process (whatever ran before them) give bit-identical weights, and another
seed gives other weights."""

from __future__ import annotations

import torch

from nc_core.models import MODEL, load_weights
from nc_core.pipeline import load_pipeline
from nc_core.runner.run import Runner


def _weights(pipeline_path, out, *overrides):
    run_dir = Runner(load_pipeline(pipeline_path, list(overrides)), out, quiet=True).run()
    return load_weights(run_dir / MODEL)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_runs_give_identical_weights(tiny_pipeline, tmp_path):
    torch.rand(17)  # whatever the process did before must not matter
    first = _weights(tiny_pipeline, tmp_path / "a", "evaluate.baselines=[]")
    torch.rand(5)
    second = _weights(tiny_pipeline, tmp_path / "b", "evaluate.baselines=[]")
    assert _same(first, second)
    other = _weights(tiny_pipeline, tmp_path / "c", "evaluate.baselines=[]", "seed=1")
    assert not _same(first, other)
