"""Stage 2 (generator against discriminator) in two processes: the discriminator is a player,
trained by its own optimiser outside DistributedDataParallel, and its gradients are averaged
too. The run checks that every rank ends with the same codec and discriminator weights
(``nc_core.distributed.check_in_sync``) and fails otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow

def test_the_discriminator_stays_in_sync_over_two_processes(tmp_path, gan_pipeline):
    # stage 1 leaves the generator unused; stage 2 trains it against the discriminator (a player)
    (tmp_path / "gan.yaml").write_text(gan_pipeline.replace("batch: 2", "batch: 4"))
    proc = subprocess.run([sys.executable, "-m", "nc_core", "run", "gan.yaml", "--out", "runs", "--quiet",
                           "--nproc", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "gan").iterdir()
    stages = json.loads((run_dir / "model.json").read_text())["training"]["stages"]
    assert [s.get("processes") for s in stages] == [2, 2]
    discriminator = torch.load(run_dir / "checkpoint.pt", weights_only=True)["loss"]
    assert discriminator and all(torch.isfinite(v).all() for v in discriminator.values() if v.is_floating_point())
