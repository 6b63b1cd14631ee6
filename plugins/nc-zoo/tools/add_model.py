"""Make a trained run point a shipped zoo model: ``src/nc_zoo/models/NAME/``.

    python plugins/nc-zoo/tools/add_model.py RUN_POINT NAME --summary TEXT --command "nc run ..." \
        [--data ../shared/data/kodak] [--no-baselines | --anchors BASELINES_JSON] [--into FOLDER] [--replace] \
        [--weights fp16|int8 [--keep-fp16 PREFIX ...]] [--from-zoo NAME]

1. The weights are rounded to fp16 (parameters only: coding tables and other buffers keep
   their precision; ``--weights int8``: convolution weights to int8 with a scale per output
   slice, ``nc_core.models.int8_state``; ``--keep-fp16 PREFIX``: not those whose names start
   with a prefix, e.g. ``transform.g_s``, whose rounding the picture sees directly), the coding
   tables are rebuilt from the rounded
   weights, and the model is saved with the rounded parameters (fp16: about half the size of
   float32, int8 about a quarter); ``model.json`` records the hash of the weights as they load,
   so files name this model and nothing else.
2. The model, as it will ship, is evaluated on the test images (the run's pipeline without
   its training, ``init:`` the new folder; every rung of a ladder; the pipeline's baselines
   unless ``--no-baselines``) by ``nc run`` in a subprocess, as a user would run it.
3. ``zoo.json`` gets the summary, the command that trained it, its training budget (with
   ``--from-zoo NAME``, the budget of the zoo model it started from as its warm start), and the
   measured results (lists, one entry per rung, for a ladder) with BD-rates against the
   baselines (or against the curves of ``--anchors``, a run's ``baselines.json`` on the same
   images, instead of measuring them again).

Nothing is left behind on failure: the folder is written beside its destination and renamed
at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from nc_core.container import weights_hash
from nc_core.models import INT8_SCALE, MODEL, MODEL_INFO, PIPELINE_FILE, ZOO_INFO, int8_state, load_model
from nc_core.results import bd_table, load_results_json
from nc_zoo.plugin import MODELS

WEIGHTS = {"fp16": "fp16 parameters, coding tables rebuilt from them",
           "int8": "int8 convolution weights (a float32 scale per output slice), the other parameters fp16, "
                   "coding tables rebuilt from them"}


def rounded_model(point: Path, weights: str = "fp16", keep_fp16: tuple[str, ...] = ()):
    """The point's codec with parameters rounded as they ship (``fp16``; or ``int8``
    convolution weights, except those named with a prefix in ``keep_fp16``, and the rest fp16)
    and tables rebuilt from them, and the state dict to ship (rounded parameters, buffers as
    they are)."""
    codec = load_model(point)
    params = dict(codec.named_parameters())
    convs = [k for k, p in params.items() if weights == "int8" and p.dim() == 4 and not k.startswith(keep_fp16)]
    with torch.no_grad():
        for p in params.values():
            p.copy_(p.half().float())
        stored = int8_state({k: params[k].detach() for k in convs}, convs)
        for k in convs:
            params[k].copy_(stored[k].float() * stored[k + INT8_SCALE])  # as load_weights reads it back
    codec.update()
    state = {k: v.half() if k in params and v.is_floating_point() else v for k, v in codec.state_dict().items()}
    return codec, {**state, **stored}


def evaluation_pipeline(point: Path, model: Path, data: str | None, baselines: bool) -> dict:
    """The run's pipeline evaluating ``model`` without training it."""
    cfg = yaml.safe_load((point / PIPELINE_FILE).read_text())
    for key in ("train", "sweep", "init_only"):  # the shipped model is whole
        cfg.pop(key, None)
    cfg["data"].pop("train", None)
    if data:
        cfg["data"]["test"]["path"] = data
    if not baselines:
        cfg["evaluate"]["baselines"] = []
    cfg["evaluate"].pop("variants", None)
    cfg["evaluate"].pop("refine", None)
    cfg["init"] = str(model)
    return cfg


def measure(point: Path, model: Path, data: str | None, baselines: bool, anchors: Path | None = None) -> dict:
    """``nc run`` of the evaluation pipeline: the results (lists for a ladder) and BD-rates
    (against the measured baselines, or the curves in ``anchors``)."""
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Path(tmp) / "evaluate.yaml"
        pipeline.write_text(yaml.safe_dump(evaluation_pipeline(point, model, data, baselines), sort_keys=False))
        subprocess.run([sys.executable, "-m", "nc_core", "run", str(pipeline), "--out", tmp, "--quiet"], check=True)
        (run,) = (p for p in (Path(tmp) / yaml.safe_load(pipeline.read_text())["name"]).iterdir() if p.is_dir())
        curve = load_results_json(run / "results.json", kind="nc")
        keys = [k for k in ("bpp", "psnr-rgb", "ms-ssim-rgb") if k in curve]
        results = {k.removesuffix("-rgb"): [float(v) for v in curve[k]] for k in keys}
        if len(results["bpp"]) == 1:
            results = {k: v[0] for k, v in results.items()}
        measured = run / "baselines.json"
        curves = json.loads((anchors or measured).read_text()) if (anchors or measured).exists() else []
        bd = {row["anchor"]: {"psnr": row["bd_rate_psnr"], "ms-ssim": row["bd_rate_ms_ssim"]}
              for row in bd_table([curve, *curves])} if curves and isinstance(results["bpp"], list) else {}
        rows = [json.loads(f.read_text()).get("per_image", []) for f in sorted(run.glob("results*.json"))]
        images = max(map(len, rows), default=0) or None
    return {"results": results, "bd_rate": bd, "images": images}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("point", type=Path, help="the trained run point (a folder holding model.pt)")
    parser.add_argument("name", help="the zoo name (nc compress --model zoo:NAME)")
    parser.add_argument("--summary", required=True, help="one line: what the model is")
    parser.add_argument("--command", required=True, help="the command that trained it")
    parser.add_argument("--data", help="the test images' folder (default: the run's data.test path)")
    parser.add_argument("--no-baselines", action="store_true", help="measure the model alone")
    parser.add_argument("--anchors", type=Path, help="a baselines.json on the same images: BD-rates against its "
                                                     "curves (implies --no-baselines)")
    parser.add_argument("--into", type=Path, default=MODELS, help=f"the zoo folder (default: {MODELS})")
    parser.add_argument("--replace", action="store_true", help="replace a model of that name")
    parser.add_argument("--from-zoo", metavar="NAME", help="the zoo model it was trained from (init: zoo:NAME): "
                                                            "its budget is recorded as the warm start")
    parser.add_argument("--weights", choices=sorted(WEIGHTS), default="fp16",
                        help="how the parameters ship (default fp16; int8 convolution weights: about half the size)")
    parser.add_argument("--keep-fp16", metavar="PREFIX", action="append", default=[],
                        help="with --weights int8: parameters whose names start with PREFIX stay fp16 (repeatable)")
    args = parser.parse_args()
    if args.keep_fp16 and args.weights != "int8":
        raise SystemExit("--keep-fp16 is for --weights int8")
    dest = args.into / args.name
    if dest.exists() and not args.replace:
        raise SystemExit(f"{dest}: exists (use --replace)")
    if args.from_zoo and not (MODELS / args.from_zoo / ZOO_INFO).exists():
        raise SystemExit(f"--from-zoo: no zoo model {args.from_zoo!r} in {MODELS}")
    args.into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.name}-", dir=args.into))
    try:
        codec, state = rounded_model(args.point, args.weights, tuple(args.keep_fp16))
        if args.keep_fp16 and not any(k.startswith(tuple(args.keep_fp16)) for k in state):
            raise SystemExit(f"--keep-fp16 {' '.join(args.keep_fp16)}: names no parameter of the model")
        torch.save(state, staging / MODEL)
        training = json.loads((args.point / MODEL_INFO).read_text()).get("training", {})
        (staging / MODEL_INFO).write_text(json.dumps(
            {"codec": codec.name, "weights": weights_hash(codec).hex(), "training": training}, indent=2) + "\n")
        shutil.copyfile(args.point / PIPELINE_FILE, staging / PIPELINE_FILE)
        if weights_hash(load_model(staging)) != weights_hash(codec):
            raise SystemExit("the saved model does not load to the rounded weights (an nc bug)")
        measured = measure(args.point, staging, args.data, not (args.no_baselines or args.anchors), args.anchors)
        budget = {k: training[k] for k in ("steps", "train_seconds", "train_cpu_seconds", "precision", "device", "threads")
                  if k in training}
        if args.from_zoo:
            earlier = json.loads((MODELS / args.from_zoo / ZOO_INFO).read_text())["budget"]
            budget["warm_start"] = {"zoo": args.from_zoo, **earlier}
        zoo = {"summary": args.summary, "command": args.command, "budget": budget,
               "results": {"kodak": measured["results"]}, "bd_rate": {"kodak": measured["bd_rate"]},
               "images": measured["images"],
               "weights": WEIGHTS[args.weights] + "".join(f"; {p}* fp16" for p in args.keep_fp16)}
        (staging / ZOO_INFO).write_text(json.dumps(zoo, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{dest}: {json.dumps(zoo['results']['kodak'])}")


if __name__ == "__main__":
    main()
