"""`nc validate` and `nc run` build every component of a pipeline before any work and report
every problem at once, located, with the real built-in components."""

from __future__ import annotations

import contextlib
import io

import pytest

from nc_core.cli import main

BAD = """\
name: bad
data:
  train: {use: samples, split: training}
  test: {use: samples, patch: 8}
codec:
  use: transform-coding
  transform: {use: factorized, channels: 8, latent: 8}
  quantizer: mixed
  prior: {use: deep-factorized, tail_mass: 0.5}
  coder: ans
train:
  loss: {use: rate-distortion, distortion: mse, lmbda: -0.01}
  steps: 10
evaluate:
  baselines: [{use: jpeg, qualities: [50, 500]}, png]
  variants: [{codec.coder: range}]
"""

EXPECTED = [
    "P:3:32: data.train.split: cannot build dataset 'samples': split must be one of train, test",
    "P:4:31: data.test.patch: cannot build dataset 'samples': patch must be >= 16 and batch >= 1",
    "P:9:44: codec.prior.tail_mass: cannot build probability-model 'deep-factorized': tail_mass must be in (0, 0.1)",
    "P:12:56: train.loss.lmbda: cannot build loss 'rate-distortion': lmbda must be positive",
    "P:15:43: evaluate.baselines[0].qualities[1]: cannot build baseline 'jpeg': "
    "quality must be an integer in [1, 100], got 500",
    "P:15:50: evaluate.baselines[1]: 'png' is lossless; this pipeline's codec is lossy ('transform-coding')",
]


def nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def lines(err: str, path) -> list[str]:
    return err.replace(str(path), "P").strip().splitlines()


def test_validate_reports_every_constructor_problem_at_once(bad):
    code, out, err = nc("validate", bad)
    assert (code, out) == (2, "")
    assert lines(err, bad) == EXPECTED


def test_run_reports_the_same_problems_before_any_work(bad, tmp_path):
    code, _, err = nc("run", bad, "--out", tmp_path / "runs", "--quiet")
    assert code == 2 and lines(err, bad) == EXPECTED
    assert not (tmp_path / "runs").exists()  # nothing written


def test_override_problems_are_located_at_the_override(bad):
    fixed = BAD.replace("split: training", "split: train").replace("patch: 8", "patch: 16")
    bad.write_text(fixed.replace("tail_mass: 0.5", "tail_mass: 0.01").replace("lmbda: -0.01", "lmbda: 0.01")
                   .replace(", 500]}, png]", "]}]").replace("  variants: [{codec.coder: range}]\n", ""))
    assert nc("validate", bad)[0] == 0
    overrides = ["train.loss.lmbda=-1", "codec.prior.tail_mass=0.5", "evaluate.baselines=[{use: jpeg, qualities: [0]}]"]
    for cmd in ("validate", "run"):
        code, _, err = nc(cmd, bad, *[a for o in overrides for a in ("--set", o)])
        assert code == 2 and lines(err, bad) == [
            "--set:1:1: train.loss.lmbda: cannot build loss 'rate-distortion': lmbda must be positive",
            "--set:2:1: codec.prior.tail_mass: cannot build probability-model 'deep-factorized': "
            "tail_mass must be in (0, 0.1)",
            "--set:3:1: evaluate.baselines[0].qualities[0]: cannot build baseline 'jpeg': "
            "quality must be an integer in [1, 100], got 0",
        ], cmd


def test_runner_preflight_builds_a_pipeline_loaded_without_building(bad, tmp_path):
    from nc_core.pipeline import PipelineError, load_pipeline
    from nc_core.runner.run import Runner

    bad.write_text(BAD.replace(", png]", "]").replace("  variants: [{codec.coder: range}]\n", ""))
    runner = Runner(load_pipeline(bad, construct=False), tmp_path / "runs", quiet=True)
    with pytest.raises(PipelineError) as info:
        runner.run()
    assert [str(p).replace(str(bad), "P") for p in info.value.problems] == EXPECTED[:5]
    assert not (tmp_path / "runs").exists()
