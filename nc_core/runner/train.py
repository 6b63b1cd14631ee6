"""Training: the rate-distortion Lagrangian, Adam, a step learning-rate drop, periodic
weights-only checkpoints and ``--resume``.

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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device: cuda was requested but no CUDA device is available (use auto or cpu)")
    return torch.device(name)


def train(codec: LearnedCodec, batches, loss_fn, config: dict, run_dir: Path, *, seed: int,
          device: torch.device, resume: bool = False, quiet: bool = False, log=print,
          init: Path | None = None, label: str | None = None) -> dict:
    """Train ``codec`` in place; returns a summary (steps, wall time, last logged values).

    ``init`` (a weights file or run directory) warm-starts a fresh run; a resumed checkpoint
    takes precedence. ``label`` names the progress bar (the pipeline's name).
    """
    tc = config
    steps, opt_cfg, drop = tc["steps"], tc["optimizer"], tc["lr_drop"]
    codec.to(device).train()
    optimizer = torch.optim.Adam(codec.parameters(), lr=opt_cfg["lr"])
    ckpt_path = run_dir / CHECKPOINT
    start, elapsed = 0, 0.0
    if resume and ckpt_path.exists():
        state = load_weights(ckpt_path)
        codec.load_state_dict(state["model"])  # half-precision weights are cast back
        start, elapsed = int(state["step"]), float(state["elapsed"])
        if "optimizer" in state:
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            log(f"resuming {run_dir} at step {start}/{steps}")
        else:  # a weights-only checkpoint (slim_checkpoint): Adam's moments start again
            torch.manual_seed(seed + start)
            log(f"resuming {run_dir} at step {start}/{steps} from weights only (a new optimizer state)")
    else:
        torch.manual_seed(seed)
        if init is not None:
            load_state(codec, init / MODEL if init.is_dir() else init)
            log(f"warm start from {init}")

    batch_iter = batches(seed + start)  # deterministic continuation after a resume
    drop_step = int(drop["at"] * steps)
    logs: dict[str, float] = {}
    bar = tqdm(total=steps, initial=start, disable=quiet, desc=label or run_dir.name, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30, file=sys.stderr)
    t0 = time.perf_counter() - elapsed
    for step in range(start, steps):
        lr = opt_cfg["lr"] * (drop["factor"] if step >= drop_step else 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = next(batch_iter).to(device)
        loss, logs = loss_fn(x, codec(x), codec)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged at step {step + 1} (loss {loss.item()})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if opt_cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(codec.parameters(), opt_cfg["grad_clip"])
        optimizer.step()
        bar.update(1)
        if (step + 1) % tc["log_every"] == 0 or step + 1 == steps:
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
        if (step + 1) % tc["checkpoint_every"] == 0 or step + 1 == steps:
            atomic_save({"model": codec.state_dict(), "optimizer": optimizer.state_dict(), "step": step + 1,
                         "elapsed": time.perf_counter() - t0, "rng": torch.get_rng_state()}, ckpt_path)
    bar.close()
    return {"steps": steps, "train_seconds": time.perf_counter() - t0, "final": logs}


def slim_checkpoint(state: dict) -> dict:
    """A training checkpoint without the optimizer and RNG state, its floating-point weights in
    half precision: about a sixth of the size, for carrying a long training run between
    machines or sessions (a resume from it restarts Adam's moment estimates)."""
    model = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
    return {"model": model, "step": state["step"], "elapsed": state["elapsed"]}


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
