"""``nc run``: train (or resume, or load), evaluate on real bytes, compare with baselines, report.

Layout of ``OUT/<name>/<run-id>/``: ``pipeline.yaml`` (resolved), ``results.json``,
``report.md``, ``rd.png``, ``baselines.json`` and, per model, ``checkpoint.pt`` (when trained),
``model.pt``, ``model.json`` — in the run directory itself, or in one sub-directory per sweep
point. A ``--resume`` that changes only the ``evaluate`` section re-evaluates the run's models
into ``eval-<hash>/`` inside the run directory (same layout, no models), leaving the run's own
files as they were; one that changes the settings of a training stage (``train.then``) that no
point has started yet continues with the new settings; one that changes anything else a model
depends on is refused before any write.

Lossy and lossless pipelines take the same path; what differs (test data, evaluation, result
rows, baselines, report) is a :class:`Lossy` or :class:`Lossless` object chosen once per run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from nc_core import distributed, models
from nc_core._deprecation import moved
from nc_core.contracts import LearnedCodec, LosslessCodec, VideoCodec
from nc_core.devices import resolve_device
from nc_core.errors import UserError
from nc_core.files import atomic_write, expand_path
from nc_core.imaging import as_items
from nc_core.pipeline import Pipeline, PipelineError, build, load_pipeline
from nc_core.runner import report
from nc_core.runner.evaluate import (
    as_curve,
    baseline_curve,
    baseline_sequences_curve,
    codec_point,
    evaluate_lossless,
    evaluate_lossless_baseline,
    sequences_point,
)
from nc_core.runner.train import CHECKPOINT, finalize, train

RESULTS = "results.json"
REFINED_RESULTS = "results-refined.json"  # evaluate.refine: refined codec on its image subset
CODING_RESULTS = "results-{}.json"  # an earlier training stage or a decoder variant (Runner._codings)
RUNG_RESULTS = "results-quality={}.json"  # another rung of a variable-rate model's ladder (Runner._rungs)
RUNG_CODING_RESULTS = "results-{}-quality={}.json"  # another coding (CODING_RESULTS) at that rung
BASELINES = "baselines.json"  # the baseline curves, as plotted
REPORT, PLOT = "report.md", "rd.png"
STAGE_DIR = "stage{}"  # a multi-stage model's earlier stages: stage1/, stage2/, ... (the last: the model itself)
#: top-level pipeline keys a ``--resume`` may change: evaluation, and where training runs.
#: Every other key (codec, init, data, train, seed, sweep, …) defines the run's models.
RESUMABLE = ("evaluate", "device")


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
        raise UserError(f"--resume: no earlier run in {base}")
    return runs[-1]


_ABSENT = object()


def _show(value) -> str:
    text = "absent" if value is _ABSENT else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(old, new, path: tuple = ()) -> list[str]:
    """``key.path (old -> new)`` for every leaf where two resolved configs differ (lists
    compare whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        return [d for k in keys for d in differences(old.get(k, _ABSENT), new.get(k, _ABSENT), (*path, k))]
    return [] if old == new else [f"{'.'.join(map(str, path))} ({_show(old)} -> {_show(new)})"]


@dataclass
class Point:
    """One model's outcome: its label, its evaluation (as its kind reports it), its training budget."""

    label: str
    result: object
    budget: dict
    refinement: dict | None = None  # evaluate.refine (lossy only)
    codings: dict | None = None  # label -> mean point of each other coding (lossy only, see Runner._codings)
    rung_of: str | None = None  # another rung of the model of that point (a variable-rate codec): no budget of its own


class Lossy:
    """Images: one mean R-D point per model, curves against the baselines, BD-rates."""

    unit = "images"

    def test_data(self, cfg: dict):
        return _test_images(cfg)

    def check(self, codec, data, suffix: str) -> None:
        """Nothing to check: a lossy image codec takes any RGB image (it pads what it needs)."""

    def evaluate(self, runner: Runner, codec, cfg: dict, suffix: str, data, metrics, path: Path, budget: dict):
        """Code every test image for real; write the point's ``results.json``; its mean point."""
        runner.log(f"{suffix or cfg['name']}: evaluating on {len(data)} images")
        rows, point = codec_point(codec, data, metrics, device=resolve_device(cfg["device"]))
        report.write_results_json(path, cfg["name"], runner.describe(f"nc {cfg['codec']['use']} {suffix}".strip()),
                                  [point], per_image=rows)
        return point

    def reuse(self, doc: dict):
        return {k: v[0] for k, v in doc["results"].items()}

    def baseline(self, runner: Runner, codecs, data, metrics):
        runner.log(f"baseline {codecs[0].label}: {len(codecs)} qualities x {len(data)} images")
        return baseline_curve(codecs, data, metrics)

    def more_report(self, runner: Runner, curves: list[dict]) -> list[str]:
        """Sections of report.md after the curves' tables (and the files they show)."""
        return []

    def write(self, runner: Runner, cfg: dict, points: list[Point], baselines: list, data) -> None:
        out = runner.out_dir
        curve = as_curve(cfg["name"], "nc", [p.result for p in points], [p.label for p in points])
        rows = [{k: curve[k][i] for k in curve if k not in report.NOT_METRICS} for i in range(len(curve["bpp"]))]
        if cfg.get("sweep") or len(points) > 1 or not (out / RESULTS).exists():  # one point: its file is this one
            report.write_results_json(out / RESULTS, cfg["name"], runner.describe(f"nc {cfg['codec']['use']}"),
                                      rows)
        atomic_write(out / BASELINES, json.dumps(baselines, indent=2) + "\n")
        curves = [curve, *baselines]
        budget = budget_note([p.budget for p in points if p.rung_of is None])
        coder = cfg["codec"].get("coder", {}).get("use", "?")
        notes = [f"codec: {cfg['codec']['use']} with {coder} coding; {len(data)} test {self.unit}; every rate is "
                 "the mean size of real nc files, decoded and checked bit-exact against the evaluation "
                 "reconstruction", budget]
        if len(curve["bpp"]) < 2:
            notes.append("BD-rates need at least two nc rate points: add a `sweep:` (e.g. of train.loss.lmbda)")
        if "header_bytes" in curve and "ideal_bits" in curve:
            for label, nbytes, header, ideal in zip(curve["labels"], curve["bytes"], curve["header_bytes"],
                                                    curve["ideal_bits"]):
                ratio = f"{(nbytes - header) * 8 / ideal:.4f}" if 0 < ideal < float("inf") else "unknown"
                notes.append(f"{label}: mean file {nbytes:.0f} B = header {header:.1f} B + streams; streams / "
                             f"information content = {ratio}")
        for label in dict.fromkeys(k for p in points for k in p.codings or {}):
            have = [p for p in points if label in (p.codings or {})]
            other = as_curve(f"{cfg['name']} {label}", "nc", [p.codings[label] for p in have], [p.label for p in have])
            curves.append(other)
            if cfg.get("sweep") or len(have) > 1 or not (out / CODING_RESULTS.format(label)).exists():
                rows = [{k: other[k][i] for k in other if k not in report.NOT_METRICS}
                        for i in range(len(other["bpp"]))]
                report.write_results_json(out / CODING_RESULTS.format(label), other["name"],
                                          runner.describe(f"nc {cfg['codec']['use']} {label}"), rows)
        if any(p.codings for p in points):
            base = runner.pipeline.variants(cfg)[0][0]
            notes.append(f"curve {cfg['name']}: the trained model{f' ({base})' if base else ''}; the curves named "
                         f"{cfg['name']} <label> beside it code the same test {self.unit} with an earlier training stage's "
                         "model (stage<k>) or a variant of the decoder (the same weights), each file decoded and checked")
        refinements = [p.refinement for p in points if p.refinement]
        if refinements:
            refined = as_curve(f"{cfg['name']} refined", "nc", [r["refined"] for r in refinements],
                               [r["label"] for r in refinements])
            if all(r["images"] == len(data) for r in refinements):
                curves.append(refined)  # comparable with the others: same images
            notes += refine_notes(refinements)
        report.plot_rd(out / PLOT, curves)
        report.write_report_md(out / REPORT, runner.title(cfg), curves, notes=runner.preamble() + notes,
                               budget=budget, sections=self.more_report(runner, curves))
        for row in report.bd_table(curves):
            if row["curve"] == cfg["name"]:
                runner.log(f"BD-rate (PSNR) vs {row['anchor']}: {report.pct(row['bd_rate_psnr'])}, "
                           f"(MS-SSIM) {report.pct(row['bd_rate_ms_ssim'])}")
        runner.log(budget)


class Sequences:
    """A video dataset's test sequences, read afresh (frame by frame) for every model."""

    def __init__(self, dataset, limit: int | None):
        self.dataset, self.limit = dataset, limit
        self.names = [name for name, _ in self]

    def __iter__(self):
        for i, item in enumerate(self.dataset.sequences()):
            if self.limit is not None and i >= self.limit:
                return
            yield item

    def __len__(self) -> int:
        return len(self.names)


class Video(Lossy):
    """Frame sequences: each coded as one file, frame by frame, decoded and checked; one mean
    R-D point per model (the mean over sequences), written like the image kind's."""

    unit = "sequences"

    def test_data(self, cfg: dict):
        dataset = build(cfg["data"]["test"], "dataset")
        try:
            return Sequences(dataset, cfg["evaluate"].get("max_images"))
        except TypeError as exc:
            raise UserError(f"data.test: a video codec is evaluated on frame sequences: {exc}") from None

    def check(self, codec, data, suffix: str) -> None:
        if not isinstance(codec, VideoCodec):
            raise UserError(f"codec {codec.name!r} codes images, not frame sequences")

    def evaluate(self, runner: Runner, codec, cfg: dict, suffix: str, data, metrics, path: Path, budget: dict):
        """Code every test sequence for real; write the point's ``results.json``; its mean point."""
        runner.log(f"{suffix or cfg['name']}: evaluating on {len(data)} sequences")
        rows, point = sequences_point(codec, data, metrics, device=resolve_device(cfg["device"]))
        report.write_results_json(path, cfg["name"], runner.describe(f"nc {cfg['codec']['use']} {suffix}".strip()),
                                  [point], per_image=rows)
        return point | {"per_sequence": [_summary(r) for r in rows]}

    def reuse(self, doc: dict):
        return super().reuse(doc) | {"per_sequence": [_summary(r) for r in doc["per_image"]]}

    def baseline(self, runner: Runner, codecs, data, metrics):
        runner.log(f"baseline {codecs[0].label}: {len(codecs)} qualities x {len(data)} sequences")
        return baseline_sequences_curve(codecs, data, metrics)

    def more_report(self, runner: Runner, curves: list[dict]) -> list[str]:
        """Per sequence: an R-D plot ``rd-<sequence>.png``, the model's BD-rates, every curve's points."""
        plots = {}
        for name, seq in report.sequence_curves(curves).items():
            plots[name] = f"rd-{name}.png"
            report.plot_rd(runner.out_dir / plots[name], seq, title=name)
        for row in report.sequence_bd_rows(curves):
            runner.log(f"{row['sequence']}: BD-rate (PSNR YUV) vs {row['anchor']}: "
                       f"{report.pct(row['bd_rate_psnr_yuv'])}")
        return report.sequence_sections(curves, plots)


def _summary(row: dict) -> dict:
    """A sequence's row without its per-frame records."""
    return {k: v for k, v in row.items() if k != "per_frame"}


class Lossless:
    """Sets of items coded as one file per model and coding variant, against lossless baselines."""

    def test_data(self, cfg: dict):
        return as_items(_test_images(cfg))

    def check(self, codec, data, suffix: str) -> None:
        """Items fit the codec: its fixed item shape and value range."""
        where = f" (sweep point {suffix})" if suffix else ""
        shape = (data.shape[3], *data.shape[1:3])
        if shape != tuple(codec.shape):
            raise UserError(f"data.test: items are {list(shape)} (C x H x W) but codec.shape is "
                            f"{list(codec.shape)}{where}")
        if data.size and int(data.max()) > codec.levels:
            raise UserError(f"data.test: item values reach {int(data.max())} but codec.levels is "
                            f"{codec.levels}{where} (binarize the data, or raise levels)")

    def evaluate(self, runner: Runner, codec, cfg: dict, suffix: str, data, metrics, path: Path, budget: dict):
        """Code all items as one file with the model and with each coding variant (same
        weights), decode and check; write the point's ``results.json``; its rows."""
        rows = []
        for i, (label, variant_cfg) in enumerate(runner.pipeline.variants(cfg)):
            variant = models.build_codec(variant_cfg) if i else codec
            if i:
                variant.load_state_dict(codec.state_dict())
            name = ",".join(x for x in (suffix, label) if x) or cfg["name"]
            runner.log(f"{name}: coding {len(data)} items as one file")
            rows.append({"label": name} | distributed.on_main(lambda v=variant: evaluate_lossless(v, data)))
        doc = {"name": cfg["name"], "kind": "lossless", "results": rows, "training": budget}
        atomic_write(path, json.dumps(report.jsonable(doc), indent=2) + "\n")
        return rows

    def reuse(self, doc: dict):
        return doc["results"]

    def baseline(self, runner: Runner, codecs, data, metrics):
        runner.log(f"baseline {codecs[0].label} on {len(data)} items")
        return distributed.on_main(lambda: evaluate_lossless_baseline(codecs[0], data)) | {"quality": codecs[0].quality}

    def write(self, runner: Runner, cfg: dict, points: list[Point], baselines: list, data) -> None:
        out = runner.out_dir
        rows = [row for p in points for row in p.result]
        doc = {"name": cfg["name"], "kind": "lossless", "results": rows}
        atomic_write(out / RESULTS, json.dumps(report.jsonable(doc), indent=2) + "\n")
        atomic_write(out / BASELINES, json.dumps(report.jsonable(baselines), indent=2) + "\n")
        coder = cfg["codec"].get("coder", {}).get("use", "?")
        test = {k: v for k, v in cfg["data"]["test"].items() if k != "batch"}
        budget = budget_note([p.budget for p in points])
        notes = [f"codec: {cfg['codec']['use']} with {coder} coding; {len(data)} test items coded as one file "
                 "per codec, decoded and checked value for value; every rate counts every byte of that file",
                 f"test data: {json.dumps(test)}", budget]
        report.write_lossless_report_md(out / REPORT, runner.title(cfg), rows, baselines, runner.preamble() + notes)
        for row in rows:
            runner.log(f"{row['label']}: {row['bits_per_dim']:.4f} bits/dim")
        runner.log(budget)


def _test_images(cfg: dict) -> list:
    images = list(build(cfg["data"]["test"], "dataset").images())
    if cfg["evaluate"].get("max_images"):
        images = images[: cfg["evaluate"]["max_images"]]
    return images


def budget_note(budgets: list[dict]) -> str:
    """What the report's models cost to train, e.g. ``training budget: 3 model(s), 1200 steps in
    all, 3.1 min (cpu x2 threads)``; models loaded through ``init`` say where from, and what
    training their ``model.json`` records."""
    trained = [b for b in budgets if b.get("steps")]
    loaded = [b for b in budgets if not b.get("steps") and b.get("init")]
    parts = []
    if trained:
        steps = sum(b["steps"] for b in trained)
        minutes = sum(b.get("train_seconds", 0.0) for b in trained) / 60
        where = ", ".join(sorted({f"{b.get('device', 'cpu')} x{b.get('threads', '?')} threads" for b in trained}))
        parts.append(f"{len(trained)} model(s), {steps} steps in all, {minutes:.1f} min ({where})")
    if loaded:
        earlier = [b["earlier"] for b in loaded if b.get("earlier")]
        spent = (f"; their model.json files record {sum(e.get('steps', 0) for e in earlier)} steps, "
                 f"{sum(e.get('train_seconds', 0.0) for e in earlier) / 60:.1f} min" if earlier else "")
        parts.append(f"{len(loaded)} model(s) not trained here, weights from "
                     f"{', '.join(b['init'] for b in loaded)}{spent}")
    untrained = len(budgets) - len(trained) - len(loaded)
    if untrained:
        parts.append(f"{untrained} model(s) evaluated untrained (no train section, no init)")
    return "training budget: " + "; ".join(parts)


def refine_notes(refinements: list[dict]) -> list[str]:
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


class Runner:
    def __init__(self, pipeline: Pipeline, out: Path, resume: bool = False, quiet: bool = False):
        self.pipeline, self.resume, self.quiet = pipeline, resume, quiet
        self.base = Path(out) / pipeline.config["name"]
        # rank 0 finds the run, the other processes take its word (their clocks and views may differ)
        self.run_dir = distributed.on_main(lambda: latest_run_dir(self.base)) if resume else None  # created once checks pass
        self.out_dir: Path | None = None  # evaluation files: the run dir, or its eval-<hash>/
        self.changed: list[str] = []  # evaluate keys a --resume changed
        self.restaged: list[str] = []  # keys of training stages, not yet started, a --resume changed

    def log(self, message: str) -> None:
        if not self.quiet and distributed.current().main:
            print(message, flush=True)

    def preflight(self, runs) -> tuple[list, list]:
        """The metrics and the baselines (each at every quality), before any work. Loading the
        pipeline built every component once and checked the rules across sections (a missing
        folder, an unusable distortion, a bad baseline quality, a lossy baseline for a lossless
        codec, ...), reporting every problem at once, located; ``Pipeline.check`` does that
        for a pipeline loaded without it. Only the device belongs to this machine: checked here."""
        self.pipeline.check()
        codec = models.build_codec(self.pipeline.config)
        self.lossless, self.video = isinstance(codec, LosslessCodec), isinstance(codec, VideoCodec)
        for _, cfg in runs:  # training and an image codec's evaluation run there
            resolve_device(cfg["device"])
        cfg0 = self.pipeline.config
        baselines = [[build(entry, "baseline", quality=q) for q in entry["qualities"]]
                     for entry in cfg0["evaluate"]["baselines"]]
        for entry, codecs in zip(cfg0["evaluate"]["baselines"], baselines):
            if codecs and codecs[0].video != self.video:
                what = "a video baseline" if codecs[0].video else "an image baseline"
                raise UserError(f"evaluate.baselines: {entry['use']!r} is {what}; this pipeline's codec codes "
                                f"{'frame sequences' if self.video else 'images'}")
        return self._metrics(cfg0), baselines

    def run(self) -> Path:
        """Train (or load) and evaluate every point, then the baselines; write the outputs.
        Returns the folder holding them (the run directory, or its ``eval-<hash>/``)."""
        cfg0 = self.pipeline.config
        if self.resume:
            self._check_resume()  # before anything is written
        runs = self.pipeline.runs()
        metrics, baselines = self.preflight(runs)
        kind = Lossless() if self.lossless else Video() if self.video else Lossy()
        data = kind.test_data(cfg0)
        for i, (suffix, cfg) in enumerate(runs):
            kind.check(models.build_codec(cfg), data, suffix)
            if not (i and cfg.get("train", {}).get("warm_start")):  # warm points start from the previous one
                self._check_init(cfg, suffix)
        if self.run_dir is None:
            self.run_dir = distributed.on_main(lambda: new_run_dir(self.base))
        self.out_dir = self.run_dir / f"eval-{self._evaluate_hash()}" if self.changed else self.run_dir
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.restaged or not (self.out_dir / models.PIPELINE_FILE).exists():  # a resumed run keeps its record
            atomic_write(self.out_dir / models.PIPELINE_FILE, self.pipeline.to_yaml())
        points, previous = [], None
        for suffix, cfg in runs:
            warm = previous if cfg.get("train", {}).get("warm_start") else None
            point = self._point(kind, cfg, suffix, data, metrics, warm)
            points += [point, *self._rungs(kind, cfg, suffix, point, data, metrics)]
            previous = self.run_dir / suffix
        kind.write(self, cfg0, points, [kind.baseline(self, codecs, data, metrics) for codecs in baselines], data)
        self.log(f"results: {self.out_dir}")
        return self.out_dir

    # -- resume ----------------------------------------------------------------------------------
    def _check_resume(self) -> None:
        """Compare the resumed run's resolved pipeline with this one. A difference in anything
        its models depend on is refused, naming every differing key; a difference only in
        ``evaluate`` re-evaluates into ``eval-<hash>/``."""
        stored_path = self.run_dir / models.PIPELINE_FILE
        try:
            stored = yaml.safe_load(stored_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise UserError(f"--resume: cannot read {stored_path} ({type(exc).__name__})") from None
        if not isinstance(stored, dict):
            raise UserError(f"--resume: {stored_path} is not a resolved pipeline")
        stored = _resolved_again(stored_path, stored)
        new = yaml.safe_load(self.pipeline.to_yaml())
        stored_stages, new_stages = _later_stages(stored), _later_stages(new)
        keys = list(stored) + [k for k in new if k not in stored]
        fixed = [d for k in keys if k not in RESUMABLE
                 for d in differences(stored.get(k, _ABSENT), new.get(k, _ABSENT), (k,))]
        if len(stored_stages) != len(new_stages):
            fixed.append(f"train.then ({len(stored_stages)} -> {len(new_stages)} stages)")
        else:
            for k, (old, now) in enumerate(zip(stored_stages, new_stages), 2):
                changed = differences(old, now, ("train", "then", k - 2))
                if changed and self._stage_started(k, len(new_stages) + 1):
                    fixed += [f"{d} (stage {k} has started)" for d in changed]
                else:
                    self.restaged += changed
        if fixed:
            raise UserError(f"--resume: the pipeline differs from {self.run_dir}: {', '.join(fixed)}; "
                            "start a new run (without --resume)")
        self.changed = differences(stored.get("evaluate", _ABSENT), new.get("evaluate", _ABSENT), ("evaluate",))
        if self.restaged:
            self.log(f"--resume: settings of stages that have not started changed: {', '.join(self.restaged)}")

    def _stage_started(self, k: int, count: int) -> bool:
        """Whether training stage ``k`` of ``count`` has a checkpoint or a model in any point."""
        for suffix, _ in self.pipeline.runs():
            sub = self.run_dir / suffix
            where = sub if k == count else sub / STAGE_DIR.format(k)
            if (where / CHECKPOINT).exists() or (where / models.MODEL_INFO).exists():
                return True
        return False

    def _evaluate_hash(self) -> str:
        text = json.dumps(self.pipeline.config["evaluate"], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def title(self, cfg: dict) -> str:
        return f"nc run: {cfg['name']}" + (" (re-evaluation)" if self.changed else "")

    def describe(self, text: str) -> str:
        return f"{text} (re-evaluation)" if self.changed else text

    def preamble(self) -> list[str]:
        """Report notes that say what a re-evaluation is."""
        if not self.changed:
            return []
        return [f"re-evaluation of the models of {self.run_dir}, whose own results are untouched; "
                f"changed: {', '.join(self.changed)}"]

    # -- one model -------------------------------------------------------------------------------
    def _point(self, kind, cfg: dict, suffix: str, data, metrics, warm: Path | None) -> Point:
        sub = self.run_dir / suffix  # the model's files ("" leaves the run dir itself)
        out = self.out_dir / suffix  # its evaluation files
        shape = models.build_codec(cfg)  # a ladder's point is its default rung: labelled as the others are
        rung = f"quality={shape.quality}" if _qualities(shape) > 1 else None
        label = " ".join(filter(None, (suffix, rung))) or cfg["name"]
        results_path = out / RESULTS
        if self.resume and results_path.exists() and (sub / models.MODEL_INFO).exists():
            if any(out.glob(RUNG_RESULTS.format("*"))):  # a ladder's: results.json may hold the curve
                results_path = out / RUNG_RESULTS.format(shape.quality)
            self.log(f"{label}: already finished, reusing {results_path}")
            budget = json.loads((sub / models.MODEL_INFO).read_text())["training"]
            refinement = self._evaluate_refined(cfg, suffix, sub, out, data, metrics)
            return Point(label, kind.reuse(json.loads(results_path.read_text())), budget, refinement,
                         self._evaluate_codings(kind, cfg, suffix, sub, out, data, metrics, shape))
        sub.mkdir(exist_ok=True)
        out.mkdir(exist_ok=True)
        if suffix:
            if self.restaged or not (sub / models.PIPELINE_FILE).exists():  # names the model's codec (load_model)
                atomic_write(sub / models.PIPELINE_FILE, self.pipeline.to_yaml(cfg))
            if out != sub:
                atomic_write(out / models.PIPELINE_FILE, self.pipeline.to_yaml(cfg))
        codec, budget = self._model(cfg, suffix, sub, warm)
        result = kind.evaluate(self, codec, cfg, suffix, data, metrics, results_path, budget)
        return Point(label, result, budget, self._evaluate_refined(cfg, suffix, sub, out, data, metrics),
                     self._evaluate_codings(kind, cfg, suffix, sub, out, data, metrics, shape))

    def _rungs(self, kind, cfg: dict, suffix: str, point: Point, data, metrics) -> list[Point]:
        """A variable-rate model's other rungs (``qualities`` > 1): each evaluated into its own
        ``results-quality=K.json`` and added to the curve as a point of the same model; its other
        codings (:meth:`_codings`) likewise, into ``results-<label>-quality=K.json``."""
        if not isinstance(kind, Lossy):
            return []
        sub, out = self.run_dir / suffix, self.out_dir / suffix
        shape = models.build_codec(cfg)  # the ladder is in the configuration: no weights read for it
        if _qualities(shape) < 2:
            return []
        for own, mine in [(RESULTS, RUNG_RESULTS), *((CODING_RESULTS.format(c), RUNG_CODING_RESULTS.format(c, "{}"))
                                                     for c in point.codings or {})]:
            if not (out / mine.format(shape.quality)).exists():  # the point's own files, kept beside its rungs'
                atomic_write(out / mine.format(shape.quality), (out / own).read_text())
        points, codec = [], None

        def coded(path, make, label, k):
            if self.resume and path.exists():
                return kind.reuse(json.loads(path.read_text()))
            return kind.evaluate(self, make().with_quality(k), cfg, label, data, metrics, path, {})

        for k in range(shape.qualities):
            if k == shape.quality:
                continue  # the point itself
            label = " ".join(filter(None, (suffix, f"quality={k}")))
            if codec is None and not (self.resume and (out / RUNG_RESULTS.format(k)).exists()):
                codec = models.load_model(sub)  # the weights, once, only if a rung is coded
            result = coded(out / RUNG_RESULTS.format(k), lambda c=codec: c, label, k)
            codings = {c: coded(out / RUNG_CODING_RESULTS.format(c, k), make, f"{label} {c}", k)
                       for c, make in self._codings(cfg, sub) if c in (point.codings or {})}
            points.append(Point(label, result, {}, codings=codings or None, rung_of=point.label))
        return points

    def _codings(self, cfg: dict, sub: Path) -> list[tuple[str, object]]:
        """``(label, make_codec)`` of every other coding a lossy model is evaluated with: each
        earlier training stage's model (``stage1``, ...: ``train.then``) and each
        ``evaluate.variants`` entry (the decoder built another way, the same weights)."""
        def stage(name):
            return models.load_model(sub / name)

        def variant(config):
            return models.load_state(models.build_codec(config), sub / models.MODEL).eval()

        names = [STAGE_DIR.format(k) for k in range(1, len(cfg.get("train", {}).get("then", [])) + 1)]
        stages = [(name, lambda n=name: stage(n)) for name in names]
        variants = [(label, lambda c=config: variant(c)) for label, config in self.pipeline.variants(cfg)[1:]]
        return stages + variants

    def _evaluate_codings(self, kind, cfg, suffix, sub: Path, out: Path, data, metrics, shape) -> dict:
        """Evaluate the model's other codings (:meth:`_codings`) on the same images, each into
        its own ``results-<label>.json``; ``{label: mean point}``. ``shape``: the point's codec as
        built from ``cfg`` (its rung), so it is not built again."""
        if not isinstance(kind, Lossy):
            return {}  # a lossless model's variants are coded in its own evaluation
        points = {}
        for label, make in self._codings(cfg, sub):
            path = out / CODING_RESULTS.format(label)
            if _qualities(shape) > 1 and (out / RUNG_CODING_RESULTS.format(label, shape.quality)).exists():
                path = out / RUNG_CODING_RESULTS.format(label, shape.quality)  # results-<label>.json: the curve
            if self.resume and path.exists():
                points[label] = kind.reuse(json.loads(path.read_text()))
                continue
            points[label] = kind.evaluate(self, make(), cfg, " ".join(filter(None, (suffix, label))), data, metrics,
                                          path, {})
        return points

    def _model(self, cfg: dict, suffix: str, sub: Path, warm: Path | None):
        """The point's finished codec and its budget: loaded if an earlier attempt finished it,
        else trained (``train``), loaded from ``init`` or left untrained, then saved."""
        label = suffix or cfg["name"]
        if self.resume and (sub / models.MODEL_INFO).exists() and (sub / models.MODEL).exists():
            self.log(f"{label}: model finished earlier, loading {sub}")
            return models.load_model(sub), json.loads((sub / models.MODEL_INFO).read_text())["training"]
        torch.manual_seed(cfg["seed"])  # the initial weights follow the seed, not what ran before
        codec = models.build_codec(cfg)
        init = warm or self._init(cfg)
        if cfg.get("train"):
            budget = self._train(codec, cfg, sub, init, f"{cfg['name']} {suffix}".strip(), warm is not None)
            finalize(codec, sub, budget)
        elif init is not None:  # evaluate without training
            weights = init / models.MODEL if init.is_dir() else init
            models.load_state(codec, weights, what=f"init: {weights}", only=cfg.get("init_only"))
            info = weights.parent / models.MODEL_INFO
            final = weights.name == models.MODEL and info.exists()  # a finished model: tables frozen
            budget = {"steps": 0, "train_seconds": 0.0, "init": str(init)}
            if final:
                budget["earlier"] = json.loads(info.read_text()).get("training", {})
            self.log(f"{label}: evaluating {weights} without training")
            finalize(codec, sub, budget, update=not final)  # same tables, same weights hash
        else:
            budget = {"steps": 0, "train_seconds": 0.0}
            finalize(codec, sub, budget)
        return codec, budget

    @staticmethod
    def _init(cfg: dict) -> Path | None:
        """The weights a point starts from: ``init`` (or, in older pipelines, ``train.init``)."""
        given = [v for v in (cfg.get("init"), cfg.get("train", {}).get("init")) if v]
        if len(given) == 2:
            raise UserError("init and train.init are both set: keep init (train.init is its older spelling)")
        if not given:
            return None
        try:
            return models.model_dir(given[0]) if given[0].startswith(models.ZOO) else expand_path(given[0])
        except ValueError as exc:
            raise UserError(f"init: {exc}") from None

    def _check_init(self, cfg: dict, suffix: str = "") -> None:
        """A point's ``init`` exists and fits its codec, before any training starts. A resumed
        point that has started (a checkpoint or a finished model) continues from its own weights,
        so its ``init`` need not exist any more (a run carried to another machine without it)."""
        init = self._init(cfg)
        if init is None:
            return
        sub = self.run_dir / suffix if self.resume and self.run_dir is not None else None
        if sub is not None and ((sub / models.MODEL_INFO).exists() or any(sub.rglob(CHECKPOINT))):
            return
        weights = init / models.MODEL if init.is_dir() else init
        if not weights.exists() and init.is_dir():
            points = sorted(p.name for p in init.iterdir() if (p / models.MODEL).exists())
            hint = f"; pick one of its sweep points: {', '.join(points)}" if points else ""
            raise UserError(f"init: {init} holds no trained model ({models.MODEL}){hint}")
        if not weights.exists():
            raise UserError(f"init: {init}: no such file")
        models.load_state(models.build_codec(cfg), weights, what=f"init: {weights}", only=cfg.get("init_only"))

    def _train(self, codec, cfg: dict, sub: Path, init: Path | None, label: str, warm: bool = False) -> dict:
        """Train every stage in turn (``train`` then each of ``train.then``), each from the
        weights the one before left. Every stage but the last is finished in its own
        ``stage<k>/`` (a model of its own, evaluated beside the last) and checkpointed there,
        so a resume continues in whichever stage was interrupted."""
        tc = cfg["train"]
        train_data = build(cfg["data"]["train"], "dataset")
        device = resolve_device(cfg["device"])
        stages = [tc, *({**tc, **stage} for stage in tc.get("then", []))]
        summaries = []
        for k, stage in enumerate(stages, 1):
            where = sub if k == len(stages) else sub / STAGE_DIR.format(k)
            name = f"{label} {stage['name']}" if k > 1 else label
            if k < len(stages) and self.resume and (where / models.MODEL_INFO).exists():
                self.log(f"{name}: stage {k} finished earlier, loading {where}")
                models.load_state(codec, where / models.MODEL, what=f"{where}: {models.MODEL}")
                summaries.append(json.loads((where / models.MODEL_INFO).read_text())["training"])
                continue
            where.mkdir(exist_ok=True)
            summary = train(codec, train_data.batches, build(stage["loss"], "loss"), stage, where, seed=cfg["seed"] + k - 1,
                            device=device, resume=self.resume, quiet=self.quiet, log=self.log,
                            init=init if k == 1 else None, init_only=None if warm else cfg.get("init_only"),
                            label=name)
            summary |= {"device": str(device), "threads": torch.get_num_threads()}
            if k < len(stages):
                finalize(codec, where, summary)
                atomic_write(where / models.PIPELINE_FILE, self.pipeline.to_yaml(cfg))  # names the codec
            summaries.append(summary)
        if len(summaries) == 1:
            return summaries[0]
        total = {key: sum(s.get(key, 0.0) for s in summaries) for key in ("steps", "train_seconds", "train_cpu_seconds")}
        return total | {"final": summaries[-1]["final"], "device": str(device), "threads": torch.get_num_threads(),
                        "stages": summaries}

    def _metrics(self, cfg):
        specs = cfg["evaluate"]["metrics"]
        if not any(s["use"] == "bpp" for s in specs):
            specs = [{"use": "bpp"}, *specs]  # the rate is always reported
        return [build(spec, "metric") for spec in specs]

    def _refined(self, codec, cfg):
        """The refined view of ``codec`` for ``evaluate.refine`` (user errors if impossible)."""
        refine = cfg["evaluate"]["refine"]
        if not cfg.get("train"):
            raise UserError("evaluate.refine: needs a train section (its loss says what to refine for)")
        try:
            return codec.refined(build(cfg["train"]["loss"], "loss"), refine["steps"], refine["lr"])
        except TypeError as exc:
            raise UserError(f"evaluate.refine: {exc}") from None

    def _evaluate_refined(self, cfg, suffix, sub: Path, out: Path, images, metrics) -> dict | None:
        """With ``evaluate.refine``: plain and refined codec on the same images,
        ``{"label", "plain", "refined", "images", "steps"}``."""
        refine = cfg["evaluate"].get("refine")
        if not refine:
            return None
        subset = images[: refine.get("max_images") or len(images)]
        path = out / REFINED_RESULTS
        label = suffix or cfg["name"]
        if self.resume and path.exists():
            doc = json.loads(path.read_text())
            return {"label": label, **doc["comparison"]}
        codec = models.load_model(sub)
        self.log(f"{label}: refining latents ({refine['steps']} steps) on {len(subset)} images")
        device = resolve_device(cfg["device"])
        _, plain = codec_point(codec, subset, metrics, device)
        rows, refined = codec_point(self._refined(codec, cfg), subset, metrics, device)
        comparison = {"plain": plain, "refined": refined, "images": len(subset), "steps": refine["steps"]}
        report.write_results_json(path, cfg["name"], f"nc {cfg['codec']['use']} {suffix} refined".strip(),
                                  [refined], per_image=rows, extra={"comparison": comparison})
        return {"label": label, **comparison}


def run(path: str, overrides=(), out="runs", resume=False, quiet=False) -> Path:
    return Runner(load_pipeline(path, overrides), Path(out), resume=resume, quiet=quiet).run()

__getattr__ = moved(__name__, {name: "nc_core.models" for name in ("PIPELINE_FILE", "build_codec", "load_model")})


def _later_stages(cfg: dict) -> list:
    """Take ``train.then`` (the stages after the first) out of a resolved pipeline and return
    it: a --resume compares each later stage on its own."""
    train = cfg.get("train")
    return train.pop("then", []) if isinstance(train, dict) else []


def _resolved_again(path: Path, stored: dict) -> dict:
    """A run's stored ``pipeline.yaml`` resolved with today's schema, so that keys a later nc
    added at their defaults are no difference; as written if it no longer validates (the
    comparison then names what differs)."""
    try:
        return yaml.safe_load(load_pipeline(path, construct=False).to_yaml())
    except PipelineError:
        return stored


def _qualities(codec) -> int:
    """The rungs of a codec's ladder (1: fixed rate; image and video codecs may have one)."""
    return codec.qualities if isinstance(codec, (LearnedCodec, VideoCodec)) else 1
