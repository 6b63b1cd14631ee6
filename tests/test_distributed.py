"""Training and evaluation in several processes (torchrun, DistributedDataParallel, gloo on CPU):
two processes train like one, their ranks agree, two "machines" on 127.0.0.1 meet through
c10d, checkpoints move between process counts, and a killed process ends the job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

PIPELINE = """\
name: tiny
seed: 0
device: cpu
data:
  train: {use: samples, split: train, patch: 32, batch: 4}
  test: {use: samples, split: test}
codec:
  use: transform-coding
  transform: {use: factorized, channels: 8, latent: 8}
  quantizer: ste
  prior: deep-factorized
  coder: ans
train:
  loss: {use: rate-distortion, distortion: mse, lmbda: 0.01}
  steps: 12
  log_every: 4
  checkpoint_every: 6
evaluate:
  metrics: [bpp, psnr]
"""
# ste: rounding with straight-through gradients, no noise, so that one process and two see
# the same numbers (quantization noise is drawn per process)

TIMEOUT = 300


def nc(*args, cwd: Path, env: dict | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nc_core", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def run_dir(out: Path) -> Path:
    (found,) = (out / "tiny").iterdir()
    return found


def final(run: Path) -> dict:
    return json.loads((run / "model.json").read_text())["training"]


def weights(run: Path, name: str = "model.pt") -> dict:
    state = torch.load(run / name, weights_only=True)
    return state.get("model", state)


def assert_same_training(a: Path, b: Path) -> None:
    """Same final loss (to float tolerance) and the same parameters."""
    la, lb = final(a)["final"], final(b)["final"]
    assert la["loss"] == pytest.approx(lb["loss"], rel=1e-4)
    assert la["bpp"] == pytest.approx(lb["bpp"], rel=1e-4)
    wa, wb = weights(a), weights(b)
    params = [k for k in wa if wa[k].is_floating_point() and "_cdf" not in k]
    assert params
    for k in params:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5, msg=k)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    (root / "tiny.yaml").write_text(PIPELINE)
    return root


@pytest.fixture(scope="module")
def one(work) -> Path:
    ok(nc("run", "tiny.yaml", "--out", "one", "--quiet", cwd=work))
    return run_dir(work / "one")


@pytest.fixture(scope="module")
def two(work) -> Path:
    ok(nc("run", "tiny.yaml", "--out", "two", "--quiet", "--nproc", "2", cwd=work))
    return run_dir(work / "two")


def test_two_processes_train_like_one(one, two):
    """(a) a global batch of 4 over two processes = a batch of 4 in one, after 12 steps."""
    assert final(two)["processes"] == 2 and "processes" not in final(one)
    assert_same_training(one, two)
    # rank 0 alone wrote: one set of files, nothing half-written
    assert not list(two.rglob("*.tmp"))
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())


def test_evaluation_is_sharded_and_gives_the_same_bytes(one, two, work):
    """Evaluation over two processes (one test image each): the rows of one process."""
    (work / "eval.yaml").write_text(PIPELINE.split("\ntrain:")[0] + "\n" + f"init: {one}\nevaluate:\n  metrics: [bpp, psnr]\n")
    ok(nc("run", "eval.yaml", "--out", "eval1", "--quiet", cwd=work))
    ok(nc("run", "eval.yaml", "--out", "eval2", "--quiet", "--nproc", "2", cwd=work))
    rows = [json.loads((run_dir(work / d) / "results.json").read_text())["per_image"] for d in ("eval1", "eval2")]
    assert [r["image"] for r in rows[0]] == ["astronaut", "chelsea"] == [r["image"] for r in rows[1]]
    for a, b in zip(*rows):
        assert a["bytes"] == b["bytes"] and a["psnr-rgb"] == b["psnr-rgb"]


RANKS_SCRIPT = """\
import sys, torch
from pathlib import Path
from nc_core import distributed
from nc_core.models import build_codec
from nc_core.pipeline import build, load_pipeline
from nc_core.runner.train import train

out = Path(sys.argv[2])
cfg = load_pipeline(sys.argv[1]).config
group = distributed.init_from_env("cpu")
torch.manual_seed(cfg["seed"])
codec = build_codec(cfg)
train(codec, build(cfg["data"]["train"], "dataset").batches, build(cfg["train"]["loss"], "loss"), cfg["train"],
      out, seed=cfg["seed"], device=torch.device("cpu"), quiet=True)
torch.save(codec.state_dict(), out / f"rank{group.rank}.pt")
distributed.shutdown()
"""


def test_ranks_hold_the_same_weights(work):
    """(b) under plain torchrun every rank ends with the same weights, bit for bit (a broken
    gradient exchange would leave each rank with its half batch's)."""
    (work / "ranks.py").write_text(RANKS_SCRIPT)
    out = work / "ranks"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "ranks.py", "tiny.yaml", str(out)], cwd=work, capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    ok(proc)
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    assert not (out / "rank0.pt").samefile(out / "rank1.pt")


def test_two_machines_meet_through_c10d(one, work):
    """(c) two torchrun "machines" on 127.0.0.1, one process each, c10d rendezvous: (a) holds."""
    port = free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "nc-test",
           "-m", "nc_core", "run", "tiny.yaml", "--out", "nodes", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    assert [p.returncode for p in nodes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert_same_training(one, run_dir(work / "nodes"))


def interrupted(one: Path, work: Path, first: int, then: int) -> Path:
    """The 12-step run stopped at its step-6 checkpoint by ``first`` processes and resumed by
    ``then`` processes."""
    half = work / f"half{first}"
    if not half.exists():
        nproc = ["--nproc", "2"] if first == 2 else []
        ok(nc("run", "tiny.yaml", "--out", half.name, "--quiet", "--set", "train.steps=6", *nproc, cwd=work))
    resumed = work / f"resumed{first}{then}" / "tiny" / one.name
    shutil.copytree(one, resumed)  # the 12-step run's record ...
    for f in resumed.iterdir():
        if f.name != "pipeline.yaml":
            f.unlink()
    shutil.copy(run_dir(half) / "checkpoint.pt", resumed / "checkpoint.pt")  # ... stopped at step 6
    proc = ok(nc("run", "tiny.yaml", "--out", resumed.parents[1].name, "--resume",
                 *(["--nproc", "2"] if then == 2 else []), cwd=work))
    assert "at step 6/12" in proc.stdout
    assert final(resumed).get("processes", 1) == then
    return resumed


@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_a_checkpoint_resumes_in_another_process_count(one, work, first, then):
    """(d) the step-6 checkpoint of an N-process run, resumed with M processes, reaches the loss
    and weights at step 12 that one process resuming its own checkpoint reaches. (A resume
    draws its batches from a new seed, so the reference is a resumed run, not an
    uninterrupted one.)"""
    reference = work / "resumed11" / "tiny" / one.name
    if not reference.exists():
        interrupted(one, work, 1, 1)
    assert_same_training(reference, interrupted(one, work, first, then))


def _rank_pid(marker: str, rank: int) -> int | None:
    """The pid of the nc worker of ``rank`` whose environment carries ``marker`` (Linux /proc)."""
    want = {f"RANK={rank}".encode(), f"NC_TEST_JOB={marker}".encode()}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = set((entry / "environ").read_bytes().split(b"\0"))
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if want <= environ and b"nc_core" in cmdline:
                return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc (Linux)")
def test_a_killed_process_ends_the_job(work):
    """(e) SIGKILL to rank 1 mid-training: the job exits non-zero within a minute, with one
    line naming the process, and leaves no half-written file."""
    (work / "long.yaml").write_text(PIPELINE.replace("steps: 12", "steps: 100000").replace("checkpoint_every: 6",
                                                                                          "checkpoint_every: 2"))
    marker = f"{os.getpid()}-{time.time()}"
    job = subprocess.Popen([sys.executable, "-m", "nc_core", "run", "long.yaml", "--out", "killed", "--quiet",
                            "--nproc", "2"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1", "NC_TEST_JOB": marker})
    try:
        deadline, pid = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            pid = _rank_pid(marker, 1)
            checkpoints = list((work / "killed").rglob("checkpoint.pt"))
            if pid and checkpoints:
                break
            time.sleep(0.5)
        assert pid and checkpoints, "the two processes did not start training"
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        _, err = job.communicate(timeout=60)
        assert time.monotonic() - t0 < 60
    finally:
        job.kill()
    assert job.returncode not in (0, None)
    lines = [line for line in err.strip().splitlines() if line.startswith("nc: ")]
    assert len(lines) == 1 and "process 1" in lines[0] and "SIGKILL" in lines[0], err[-2000:]
    assert "Traceback" not in err
    assert not list((work / "killed").rglob("*.tmp"))
    torch.load(next((work / "killed").rglob("checkpoint.pt")), weights_only=True)  # whole


def test_a_batch_that_does_not_split_is_refused(work):
    proc = nc("run", "tiny.yaml", "--out", "odd", "--quiet", "--nproc", "2", "--set", "data.train.batch=3", cwd=work)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("nc: error: data.train.batch: the global batch of 3 does not split over 2"), \
        proc.stderr[-2000:]
    assert sum(line.startswith("nc: error") for line in lines) == 1


def test_machines_that_never_meet_time_out_with_one_line(work):
    """A second machine that never comes: the rendezvous gives up after NC_DIST_TIMEOUT."""
    t0 = time.monotonic()
    proc = nc("run", "tiny.yaml", "--out", "alone", "--quiet", "--nproc", "1", "--nnodes", "2",
              "--rdzv-endpoint", f"127.0.0.1:{free_port()}", cwd=work, env={"NC_DIST_TIMEOUT": "4"}, timeout=120)
    assert proc.returncode == 1 and time.monotonic() - t0 < 60
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[-1]]
    assert "not every machine joined within NC_DIST_TIMEOUT=4 s" in proc.stderr
    assert not (work / "alone").exists()


def test_an_endpoint_held_by_another_program_is_one_line(work):
    """The rendezvous port belongs to a program that is not a c10d store (here: one that
    accepts connections and then goes away)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        job = subprocess.Popen([sys.executable, "-m", "nc_core", "run", "tiny.yaml", "--out", "taken", "--quiet",
                                "--nproc", "1", "--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}"],
                               cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "NC_DIST_TIMEOUT": "20"})
        time.sleep(3)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("nc: error: torchrun could not start"), err[-2000:]
    assert not (work / "taken").exists()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc (Linux)")
def test_under_bare_torchrun_rank_0_says_one_line(work):
    """(e) under plain torchrun (no `nc run --nproc` to speak for the processes): rank 1 killed,
    rank 0 ends with one `nc:` line of its own (torchrun adds its own report)."""
    (work / "long2.yaml").write_text(PIPELINE.replace("steps: 12", "steps: 100000"))
    marker = f"{os.getpid()}-{time.time()}"
    job = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                            "-m", "nc_core", "run", "long2.yaml", "--out", "bare", "--quiet"], cwd=work,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1", "NC_TEST_JOB": marker})
    try:
        deadline, pid = time.monotonic() + 120, None
        while time.monotonic() < deadline and not (pid and list((work / "bare").rglob("checkpoint.pt"))):
            pid = _rank_pid(marker, 1)
            time.sleep(0.5)
        assert pid, "the two processes did not start"
        os.kill(pid, signal.SIGKILL)
        _, err = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode not in (0, None)
    lines = [line for line in err.splitlines() if line.startswith("nc: ")]
    assert len(lines) == 1 and lines[0].startswith("nc: error: process 0 of 2"), err[-3000:]
    assert not list((work / "bare").rglob("*.tmp"))
