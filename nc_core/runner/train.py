"""Training: the loss, Adam (one optimiser for the model, one per player of a multi-player
loss, each with its learning rate and step drop), periodic weights-only checkpoints and
``--resume``.

Under torchrun every process runs this loop (:mod:`nc_core.distributed`): the codec inside
DistributedDataParallel, each rank on its rows of the global batch, players' gradients
averaged too, rank 0 alone writing checkpoints (of the unwrapped codec, so any process count
resumes them) and printing.

Checkpoints hold tensors and plain numbers only (model and optimizer state, step, RNG state)
and are read with ``torch.load(weights_only=True)``: loading never unpickles code. Writes go
to a temporary file first, so an interrupted save never leaves a broken checkpoint.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from nc_core import distributed
from nc_core.container import codec_digest, forget_digest
from nc_core.contracts import LearnedCodec
from nc_core.errors import UserError
from nc_core.files import atomic_write
from nc_core.models import MODEL, MODEL_INFO, load_state, load_weights

CHECKPOINT = "checkpoint.pt"


def atomic_save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def train(codec: LearnedCodec, batches, loss_fn, config: dict, run_dir: Path, *, seed: int,
          device: torch.device, resume: bool = False, quiet: bool = False, log=print,
          init: Path | None = None, init_only=None, label: str | None = None) -> dict:
    """Train ``codec`` in place; returns a summary (steps, wall time, last logged values).

    ``init`` (a weights file or run directory) warm-starts a fresh run (only the parts named by
    ``init_only``, when given); a resumed checkpoint takes precedence. ``label`` names the
    progress bar (the pipeline's name).
    """
    tc = config
    steps, opt_cfg, drop = tc["steps"], tc["optimizer"], tc["lr_drop"]
    bf16 = tc.get("precision", "fp32") == "bf16"
    codec.to(device).train()
    if isinstance(loss_fn, torch.nn.Module):  # a loss with networks of its own (a discriminator)
        loss_fn.to(device).train()
    # the model's optimiser first, then each player's: (optimizer, base lr, drop step, factor)
    players, params = loss_fn.players(codec), loss_fn.model_parameters(codec)
    optimizers = {"model": (torch.optim.Adam(params, lr=opt_cfg["lr"]), opt_cfg["lr"], int(drop["at"] * steps),
                            drop["factor"])}
    for p in players:
        if p.name in optimizers:
            raise ValueError(f"loss player {p.name!r}: the name is taken")
        optimizers[p.name] = (torch.optim.Adam(p.parameters, lr=p.lr), p.lr, int(p.lr_drop[0] * steps), p.lr_drop[1])
    ckpt_path = run_dir / CHECKPOINT
    group = distributed.current()
    start, elapsed, cpu = 0, 0.0, 0.0
    # rank 0 reads the checkpoint and hands it to the others (no shared file system needed)
    state = distributed.broadcast(load_weights(ckpt_path) if group.main and resume and ckpt_path.exists() else None)
    if state is not None:
        codec.load_state_dict(state["model"])  # half-precision weights are cast back
        if "loss" in state:
            loss_fn.load_state_dict(state["loss"])
        start, elapsed = int(state["step"]), float(state["elapsed"])
        cpu = float(state.get("cpu_seconds", 0.0))  # absent from checkpoints written before it was kept
        if "optimizer" in state or "optimizers" in state:
            saved = state.get("optimizers") or {"model": state["optimizer"]}  # before players: one optimizer
            for name, (optimizer, *_) in optimizers.items():
                optimizer.load_state_dict(saved[name])
            if group.main:  # the checkpoint holds rank 0's generator; the others start theirs afresh
                torch.set_rng_state(state["rng"])
            else:
                torch.manual_seed(distributed.rank_seed(seed + start))
            log(f"resuming {run_dir} at step {start}/{steps}")
        else:  # a weights-only checkpoint (slim_checkpoint): Adam's moments start again
            torch.manual_seed(distributed.rank_seed(seed + start))
            log(f"resuming {run_dir} at step {start}/{steps} from weights only (a new optimizer state)")
    else:
        torch.manual_seed(distributed.rank_seed(seed))
        if init is not None:
            load_state(codec, init / MODEL if init.is_dir() else init, only=init_only)
            log(f"warm start from {init}" + (f" ({', '.join(init_only)})" if init_only else ""))

    batch_iter = batches(seed + start)  # deterministic continuation after a resume
    model, frozen = codec, []
    if group.world > 1:
        trial = loss_fn.batch(distributed.share(next(batches(seed + start)))).to(device)
        model, frozen = _parallel(codec, loss_fn, params, trial, device)
    logs: dict[str, float] = {}
    bar = tqdm(total=steps, initial=start, disable=quiet or not group.main, desc=label or run_dir.name,
               dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30, file=sys.stderr)
    # wall time counts a paused process (SIGSTOP) too; CPU time (all threads) does not
    t0, c0 = time.perf_counter() - elapsed, time.process_time() - cpu
    try:
        for step in range(start, steps):
            for optimizer, base, drop_step, factor in optimizers.values():
                for group_ in optimizer.param_groups:
                    group_["lr"] = base * (factor if step >= drop_step else 1.0)
            x = loss_fn.batch(distributed.share(next(batch_iter))).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                output = model(x)
            logs = {}
            for player in players:  # e.g. the discriminator, on this step's reconstruction
                player_loss, player_logs = player.step(x, output, codec)
                _descend(optimizers[player.name][0], player_loss, step, player.name, player.parameters, sync=True)
                logs |= player_logs
            loss, model_logs = loss_fn(x, output, codec)
            logs |= model_logs
            _descend(optimizers["model"][0], loss, step, "model", params, opt_cfg["grad_clip"])
            bar.update(1)
            last = step + 1 == steps
            if (step + 1) % tc["log_every"] == 0 or last:
                logs = distributed.mean_values(logs)  # the global batch's values, as one process logs them
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if group.main and ((step + 1) % tc["checkpoint_every"] == 0 or last):
                checkpoint = {"model": codec.state_dict(),
                              "optimizers": {k: o.state_dict() for k, (o, *_) in optimizers.items()},
                              "step": step + 1, "elapsed": time.perf_counter() - t0,
                              "cpu_seconds": time.process_time() - c0, "rng": torch.get_rng_state()}
                if isinstance(loss_fn, torch.nn.Module):
                    checkpoint["loss"] = loss_fn.state_dict()
                atomic_save(checkpoint, ckpt_path)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    bar.close()
    distributed.check_in_sync(codec, label or str(run_dir))
    if isinstance(loss_fn, torch.nn.Module):  # the players' networks (a discriminator)
        distributed.check_in_sync(loss_fn, f"{label or run_dir}: the loss's networks")
    summary = {"steps": steps, "train_seconds": time.perf_counter() - t0, "train_cpu_seconds": time.process_time() - c0,
               "final": logs} | ({"precision": "bf16"} if bf16 else {})
    return summary | ({"processes": group.world} if group.world > 1 else {})


def _parallel(codec: LearnedCodec, loss_fn, params: list, batch: torch.Tensor,
              device: torch.device) -> tuple[torch.nn.Module, list]:
    """Under torchrun: the module the loop calls (DDP around ``codec``) and the parameters
    frozen for it. DDP waits for a gradient of every parameter that requires one,
    so those this stage's loss leaves without one (not in ``model_parameters``, or unused: a
    GAN codec's generator in its first stage) stop requiring them; one trial pass on
    ``batch`` (its random draws undone) finds them. Parameters the loss uses outside
    ``forward`` (the generator in stage 2) are reduced by DDP's hooks all the same."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        output = codec(batch)
        loss, _ = loss_fn(batch, output, codec)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    used = {id(p) for p, g in zip(params, grads) if g is not None}
    frozen = [p for p in codec.parameters() if p.requires_grad and id(p) not in used]
    for p in frozen:
        p.requires_grad_(False)
    return distributed.wrap(codec, device), frozen


def _descend(optimizer, loss: torch.Tensor, step: int, who: str, params=(), clip: float = 0.0,
             sync: bool = False) -> None:
    """One optimiser step; ``sync``: average ``params``' gradients over the processes first
    (DDP does it for the codec during ``backward``)."""
    if not torch.isfinite(loss):
        what = "training" if who == "model" else f"training ({who})"
        raise FloatingPointError(f"{what} diverged at step {step + 1} (loss {loss.item()})")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if sync:
        distributed.average_gradients(params)
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()


def slim_checkpoint(state: dict) -> dict:
    """A training checkpoint without the optimizer and RNG state, its floating-point weights in
    half precision: about a sixth of the size, for carrying a long training run between
    machines or sessions (a resume from it restarts Adam's moment estimates)."""
    def half(weights: dict) -> dict:
        return {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}

    slim = {"model": half(state["model"]), "step": state["step"], "elapsed": state["elapsed"]}
    if "cpu_seconds" in state:
        slim["cpu_seconds"] = state["cpu_seconds"]
    if "loss" in state:  # a discriminator's weights: kept, so stage 2 resumes with it
        slim["loss"] = half(state["loss"])
    return slim


def finalize(codec: LearnedCodec, run_dir: Path, summary: dict, update: bool = True) -> None:
    """Build coding tables (unless the weights came with them: ``update=False``) and save
    the deployable weights plus their identity."""
    codec.cpu().eval()
    if update:
        codec.update()
        forget_digest(codec)  # new tables, new identity
    atomic_save(codec.state_dict(), run_dir / MODEL)
    info = {"codec": codec.name, "weights": codec_digest(codec).hex(), "training": summary}
    atomic_write(run_dir / MODEL_INFO, json.dumps(info, indent=2))
    distributed.barrier()  # rank 0 wrote them; the other processes may read them next


def snapshot_run(run_dir: Path, dest: Path) -> list[Path]:
    """Copy the run ``run_dir`` (``OUT/<name>/<run-id>``) to ``dest/<name>/<run-id>`` for
    continuing it elsewhere with ``nc run --resume --out dest``: every file as it is, except
    each training checkpoint, which is slimmed (:func:`slim_checkpoint`). Returns the files
    written. Nothing is written unless every checkpoint reads."""
    import shutil

    if not (run_dir / "pipeline.yaml").is_file():
        raise UserError(f"{run_dir}: not a run directory (no pipeline.yaml)")
    target = dest / run_dir.parent.name / run_dir.name
    if target.exists():
        raise UserError(f"{target}: already exists; remove it or choose another destination")
    files = sorted(p for p in run_dir.rglob("*") if p.is_file())
    slim = {p: slim_checkpoint(load_weights(p)) for p in files if p.name == CHECKPOINT}
    written = []
    for src in files:
        out = target / src.relative_to(run_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        if src in slim:
            atomic_save(slim[src], out)
        else:
            shutil.copyfile(src, out)
        written.append(out)
    return written
