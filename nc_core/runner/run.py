"""``nc run``: train (or resume), evaluate on real bytes, compare with baselines, report.

Layout of ``OUT/<name>/<run-id>/``: ``pipeline.yaml`` (resolved), ``results.json``,
``report.md``, ``rd.png``, ``baselines.json`` and, per trained model, ``checkpoint.pt``, ``model.pt``,
``model.json`` — in the run directory itself, or in one sub-directory per sweep point.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from nc_core import models
from nc_core._deprecation import moved
from nc_core.contracts import LosslessCodec
from nc_core.errors import UserError
from nc_core.files import atomic_write
from nc_core.imaging import as_items
from nc_core.pipeline import Pipeline, build, load_pipeline
from nc_core.runner import report
from nc_core.runner.evaluate import (
    as_curve,
    baseline_curve,
    evaluate_codec,
    evaluate_lossless,
    evaluate_lossless_baseline,
    mean_point,
)
from nc_core.runner.train import finalize, resolve_device, train

RESULTS = "results.json"
REFINED_RESULTS = "results-refined.json"  # evaluate.refine: refined codec on its image subset
BASELINES = "baselines.json"  # the baseline curves, as plotted


def new_run_dir(base: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir, n = base / stamp, 1
    while run_dir.exists():
        n += 1
        run_dir = base / f"{stamp}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def latest_run_dir(base: Path) -> Path:
    runs = sorted(p for p in base.glob("*") if (p / models.PIPELINE_FILE).exists()) if base.is_dir() else []
    if not runs:
        raise FileNotFoundError(f"--resume: no earlier run in {base}")
    return runs[-1]


class Runner:
    def __init__(self, pipeline: Pipeline, out: Path, resume: bool = False, quiet: bool = False):
        self.pipeline, self.resume, self.quiet = pipeline, resume, quiet
        self.base = Path(out) / pipeline.config["name"]
        self.run_dir = latest_run_dir(self.base) if resume else None  # created once checks pass

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def preflight(self, runs) -> tuple[list, list]:
        """Build every component once before any work, so a problem a constructor finds (a
        missing folder, an unusable distortion, a bad baseline quality, no CUDA) stops the run
        before training starts, not after."""
        self.lossless = isinstance(models.build_codec(self.pipeline.config), LosslessCodec)
        for _, cfg in runs:
            codec = models.build_codec(cfg)
            for label, variant in self.pipeline.variants(cfg)[1:]:
                if type(models.build_codec(variant)) is not type(codec):
                    raise UserError(f"evaluate.variants: {label} changes the codec itself; a variant only recodes")
            if cfg.get("train"):
                build(cfg["data"]["train"], "dataset")
                build(cfg["train"]["loss"], "loss")
                resolve_device(cfg["device"])
            if cfg["evaluate"].get("refine"):
                self._refined(codec, cfg)
        cfg0 = self.pipeline.config
        baselines = [[build(entry, "baseline", quality=q) for q in entry["qualities"]]
                     for entry in cfg0["evaluate"]["baselines"]]
        for codecs in baselines:
            if codecs[0].lossless != self.lossless:
                kind = "lossless" if self.lossless else "lossy"
                raise UserError(f"evaluate.baselines: {codecs[0].name!r} is "
                                f"{'lossless' if codecs[0].lossless else 'lossy'}; this pipeline's codec is {kind}")
        if self.lossless and cfg0["evaluate"].get("refine"):
            raise UserError("evaluate.refine: latent refinement is for lossy codecs")
        if not self.lossless and cfg0["evaluate"].get("variants"):
            raise UserError("evaluate.variants: coding variants are evaluated for lossless codecs only")
        return self._metrics(cfg0), baselines

    def run(self) -> Path:
        cfg0 = self.pipeline.config
        runs = self.pipeline.runs()
        metrics, baselines = self.preflight(runs)
        test = build(cfg0["data"]["test"], "dataset")
        images = list(test.images())
        if cfg0["evaluate"].get("max_images"):
            images = images[: cfg0["evaluate"]["max_images"]]
        if self.lossless:
            return self._run_lossless(runs, as_items(images), baselines)
        if self.run_dir is None:
            self.run_dir = new_run_dir(self.base)
        atomic_write(self.run_dir / models.PIPELINE_FILE, self.pipeline.to_yaml())
        points, labels, budgets, refinements = [], [], [], []
        previous = None
        for suffix, cfg in runs:
            sub = self.run_dir / suffix if suffix else self.run_dir
            sub.mkdir(exist_ok=True)
            warm = previous if cfg.get("train", {}).get("warm_start") else None
            point, budget = self._train_and_evaluate(cfg, suffix, sub, images, metrics, warm)
            if cfg["evaluate"].get("refine"):
                refinements.append(self._evaluate_refined(cfg, suffix, sub, images, metrics))
            previous = sub
            points.append(point)
            labels.append(suffix or cfg0["name"])
            budgets.append(budget)
        baselines = [self._baseline(codecs, images, metrics) for codecs in baselines]
        self._report(cfg0, as_curve(cfg0["name"], "nc", points, labels), budgets, baselines, len(images),
                     refinements)
        self.log(f"results: {self.run_dir}")
        return self.run_dir

    # -- lossless pipelines ---------------------------------------------------------------------
    def _run_lossless(self, runs, items, baselines) -> Path:
        """Train each point, code the whole test set as one file per codec and variant,
        decode and check it, and compare with the lossless baselines on the same items."""
        for suffix, cfg in runs:
            self._check_items(models.build_codec(cfg), items, suffix)
        if self.run_dir is None:
            self.run_dir = new_run_dir(self.base)
        atomic_write(self.run_dir / models.PIPELINE_FILE, self.pipeline.to_yaml())
        rows, budgets, previous = [], [], None
        for suffix, cfg in runs:
            sub = self.run_dir / suffix if suffix else self.run_dir
            sub.mkdir(exist_ok=True)
            warm = previous if cfg.get("train", {}).get("warm_start") else None
            point_rows, budget = self._train_and_evaluate_lossless(cfg, suffix, sub, items, warm)
            rows += point_rows
            budgets.append(budget)
            previous = sub
        self.log(f"baselines: {', '.join(c[0].name for c in baselines) or 'none'} on {len(items)} items")
        base_rows = [evaluate_lossless_baseline(codecs[0], items) | {"quality": codecs[0].quality}
                     for codecs in baselines]
        cfg0 = self.pipeline.config
        doc = {"name": cfg0["name"], "kind": "lossless", "results": rows}
        atomic_write(self.run_dir / RESULTS, json.dumps(report.jsonable(doc), indent=2) + "\n")
        atomic_write(self.run_dir / BASELINES, json.dumps(report.jsonable(base_rows), indent=2) + "\n")
        notes = self._notes(cfg0, None, budgets, len(items))
        report.write_lossless_report_md(self.run_dir / "report.md", f"nc run: {cfg0['name']}", rows, base_rows, notes)
        self.log(f"results: {self.run_dir}")
        return self.run_dir

    @staticmethod
    def _check_items(codec, items, suffix) -> None:
        where = f" (sweep point {suffix})" if suffix else ""
        shape = (items.shape[3], *items.shape[1:3])
        if shape != tuple(codec.shape):
            raise UserError(f"data.test: items are {list(shape)} (C x H x W) but codec.shape is "
                            f"{list(codec.shape)}{where}")
        if items.size and int(items.max()) > codec.levels:
            raise UserError(f"data.test: item values reach {int(items.max())} but codec.levels is "
                            f"{codec.levels}{where} (binarize the data, or raise levels)")

    def _train_and_evaluate_lossless(self, cfg, suffix, sub: Path, items, warm):
        results_path = sub / RESULTS
        if self.resume and results_path.exists() and (sub / models.MODEL_INFO).exists():
            self.log(f"{suffix or cfg['name']}: already finished, reusing {results_path}")
            budget = json.loads((sub / models.MODEL_INFO).read_text())["training"]
            return json.loads(results_path.read_text())["results"], budget
        if suffix:
            atomic_write(sub / models.PIPELINE_FILE, self.pipeline.to_yaml(cfg))
        codec = models.build_codec(cfg)
        budget = self._train(codec, cfg, sub, warm)
        finalize(codec, sub, budget)
        rows = []
        for i, (label, variant_cfg) in enumerate(self.pipeline.variants(cfg)):
            variant = models.build_codec(variant_cfg) if i else codec
            if i:
                variant.load_state_dict(codec.state_dict())
            name = ",".join(x for x in (suffix, label) if x) or cfg["name"]
            self.log(f"{name}: coding {len(items)} items as one file")
            rows.append({"label": name} | evaluate_lossless(variant, items))
        doc = {"name": cfg["name"], "kind": "lossless", "results": rows, "training": budget}
        atomic_write(results_path, json.dumps(report.jsonable(doc), indent=2) + "\n")
        return rows, budget

    def _train(self, codec, cfg, sub: Path, warm) -> dict:
        """Train ``codec`` per the config (or not, without a train section): the budget."""
        budget = {"steps": 0, "train_seconds": 0.0}
        if cfg.get("train"):
            tc = cfg["train"]
            train_data = build(cfg["data"]["train"], "dataset")
            loss = build(tc["loss"], "loss")
            device = resolve_device(cfg["device"])
            budget = train(codec, train_data.batches, loss, tc, sub, seed=cfg["seed"], device=device,
                           resume=self.resume, quiet=self.quiet, log=self.log, init=warm)
            budget |= {"device": str(device), "threads": torch.get_num_threads()}
        return budget

    def _metrics(self, cfg):
        specs = cfg["evaluate"]["metrics"]
        if not any(s["use"] == "bpp" for s in specs):
            specs = [{"use": "bpp"}, *specs]  # the rate is always reported
        return [build(spec, "metric") for spec in specs]

    def _train_and_evaluate(self, cfg, suffix, sub: Path, images, metrics, warm: Path | None):
        results_path = sub / RESULTS
        if self.resume and results_path.exists() and (sub / models.MODEL_INFO).exists():
            self.log(f"{suffix or cfg['name']}: already finished, reusing {results_path}")
            results = json.loads(results_path.read_text())["results"]
            budget = json.loads((sub / models.MODEL_INFO).read_text())["training"]
            return {k: v[0] for k, v in results.items()}, budget
        if suffix:
            atomic_write(sub / models.PIPELINE_FILE, self.pipeline.to_yaml(cfg))
        codec = models.build_codec(cfg)
        budget = self._train(codec, cfg, sub, warm)
        finalize(codec, sub, budget)
        self.log(f"{suffix or cfg['name']}: evaluating on {len(images)} images")
        rows = evaluate_codec(codec, images, metrics)
        point = mean_point(rows)
        report.write_results_json(results_path, cfg["name"], f"nc {cfg['codec']['use']} {suffix}".strip(),
                                  [point], per_image=rows)
        return point, budget

    def _refined(self, codec, cfg):
        """The refined view of ``codec`` for ``evaluate.refine`` (user errors if impossible)."""
        refine = cfg["evaluate"]["refine"]
        if not cfg.get("train"):
            raise UserError("evaluate.refine: needs a train section (its loss says what to refine for)")
        try:
            return codec.refined(build(cfg["train"]["loss"], "loss"), refine["steps"], refine["lr"])
        except TypeError as exc:
            raise UserError(f"evaluate.refine: {exc}") from None

    def _evaluate_refined(self, cfg, suffix, sub: Path, images, metrics) -> dict:
        """Plain and refined codec on the same images: ``{"label", "plain", "refined"}``."""
        refine = cfg["evaluate"]["refine"]
        subset = images[: refine.get("max_images") or len(images)]
        path = sub / REFINED_RESULTS
        label = suffix or cfg["name"]
        if self.resume and path.exists():
            doc = json.loads(path.read_text())
            return {"label": label, **doc["comparison"]}
        codec = models.load_model(sub)
        self.log(f"{label}: refining latents ({refine['steps']} steps) on {len(subset)} images")
        plain = mean_point(evaluate_codec(codec, subset, metrics))
        rows = evaluate_codec(self._refined(codec, cfg), subset, metrics)
        refined = mean_point(rows)
        comparison = {"plain": plain, "refined": refined, "images": len(subset), "steps": refine["steps"]}
        report.write_results_json(path, cfg["name"], f"nc {cfg['codec']['use']} {suffix} refined".strip(),
                                  [refined], per_image=rows)
        doc = json.loads(path.read_text()) | {"comparison": comparison}
        atomic_write(path, json.dumps(doc, indent=2) + "\n")
        return {"label": label, **comparison}

    def _baseline(self, codecs, images, metrics):
        self.log(f"baseline {codecs[0].name}: {len(codecs)} qualities x {len(images)} images")
        return baseline_curve(codecs, images, metrics)

    def _report(self, cfg, nc_curve, budgets, baselines, n_images, refinements=()):
        points = [{k: nc_curve[k][i] for k in nc_curve if k not in ("name", "kind", "labels")}
                  for i in range(len(nc_curve["bpp"]))]
        if cfg.get("sweep") or not (self.run_dir / RESULTS).exists():  # no sweep: written already
            report.write_results_json(self.run_dir / RESULTS, cfg["name"], f"nc {cfg['codec']['use']}", points)
        atomic_write(self.run_dir / BASELINES, json.dumps(baselines, indent=2) + "\n")
        curves = [nc_curve, *baselines]
        notes = self._notes(cfg, nc_curve, budgets, n_images)
        if refinements:
            refined = as_curve(f"{cfg['name']} refined", "nc", [r["refined"] for r in refinements],
                               [r["label"] for r in refinements])
            if all(r["images"] == n_images for r in refinements):
                curves.append(refined)  # comparable with the others: same images
            notes += self._refine_notes(refinements)
        report.plot_rd(self.run_dir / "rd.png", curves)
        report.write_report_md(self.run_dir / "report.md", f"nc run: {cfg['name']}", curves, notes=notes)

    @staticmethod
    def _refine_notes(refinements) -> list[str]:
        from nc_core.bdrate import bd_rate

        notes = []
        for r in refinements:
            p, q = r["plain"], r["refined"]
            notes.append(f"latent refinement, {r['label']} ({r['steps']} steps, same {r['images']} images): "
                         f"bpp {p['bpp']:.4f} -> {q['bpp']:.4f}, PSNR {p.get('psnr-rgb', float('nan')):.2f} -> "
                         f"{q.get('psnr-rgb', float('nan')):.2f} dB")
        if len(refinements) >= 2 and all("psnr-rgb" in r["plain"] for r in refinements):
            try:
                gain = bd_rate([r["plain"]["bpp"] for r in refinements], [r["plain"]["psnr-rgb"] for r in refinements],
                               [r["refined"]["bpp"] for r in refinements],
                               [r["refined"]["psnr-rgb"] for r in refinements])
                notes.append(f"latent refinement BD-rate (PSNR) vs the same models unrefined: {gain:+.1f} %")
            except ValueError as exc:
                notes.append(f"latent refinement BD-rate not computable: {exc}")
        return notes

    def _notes(self, cfg, curve, budgets, n_images) -> list[str]:
        steps = sum(b.get("steps", 0) for b in budgets)
        seconds = sum(b.get("train_seconds", 0.0) for b in budgets)
        where = ", ".join(sorted({f"{b.get('device', 'cpu')} x{b.get('threads', '?')} threads" for b in budgets}))
        budget = f"training budget: {len(budgets)} model(s), {steps} steps in all, {seconds / 60:.1f} min ({where})"
        coder = cfg["codec"].get("coder", {}).get("use", "?")
        if curve is None:  # lossless
            test = {k: v for k, v in cfg["data"]["test"].items() if k != "batch"}
            return [f"codec: {cfg['codec']['use']} with {coder} coding; {n_images} test items coded as one file "
                    "per codec, decoded and checked value for value; every rate counts every byte of that file",
                    f"test data: {json.dumps(test)}", budget]
        notes = [f"codec: {cfg['codec']['use']} with {coder} coding; "
                 f"{n_images} test images; every rate is the mean size of real nc files, decoded and "
                 "checked bit-exact against the evaluation reconstruction", budget]
        if len(curve["bpp"]) < 2:
            notes.append("BD-rates need at least two nc rate points: add a `sweep:` (e.g. of train.loss.lmbda)")
        if "header_bytes" in curve and "ideal_bits" in curve:
            for label, nbytes, header, ideal in zip(curve.get("labels", []), curve["bytes"], curve["header_bytes"],
                                                    curve["ideal_bits"]):
                ratio = f"{(nbytes - header) * 8 / ideal:.4f}" if 0 < ideal < float("inf") else "unknown"
                notes.append(f"{label}: mean file {nbytes:.0f} B = header {header:.1f} B + streams; streams / "
                             f"information content = {ratio}")
        return notes


def run(path: str, overrides=(), out="runs", resume=False, quiet=False) -> Path:
    return Runner(load_pipeline(path, overrides), Path(out), resume=resume, quiet=quiet).run()

__getattr__ = moved(__name__, {name: "nc_core.models" for name in ("PIPELINE_FILE", "build_codec", "load_model")})
