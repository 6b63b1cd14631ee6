"""Several processes, one run: PyTorch's ``torch.distributed`` with DistributedDataParallel.

A process learns its place from the variables ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` / ``MASTER_PORT``): :func:`init_from_env` joins the process
group (gloo on CPU, NCCL on CUDA) and every rank then runs the same pipeline in lock step.

* **Training.** The codec is wrapped in DDP (:func:`wrap`), which averages its gradients; a
  loss's players (a discriminator: parameters the training loop does not call through a
  module) have theirs averaged with the same collective (:func:`average_gradients`). The
  dataset's batch is the *global* batch: every rank draws it from the same seed and keeps its
  own rows (:func:`share`), as DistributedSampler has every rank compute the same permutation
  and keep its indices, so N processes train on exactly the batches of one.
* **Evaluation.** Per-item work is sharded over ranks and gathered in order (:func:`map_items`),
  so every rank ends with the same rows as one process would compute; work that cannot be
  split runs on rank 0 and is broadcast (:func:`on_main`).
* **Files.** Only rank 0 writes (:func:`nc_core.files.atomic_write` drops other ranks' writes);
  a rank that reads what rank 0 just wrote waits for it (:func:`barrier`).

Every collective gives up after ``NC_DIST_TIMEOUT`` seconds (default 1800, PyTorch's own
default): a job whose ranks stop talking ends with an error instead of hanging.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import torch
import torch.distributed as dist

from nc_core import files
from nc_core.errors import UserError

T = TypeVar("T")
R = TypeVar("R")

TIMEOUT_ENV = "NC_DIST_TIMEOUT"
LAUNCHED_ENV = "NC_LAUNCHED"  # set for processes that `nc run --nproc` started
EXIT_PEER = 3  # a process's exit status when another one failed first
DEFAULT_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Group:
    """This process's place: ``rank`` of ``world`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the run's files and prints."""
        return self.rank == 0


_group = Group()


def current() -> Group:
    return _group


def timeout_seconds() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = 0.0
    if not value > 0:
        raise UserError(f"{TIMEOUT_ENV}={text!r}: must be a positive number of seconds")
    return value


def env_world() -> int:
    """The process count torchrun announced (1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise UserError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number") from None


def init_from_env(device: str) -> Group:
    """Join the process group torchrun describes (a no-op for a single process). ``device``
    is the pipeline's (``auto``, ``cpu``, ``cuda``): NCCL for CUDA, gloo otherwise; with CUDA
    each process takes the GPU of its ``LOCAL_RANK``."""
    global _group
    world = env_world()
    if world <= 1 or dist.is_initialized():
        return _group
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if local >= torch.cuda.device_count():
            raise UserError(f"process {rank}: LOCAL_RANK {local} but this machine has "
                            f"{torch.cuda.device_count()} CUDA devices (one process per GPU)")
        torch.cuda.set_device(local)
    backend = "nccl" if cuda else "gloo"
    try:
        dist.init_process_group(backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_seconds()))
    except (RuntimeError, ValueError, OSError) as exc:  # a rendezvous that failed or timed out
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"process {rank} of {world}: cannot join the {backend} process group "
                        f"({os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}): {first}") from None
    _group = Group(rank, world, local)
    files.drop_writes(not _group.main)
    return _group


class PeerLost(RuntimeError):
    """A collective failed because another process died or stopped answering."""


#: what gloo and NCCL say when the other end of a collective is gone
_LOST = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "Socket Timeout", "timed out",
         "Timed out", "NCCL communicator was aborted", "DistNetworkError", "pair.cc")


def peer_lost(exc: BaseException) -> PeerLost | None:
    """``exc`` as a :class:`PeerLost` with one line, if it is a collective that lost its peers."""
    if _group.world == 1 or not isinstance(exc, RuntimeError) or isinstance(exc, PeerLost):
        return None
    text = str(exc)
    if not (isinstance(exc, dist.DistError) or any(s in text for s in _LOST)):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return PeerLost(f"process {_group.rank} of {_group.world} lost the others (one failed, was killed or stopped "
                    f"answering within {TIMEOUT_ENV}={timeout_seconds():g} s): {first[:200]}")


def shutdown() -> None:
    global _group
    if dist.is_initialized():
        dist.destroy_process_group()
    _group = Group()
    files.drop_writes(False)


def barrier() -> None:
    if _group.world > 1:
        dist.barrier()


def broadcast(value: T) -> T:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if _group.world == 1:
        return value
    box = [value if _group.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(fn: Callable[[], T]) -> T:
    """``fn()`` computed on rank 0 only, its result on every rank (work that cannot be split,
    e.g. a lossless set coded as one file)."""
    return broadcast(fn() if _group.main else None)


def map_items(fn: Callable[[T], R], items: Sequence[T] | object) -> list[R]:
    """``[fn(item) for item in items]``, each rank computing every ``world``-th item and all of
    them receiving the whole list in ``items``' order (for one process: just the list)."""
    if _group.world == 1:
        return [fn(item) for item in items]
    mine = [(i, fn(item)) for i, item in enumerate(items) if i % _group.world == _group.rank]
    gathered: list = [None] * _group.world
    dist.all_gather_object(gathered, mine)
    return [result for _, result in sorted((pair for part in gathered for pair in part), key=lambda p: p[0])]


def share(batch: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a global batch (``batch.shape[0]`` must split evenly)."""
    n, world = batch.shape[0], _group.world
    if world == 1:
        return batch
    if n % world:
        raise UserError(f"data.train.batch: the global batch of {n} does not split over {world} processes "
                        f"(give a multiple of {world})")
    k = n // world
    return batch[_group.rank * k : (_group.rank + 1) * k]


def rank_seed(seed: int) -> int:
    """The torch seed of this rank's random draws (quantization noise): ``seed`` on rank 0, as in
    a single process; distinct, reproducible seeds on the others."""
    return seed + 1_000_003 * _group.rank


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel (itself for one process). Parameters that do not
    require gradients are left out; buffers are synced once, not at every step (nc's codecs keep no running
    statistics). Call methods other than ``forward`` on :func:`unwrap`'s module."""
    if _group.world == 1:
        return module
    ids = [device.index if device.index is not None else _group.local_rank] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (``update()``, ``compress()``, its state_dict)."""
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


def average_gradients(params: Sequence[torch.Tensor]) -> None:
    """Average ``params``' gradients over ranks (for parameters DDP does not manage)."""
    if _group.world == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= _group.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_values(values: dict[str, float]) -> dict[str, float]:
    """Logged numbers averaged over ranks (every rank gets the means)."""
    if _group.world == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return {k: float(v) / _group.world for k, v in zip(keys, t.tolist())}


def check_in_sync(module: torch.nn.Module, what: str) -> None:
    """Raise if ``module``'s parameters differ between ranks (a broken gradient exchange)."""
    if _group.world == 1:
        return
    import hashlib

    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    digests: list = [None] * _group.world
    dist.all_gather_object(digests, h.hexdigest())
    if len(set(digests)) != 1:
        raise RuntimeError(f"{what}: the processes' weights differ after training (ranks "
                           f"{[r for r, d in enumerate(digests) if d != digests[0]]} disagree with rank 0)")


# --------------------------------------------------------------------------- launching


def launch(argv: list[str], nproc: int, nnodes: int = 1, endpoint: str | None = None, run_id: str = "nc") -> int:
    """Start ``python -m nc_core ARGV`` as ``nproc`` processes on this machine (of ``nnodes``
    machines meeting at ``endpoint``, torchrun's c10d rendezvous) through torchrun's own
    launcher, and wait for them. Returns the exit status: 0, 2 when the processes stopped on a
    user error (rank 0 printed it), else 1 after one line naming the first process that failed
    (torchrun stops the others at once)."""
    import logging
    import sys

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError, RendezvousTimeoutError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1 or nnodes < 1:
        raise UserError("--nproc and --nnodes must be at least 1")
    if nnodes > 1 and not endpoint:
        raise UserError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every machine)")
    os.environ[LAUNCHED_ENV] = "1"  # the processes leave the report of a lost peer to this one
    if "OMP_NUM_THREADS" not in os.environ:  # the machine's cores shared out, not N x all of them
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    if os.environ.get("NC_FULL_ERROR", "") in ("", "0"):
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its reports, ours instead
    join = timeout_seconds()
    config = LaunchConfig(min_nodes=nnodes, max_nodes=nnodes, nproc_per_node=nproc, run_id=run_id,
                          rdzv_backend="c10d", rdzv_endpoint=endpoint or "localhost:0",
                          rdzv_configs={"join_timeout": join, "read_timeout": join, "timeout": join},
                          max_restarts=0, monitor_interval=0.5, start_method="spawn")
    where = f"{nproc} process(es) on each of {nnodes} machines" if nnodes > 1 else f"{nproc} processes"
    try:
        elastic_launch(config, sys.executable)("-m", "nc_core", *argv)
    except ChildFailedError as exc:
        codes = {f.exitcode for f in exc.failures.values()}
        if codes <= {2, EXIT_PEER}:  # a user error, already said on rank 0
            return 2
        # the cause: a process that neither lost the others nor was stopped by torchrun (SIGTERM)
        # after one failed, the earliest if several
        import signal

        def blame(item):
            rank, failure = item
            return (failure.exitcode in (EXIT_PEER, -signal.SIGTERM), failure.timestamp, rank)

        rank, first = min(exc.failures.items(), key=blame)
        how = f"was ended by {first.signal_name()}" if first.exitcode < 0 else f"exited with status {first.exitcode}"
        print(f"nc: error: process {rank} of {where} {how}; torchrun stopped the others "
              "(the run directory keeps its last checkpoint: --resume continues it)", file=sys.stderr)
        return 1
    except (RendezvousError, RuntimeError, OSError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, RendezvousTimeoutError):
            text = f"not every machine joined within {TIMEOUT_ENV}={join:g} s"
        elif "store has failed" in text:
            text = "the endpoint does not answer as a rendezvous (a port used by another program?)"
        print(f"nc: error: torchrun could not start {where} "
              f"(rendezvous {endpoint or 'on this machine'}): {text}", file=sys.stderr)
        return 1
    return 0
