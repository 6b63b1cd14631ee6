"""`nc run --resume` (continue, refuse a changed model, re-evaluate a changed evaluation),
models that fail to load, evaluating a model without training it, and run labels."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from nc_core.cli import main
from nc_core.pipeline import load_pipeline

SWEEP = """\
  baselines: [{use: jpeg, qualities: [10, 60]}]
sweep:
  train.loss.lmbda: [0.005, 0.05]
"""


def run_nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def snapshot(folder) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_pipeline_text):
    """A finished two-point sweep (warm-started) with a JPEG baseline."""
    root = tmp_path_factory.mktemp("resume")
    pipeline = root / "tiny.yaml"
    pipeline.write_text(tiny_pipeline_text.replace("  checkpoint_every: 2\n", "  checkpoint_every: 2\n  warm_start: true\n")
                        + SWEEP)
    assert run_nc("run", pipeline, "--out", root / "runs", "--quiet")[0] == 0
    (run_dir,) = (root / "runs" / "tiny").iterdir()
    return {"root": root, "pipeline": pipeline, "run_dir": run_dir}


@pytest.fixture
def copy_of(swept, tmp_path):
    """A private copy of the swept run (tests that resume it must not disturb the others)."""
    runs = tmp_path / "runs"
    shutil.copytree(swept["root"] / "runs", runs)
    (run_dir,) = (runs / "tiny").iterdir()
    return runs, run_dir


def _interrupted_at_step_2(tiny_pipeline, tmp_path, monkeypatch, more=()) -> tuple[list, Path]:
    """A 4-step run interrupted (Ctrl-C) after its step-2 checkpoint: ``(nc args, run dir)``."""
    from nc_core.runner import train

    args = ["run", tiny_pipeline, "--out", tmp_path / "runs", "--set", "train.steps=4", *more]
    save = train.atomic_save

    def interrupted_after_step_2(obj, path):
        save(obj, path)
        if obj["step"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "atomic_save", interrupted_after_step_2)
    assert run_nc(*args, "--quiet")[0] == 130
    monkeypatch.setattr(train, "atomic_save", save)
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    return args, run_dir


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(tiny_pipeline, tmp_path, monkeypatch):
    import torch

    args, run_dir = _interrupted_at_step_2(tiny_pipeline, tmp_path, monkeypatch)
    assert not (run_dir / "results.json").exists()
    code, stdout, _ = run_nc(*args, "--resume")
    assert code == 0 and "at step 2/4" in stdout
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"] == 4
    assert json.loads((run_dir / "model.json").read_text())["training"]["steps"] == 4
    assert (run_dir / "results.json").exists()


def test_a_started_run_resumes_without_its_init(swept, tiny_pipeline, tmp_path, monkeypatch):
    """``init`` seeds a run's first step only: once a checkpoint exists, a resume (on another
    machine, say) needs neither the file nor its folder; a fresh run still does."""
    init = tmp_path / "init"
    shutil.copytree(swept["run_dir"] / "lmbda=0.005", init)
    monkeypatch.chdir(tmp_path)
    args, run_dir = _interrupted_at_step_2(tiny_pipeline, tmp_path, monkeypatch, ["--set", f"init={init}"])
    shutil.rmtree(init)
    code, stdout, err = run_nc(*args, "--resume")
    assert code == 0 and "at step 2/4" in stdout, err
    code, _, err = run_nc(*args)
    assert code == 2 and f"init: {init}: no such file" in err, err


def test_a_run_from_an_older_nc_resumes_when_new_keys_take_their_defaults(tiny_pipeline, tmp_path, monkeypatch):
    """A key a later nc added (train.precision) is absent from an older run's pipeline.yaml;
    resuming with the key at its default is no change (a carried training run must resume)."""
    args, run_dir = _interrupted_at_step_2(tiny_pipeline, tmp_path, monkeypatch)
    stored = run_dir / "pipeline.yaml"
    older = [line for line in stored.read_text().splitlines() if "precision:" not in line]
    assert len(older) < len(stored.read_text().splitlines())
    stored.write_text("\n".join(older) + "\n")
    code, stdout, err = run_nc(*args, "--resume")
    assert code == 0 and "at step 2/4" in stdout, err
    code, _, err = run_nc(*args, "--set", "train.precision=bf16", "--resume")
    assert code == 2 and "train.precision" in err


@pytest.mark.slow
def test_a_snapshot_resumes_from_fp16_weights_without_the_optimizer(tiny_pipeline, tmp_path, monkeypatch):
    import torch

    from nc_core.runner import train

    out, carried = tmp_path / "runs", tmp_path / "carried"
    args = ["run", tiny_pipeline, "--set", "train.steps=4"]
    save = train.atomic_save

    def interrupted_after_step_2(obj, path):
        save(obj, path)
        if obj.get("step") == 2 and "optimizers" in obj:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "atomic_save", interrupted_after_step_2)
    assert run_nc(*args, "--out", out, "--quiet")[0] == 130
    monkeypatch.setattr(train, "atomic_save", save)
    (run_dir,) = (out / "tiny").iterdir()
    full = torch.load(run_dir / "checkpoint.pt", weights_only=True)

    code, stdout, _ = run_nc("snapshot", out / "tiny", "-o", carried)
    assert code == 0 and "2 files" in stdout, stdout  # pipeline.yaml and the checkpoint
    slim = torch.load(carried / "tiny" / run_dir.name / "checkpoint.pt", weights_only=True)
    assert set(slim) == {"model", "step", "elapsed", "cpu_seconds"} and slim["step"] == 2
    assert 0 < slim["cpu_seconds"] == full["cpu_seconds"]  # CPU time: what a paused process does not add
    for name, tensor in full["model"].items():
        assert slim["model"][name].dtype == (torch.float16 if tensor.is_floating_point() else tensor.dtype)
        assert torch.allclose(slim["model"][name].to(tensor.dtype), tensor, rtol=1e-3, atol=1e-4), name
    assert run_nc("snapshot", out / "tiny", "-o", carried)[0] == 2  # never over an earlier copy

    code, stdout, _ = run_nc(*args, "--out", carried, "--resume")
    assert code == 0 and "at step 2/4 from weights only" in stdout, stdout
    assert json.loads((carried / "tiny" / run_dir.name / "model.json").read_text())["training"]["steps"] == 4


def test_snapshot_refuses_what_is_not_a_run(tmp_path):
    code, _, stderr = run_nc("snapshot", tmp_path, "-o", tmp_path / "dest")
    assert code == 2 and "neither a run directory nor a folder of runs" in stderr
    assert not (tmp_path / "dest").exists()


@pytest.mark.slow
@pytest.mark.parametrize("overrides, named", [
    (["codec.transform.channels=4"], ["codec.transform.channels (8 -> 4)"]),
    (["data.test.split=train"], ["data.test.split (\"test\" -> \"train\")"]),
    (["train.steps=5", "seed=3"], ["train.steps (3 -> 5)", "seed (0 -> 3)"]),
    (["sweep.train.loss.lmbda=[0.005, 0.06]"], ["sweep.train.loss.lmbda ([0.005,0.05] -> [0.005,0.06])"]),
    (["init=elsewhere.pt", "evaluate.max_images=2"], ["init (absent -> \"elsewhere.pt\")"]),
])
def test_resume_refuses_a_changed_model_and_touches_nothing(swept, overrides, named):
    before = snapshot(swept["root"])
    sets = [a for o in overrides for a in ("--set", o)]
    code, _, err = run_nc("run", swept["pipeline"], "--out", swept["root"] / "runs", "--resume", "--quiet", *sets)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(swept["run_dir"]) in err and "start a new run" in err
    for key in named:
        assert key in err, err
    assert "evaluate" not in err  # only what blocks the resume is named
    assert snapshot(swept["root"]) == before  # every file byte-identical


@pytest.mark.slow
def test_resume_with_a_changed_evaluation_re_evaluates_beside_the_run(swept, copy_of):
    runs, run_dir = copy_of
    before = snapshot(run_dir)
    args = ["run", swept["pipeline"], "--out", runs, "--resume", "--set", "evaluate.metrics=[bpp, psnr, ms-ssim]"]
    code, stdout, err = run_nc(*args)
    assert code == 0, err
    assert "model finished earlier" in stdout and "warm start" not in stdout  # loaded, not retrained
    (eval_dir,) = run_dir.glob("eval-*")
    assert {k: v for k, v in snapshot(run_dir).items() if eval_dir.name not in k.parts} == before
    report = (eval_dir / "report.md").read_text()
    assert report.startswith("# nc run: tiny (re-evaluation)")
    assert "evaluate.metrics" in report and str(run_dir) in report
    results = json.loads((eval_dir / "results.json").read_text())
    assert "re-evaluation" in results["description"] and len(results["results"]["ms-ssim-rgb"]) == 2
    assert "ms-ssim-rgb" not in json.loads((run_dir / "results.json").read_text())["results"]
    assert (eval_dir / "rd.png").exists() and (eval_dir / "baselines.json").exists()
    assert not list(eval_dir.rglob("model.pt"))  # the models stay where they were trained
    # the same change again continues that re-evaluation; the original pipeline resumes the run itself
    assert run_nc(*args, "--quiet")[0] == 0 and len(list(run_dir.glob("eval-*"))) == 1
    assert run_nc("run", swept["pipeline"], "--out", runs, "--resume", "--quiet")[0] == 0
    after = snapshot(run_dir)
    assert all(after[k] == v for k, v in before.items() if k.suffix in (".pt", ".yaml") or k.name == "model.json")


@pytest.mark.slow
def test_a_model_that_fails_to_load_is_one_line(swept, tmp_path):
    source = swept["run_dir"] / "lmbda=0.005"
    image = tmp_path / "image.png"
    from PIL import Image

    from nc_core.components.datasets import Samples

    Image.fromarray(next(Samples(split="test").images())[1]).save(image)

    def compress(run_dir):
        code, _, err = run_nc("compress", "--model", run_dir, image, "-o", tmp_path / "x.nc")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert not (tmp_path / "x.nc").exists()
        return err

    def broken(name, change):
        run_dir = tmp_path / name
        shutil.copytree(source, run_dir)
        change(run_dir)
        return run_dir

    wider = broken("wider", lambda d: (d / "pipeline.yaml").write_text(
        (d / "pipeline.yaml").read_text().replace("channels: 8", "channels: 16")))
    err = compress(wider)
    assert f"{wider}: model.pt does not fit the pipeline's codec (size mismatch for transform." in err
    assert "the file has [8," in err and "the codec [16," in err

    truncated = broken("truncated", lambda d: (d / "model.pt").write_bytes((d / "model.pt").read_bytes()[:500]))
    assert f"{truncated}/model.pt: not a readable nc weights file" in compress(truncated)

    unknown = broken("unknown", lambda d: (d / "pipeline.yaml").write_text(
        (d / "pipeline.yaml").read_text().replace("use: factorized", "use: no-such-transform")))
    assert f"{unknown}: pipeline.yaml no longer validates" in compress(unknown)

    bare = broken("bare", lambda d: (d / "pipeline.yaml").unlink())
    assert f"{bare}: model.pt has no pipeline.yaml" in compress(bare)

    # decompress goes through the same loader
    assert run_nc("compress", "--model", source, image, "-o", tmp_path / "ok.nc")[0] == 0
    code, _, err = run_nc("decompress", tmp_path / "ok.nc", "-o", tmp_path / "ok.png", "--model", wider)
    assert code == 2 and "does not fit" in err and len(err.strip().splitlines()) == 1


def evaluate_only(tiny_pipeline_text: str, init) -> str:
    """The tiny pipeline without its train section and data.train, evaluating ``init``."""
    text = tiny_pipeline_text.replace("  train: {use: samples, split: train, patch: 32, batch: 2}\n", "")
    head, tail = text.split("train:\n", 1)
    return head + f"init: '{init}'\n" + "evaluate:\n" + tail.split("evaluate:\n", 1)[1]


@pytest.mark.slow
def test_evaluate_a_trained_model_without_training_it(swept, tmp_path, tiny_pipeline_text):
    source = swept["run_dir"] / "lmbda=0.05"
    pipeline = tmp_path / "eval.yaml"
    for n, init in enumerate((source, source / "model.pt")):
        pipeline.write_text(evaluate_only(tiny_pipeline_text, init))
        out = tmp_path / f"runs{n}"
        code, stdout, err = run_nc("run", pipeline, "--out", out)
        assert code == 0, err
        assert "without training" in stdout and "warm start" not in stdout
        (run_dir,) = (out / "tiny").iterdir()
        assert not (run_dir / "checkpoint.pt").exists()
        info, trained = (json.loads((d / "model.json").read_text()) for d in (run_dir, source))
        assert info["weights"] == trained["weights"]  # same tables, same hash: its files decode
        assert info["training"]["steps"] == 0 and info["training"]["earlier"]["steps"] == 3
        rows, trained_rows = (json.loads((d / "results.json").read_text())["per_image"] for d in (run_dir, source))
        assert [r["bytes"] for r in rows] == [r["bytes"] for r in trained_rows]  # the same files
        report = (run_dir / "report.md").read_text()
        assert "1 model(s) not trained here, weights from" in report and str(init) in report
        assert (run_dir / "rd.png").stat().st_size > 0


@pytest.mark.slow
def test_evaluate_without_training_builds_tables_only_for_bare_weights(swept, tmp_path, tiny_pipeline_text,
                                                                      monkeypatch):
    """A finished model.pt keeps its frozen tables (update() would make new ones, and a new
    weights hash, for a codec whose tables are not bit-reproducible); bare weights get them."""
    import torch

    from nc_core.components.codecs import TransformCoding

    calls = []
    update = TransformCoding.update
    monkeypatch.setattr(TransformCoding, "update", lambda self: (calls.append(1), update(self))[1])
    source = swept["run_dir"] / "lmbda=0.05"
    bare = tmp_path / "weights.pt"  # the last checkpoint's weights: no coding tables yet
    torch.save(torch.load(source / "checkpoint.pt", weights_only=True)["model"], bare)
    pipeline = tmp_path / "eval.yaml"
    for n, (init, updates) in enumerate(((source, []), (bare, [1]))):
        calls.clear()
        pipeline.write_text(evaluate_only(tiny_pipeline_text, init))
        assert run_nc("run", pipeline, "--out", tmp_path / f"runs{n}", "--quiet")[0] == 0
        assert calls == updates, init
    (run_dir,) = (tmp_path / "runs1" / "tiny").iterdir()
    assert json.loads((run_dir / "results.json").read_text())["per_image"][0]["bytes"] > 0


@pytest.mark.slow
def test_evaluate_without_training_refuses_weights_for_another_codec(swept, tmp_path, tiny_pipeline_text):
    pipeline = tmp_path / "eval.yaml"
    pipeline.write_text(evaluate_only(tiny_pipeline_text, swept["run_dir"] / "lmbda=0.05")
                        .replace("channels: 8", "channels: 16"))
    code, _, err = run_nc("run", pipeline, "--out", tmp_path / "runs", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "init: " in err and "does not fit" in err, err
    assert not (tmp_path / "runs").exists()  # refused before any run directory exists
    pipeline.write_text(evaluate_only(tiny_pipeline_text, tmp_path / "missing"))
    code, _, err = run_nc("run", pipeline, "--out", tmp_path / "runs", "--quiet")
    assert code == 2 and "no such file" in err and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_progress_bar_is_labelled_with_the_pipeline_name(tiny_pipeline, tmp_path):
    code, _, err = run_nc("run", tiny_pipeline, "--out", tmp_path / "runs")
    assert code == 0
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    assert "tiny: 100%" in err and run_dir.name not in err


@pytest.mark.slow
def test_sweep_report_gives_the_training_budget_beside_the_bd_rates(swept):
    report = (swept["run_dir"] / "report.md").read_text()
    table, after = report.split("## BD-rate", 1)[1].split("\n\n## ", 1)
    assert "| tiny | jpeg |" in table
    assert "nc training budget: 2 model(s), 6 steps in all" in table


def test_the_quickstart_is_a_warm_started_sweep_of_three_rates():
    pipeline = load_pipeline(Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml")
    runs = pipeline.runs()
    assert len(runs) >= 3 and pipeline.config["train"]["warm_start"]
    assert len({cfg["train"]["loss"]["lmbda"] for _, cfg in runs}) == len(runs)


def test_init_only_takes_the_named_parts_and_leaves_the_rest_fresh(swept, tmp_path, tiny_pipeline_text):
    """A new prior on trained transforms: ``init_only: [transform]`` loads the transform and
    leaves the prior where the seed put it; a part the file lacks is one line, before training."""
    import torch

    from nc_core import models

    source = swept["run_dir"] / "lmbda=0.05"
    trained = models.load_weights(source / "model.pt")
    pipeline = tmp_path / "part.yaml"
    pipeline.write_text(tiny_pipeline_text.replace("  steps: 3\n", "  steps: 1\n")
                        + f"init: {source}\ninit_only: [transform]\n")
    code, stdout, err = run_nc("run", pipeline, "--out", tmp_path / "runs", "--set", "train.optimizer.lr=1e-12")
    assert code == 0, err
    assert "(transform)" in stdout
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    got = models.load_weights(run_dir / "model.pt")
    config = load_pipeline(pipeline).config
    torch.manual_seed(0)  # the pipeline's seed: its initial weights
    fresh = models.build_codec(config).state_dict()
    transform = [k for k in got if k.startswith("transform.")]
    prior = [k for k in got if k.startswith("prior.") and k in fresh and got[k].shape == fresh[k].shape]
    assert transform and prior
    assert all(torch.allclose(got[k], trained[k], atol=1e-6) for k in transform)
    assert all(torch.allclose(got[k], fresh[k], atol=1e-6) for k in prior)
    assert not all(torch.allclose(trained[k], fresh[k], atol=1e-6) for k in prior)

    for text, message in ((f"init: {source}\ninit_only: [entropy.context]\n",
                           "init_only: 'entropy.context' names no parameters in the file"),
                          ("init_only: [transform]\n", "init_only needs init")):
        pipeline.write_text(tiny_pipeline_text + text)
        code, _, err = run_nc("run", pipeline, "--out", tmp_path / "refused", "--quiet")
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
        assert not (tmp_path / "refused").exists()
