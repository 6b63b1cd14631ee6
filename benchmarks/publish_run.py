"""Copy a finished run's results (not its weights) into benchmarks/results/NAME, the layout
benchmarks/report.py reads: the run's own files (a run without a sweep: its ``model.json``
too, the training budget), and each sweep point's files flattened to
``model-<point>.json``, ``results-<point>.json``, ``results-refined-<point>.json`` and, for
its other codings (an earlier training stage, a decoder variant), ``results-<label>-<point>.json``
and ``model-stage<k>-<point>.json``.

    python benchmarks/publish_run.py runs/kodak-charm/<run-id> kodak-charm
    python benchmarks/report.py      # then regenerate the pages from it

The target folder is replaced as a whole, so no file of an earlier run survives beside the
new ones. Checkpoints and weights are never copied (they are not results).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
RUN_FILES = ("pipeline.yaml", "model.json", "results.json", "baselines.json", "report.md", "rd.png")  # and rd-<sequence>.png
POINT_FILES = {"model.json": "model-{}.json", "results.json": "results-{}.json",
               "results-refined.json": "results-refined-{}.json"}


def publish(run_dir: Path, name: str) -> Path:
    if not (run_dir / "results.json").is_file():
        raise SystemExit(f"{run_dir}: not a finished run (no results.json)")
    stage = Path(tempfile.mkdtemp(dir=RESULTS, prefix=f".{name}-"))
    for file in [*RUN_FILES, *(p.name for p in run_dir.glob("results-*.json")), *(p.name for p in run_dir.glob("rd-*.png"))]:
        if (run_dir / file).is_file():
            shutil.copyfile(run_dir / file, stage / file)
    for point in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(("eval-", "stage"))):
        for file, pattern in POINT_FILES.items():
            if (point / file).is_file():
                shutil.copyfile(point / file, stage / pattern.format(point.name))
        for other in sorted(point.glob("results-*.json")):  # other codings of the point's model
            if other.name not in POINT_FILES:
                shutil.copyfile(other, stage / f"{other.stem}-{point.name}.json")
        for earlier in sorted(point.glob("stage*/model.json")):  # earlier training stages
            shutil.copyfile(earlier, stage / f"model-{earlier.parent.name}-{point.name}.json")
    target = RESULTS / name
    if target.exists():
        shutil.rmtree(target)
    stage.rename(target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name", help="the folder under benchmarks/results/")
    args = parser.parse_args(argv)
    target = publish(args.run_dir, args.name)
    print(f"{args.run_dir} -> {target}: {len(list(target.iterdir()))} files", file=sys.stderr)


if __name__ == "__main__":
    main()
