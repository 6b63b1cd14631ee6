"""Training stages (``train.then``) and the other codings evaluated beside a lossy model
(earlier stages, ``evaluate.variants``), with the core's own components."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap

import pytest

from nc_core.cli import main

THEN = """\
  then:
    - name: finer
      loss: {use: rate-distortion, distortion: mse, lmbda: 0.05}
      steps: 2
      optimizer: {lr: 0.001}
"""


def run_nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def staged(tiny_pipeline_text: str, tmp_path, extra: str = ""):
    text = textwrap.dedent(tiny_pipeline_text).replace("  checkpoint_every: 2\n", "  checkpoint_every: 1\n" + THEN)
    path = tmp_path / "staged.yaml"
    path.write_text(text.replace("  max_images: 1\n", "  max_images: 1\n" + extra))
    return path


@pytest.mark.slow
def test_each_stage_starts_where_the_last_ended_and_is_evaluated(tiny_pipeline_text, tmp_path):
    pipeline = staged(tiny_pipeline_text, tmp_path, "  variants: [{codec.coder: range}]\n")
    code, stdout, err = run_nc("run", pipeline, "--out", tmp_path / "runs")
    assert code == 0, err
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    info = json.loads((run_dir / "model.json").read_text())["training"]
    assert info["steps"] == 5 and [s["steps"] for s in info["stages"]] == [3, 2]
    assert json.loads((run_dir / "stage1" / "model.json").read_text())["training"]["steps"] == 3
    assert (run_dir / "stage1" / "pipeline.yaml").exists()  # the stage's model loads on its own
    results = {label: json.loads((run_dir / f"results{label}.json").read_text())["results"]
               for label in ("", "-stage1", "-coder=range")}
    assert results["-coder=range"]["psnr-rgb"] == results[""]["psnr-rgb"]  # the same weights, another coder
    assert results["-stage1"]["psnr-rgb"] != results[""]["psnr-rgb"]
    report = (run_dir / "report.md").read_text()
    assert "tiny stage1" in report and "tiny coder=range" in report and "(coder=ans)" in report


def _interrupted(tiny_pipeline_text, tmp_path, monkeypatch, in_stage1: bool) -> list:
    """The staged run interrupted (Ctrl-C) after the step-1 checkpoint of stage 1 or of
    stage 2: its ``nc`` arguments."""
    from nc_core.runner import train

    pipeline = staged(tiny_pipeline_text, tmp_path)
    save = train.atomic_save

    def interrupted(obj, path):
        save(obj, path)
        if (path.parent.name == "stage1") == in_stage1 and path.name == "checkpoint.pt" and obj["step"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "atomic_save", interrupted)
    args = ["run", pipeline, "--out", tmp_path / "runs"]
    assert run_nc(*args, "--quiet")[0] == 130
    monkeypatch.setattr(train, "atomic_save", save)
    return args


@pytest.mark.slow
def test_a_resume_in_the_second_stage_loads_the_finished_first(tiny_pipeline_text, tmp_path, monkeypatch):
    args = _interrupted(tiny_pipeline_text, tmp_path, monkeypatch, in_stage1=False)
    code, stdout, err = run_nc(*args, "--resume")
    assert code == 0, err
    assert "stage 1 finished earlier" in stdout and "at step 1/2" in stdout


@pytest.mark.slow
def test_a_resume_may_change_a_stage_that_has_not_started(tiny_pipeline_text, tmp_path, monkeypatch):
    """Tuning stage 2 after stage 1 finished needs no new run: its settings may change until
    it has a checkpoint; then they are fixed like any other."""
    args = _interrupted(tiny_pipeline_text, tmp_path, monkeypatch, in_stage1=True)
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    code, _, err = run_nc(*args, "--resume", "--set", "train.steps=4")
    assert code == 2 and "train.steps (3 -> 4)" in err  # stage 1 has started
    code, stdout, err = run_nc(*args, "--resume", "--set", "train.then.0.steps=3")
    assert code == 0, err
    assert "have not started changed: train.then.0.steps (2 -> 3)" in stdout
    info = json.loads((run_dir / "model.json").read_text())["training"]
    assert [s["steps"] for s in info["stages"]] == [3, 3]
    assert "steps: 3\n" in (run_dir / "pipeline.yaml").read_text().split("then:")[1]  # the record follows
    code, _, err = run_nc(*args, "--resume", "--set", "train.then.0.steps=4")
    assert code == 2 and "train.then.0.steps (3 -> 4) (stage 2 has started)" in err


def test_a_stage_needs_a_name_a_loss_and_steps(tiny_pipeline_text, tmp_path):
    pipeline = tmp_path / "bad.yaml"
    pipeline.write_text(textwrap.dedent(tiny_pipeline_text).replace(
        "  checkpoint_every: 2\n", "  checkpoint_every: 2\n  then:\n    - {name: 'a b', steps: 0}\n"))
    code, out, err = run_nc("validate", pipeline)
    assert code == 2 and out == ""
    assert [line.split(": ", 1)[1] for line in err.splitlines()] == [
        "train.then[0]: missing required key 'loss'",
        "train.then[0].name: must match [A-Za-z0-9._-]+, got 'a b'",
        "train.then[0].steps: must be >= 1, got 0",
    ]
