"""Pipeline loading, validation, overrides, sweeps and building, against a fake registry."""

from __future__ import annotations

import textwrap
import types
from typing import Literal

import pytest
from torch import nn

from nc_core import hookimpl
from nc_core.contracts import (
    Baseline,
    Codec,
    Coder,
    Dataset,
    EntropyModel,
    LearnedCodec,
    Loss,
    LosslessCodec,
    Metric,
    Prior,
    ProbabilityModel,
    Quantizer,
    Transform,
)
from nc_core.pipeline import (
    Document,
    PipelineError,
    apply_overrides,
    build,
    load_pipeline,
    parse_pipeline,
    read_yaml,
)
from nc_core.plugins import PluginSource, Registry, set_registry

# ------------------------------------------------------------------------ fake components


class Factorized(Transform):
    name = "factorized"

    def __init__(self, channels: int = 128, latent: int = 192, kernels: tuple[int, ...] = (5, 5)):
        nn.Module.__init__(self)
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.channels, self.latent, self.kernels = channels, latent, kernels


class Mixed(Quantizer):
    name = "mixed"


class Noise(Quantizer):
    name = "noise"

    def __init__(self, width: float = 1.0):
        self.width = width


class DeepFactorized(Prior):
    name = "deep-factorized"

    def __init__(self, filters: list[int] | None = None, tail_mass: float = 1e-6):
        nn.Module.__init__(self)
        if not 0 < tail_mass < 0.1:
            raise ValueError("tail_mass must be in (0, 0.1)")
        self.filters = filters


class ScaleHyperprior(EntropyModel):
    name = "scale-hyperprior"


class LegacyPrior(ProbabilityModel):
    """A third-party model written before the sub-contracts: it declares none."""

    name = "legacy-prior"


class GaussianPrior(Prior):
    """A plugin's own sub-contract."""

    contract = "gaussian prior"


class Gauss(GaussianPrior):
    name = "gauss"


class Ans(Coder):
    name = "ans"


class Range(Coder):
    name = "range"


class TransformCoding(LearnedCodec):
    name = "transform-coding"

    def __init__(
        self, transform: Transform, quantizer: Quantizer, prior: ProbabilityModel, coder: Coder
    ):
        nn.Module.__init__(self)
        self.transform, self.quantizer, self.prior, self.coder = transform, quantizer, prior, coder


class StrictCoding(LearnedCodec):
    name = "strict-coding"

    def __init__(self, prior: Prior, coder: Coder):
        nn.Module.__init__(self)
        self.prior, self.coder = prior, coder


class Hyperprior(LearnedCodec):
    name = "hyperprior"

    def __init__(self, entropy: EntropyModel, coder: Coder):
        nn.Module.__init__(self)
        self.entropy, self.coder = entropy, coder


class GaussCoding(LearnedCodec):
    name = "gauss-coding"

    def __init__(self, prior: GaussianPrior):
        nn.Module.__init__(self)
        self.prior = prior


class SetCoding(LosslessCodec):
    name = "set-coding"

    def __init__(self, coder: Coder, channels: int = 128, scheme: Literal["a", "b"] = "a"):
        nn.Module.__init__(self)
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.coder, self.channels, self.scheme = coder, channels, scheme


class Identity(Codec):
    name = "identity"


class Samples(Dataset):
    name = "samples"

    def __init__(self, split: Literal["train", "test"] = "test", patch: int = 256, batch: int = 8):
        if patch < 16 or batch < 1:
            raise ValueError("patch must be >= 16 and batch >= 1")
        self.split, self.patch, self.batch = split, patch, batch


def _metric(metric_name: str) -> type[Metric]:
    return type(metric_name, (Metric,), {"name": metric_name})


METRICS = [_metric(n) for n in ("bpp", "psnr", "ms-ssim", "mse")]


class RateDistortion(Loss):
    name = "rate-distortion"

    def __init__(self, lmbda: float = 0.01, distortion: Metric | None = None):
        if not lmbda > 0:
            raise ValueError("lmbda must be positive")
        self.lmbda, self.distortion = lmbda, distortion


class Jpeg(Baseline):
    name = "jpeg"
    qualities = (10, 50, 90)

    def __init__(self, quality: int):
        if not 0 <= quality <= 100:
            raise ValueError(f"quality must be an integer in [0, 100], got {quality}")
        super().__init__(quality)


class Zip(Baseline):
    name = "zip"
    qualities = (9,)
    lossless = True


class Webp(Baseline):
    name = "webp"
    qualities = (20, 80)

    def __init__(self, quality: int, method: int = 4):
        super().__init__(quality)
        self.method = method


def _fake_plugin() -> types.SimpleNamespace:
    hooks = {
        "nc_register_transforms": [Factorized],
        "nc_register_quantizers": [Mixed, Noise],
        "nc_register_probability_models": [DeepFactorized, ScaleHyperprior, LegacyPrior, Gauss],
        "nc_register_coders": [Ans, Range],
        "nc_register_codecs": [TransformCoding, StrictCoding, Hyperprior, GaussCoding, SetCoding, Identity],
        "nc_register_datasets": [Samples],
        "nc_register_metrics": METRICS,
        "nc_register_losses": [RateDistortion],
        "nc_register_baselines": [Jpeg, Webp, Zip],
    }

    def hook(name, classes):
        def impl():
            return classes

        impl.__name__ = name
        return hookimpl(impl)

    return types.SimpleNamespace(**{name: hook(name, classes) for name, classes in hooks.items()})


@pytest.fixture(autouse=True)
def fake_registry():
    from nc_core import plugins

    saved = plugins._registry
    registry = Registry([PluginSource("fake", "nc-fake", "0.0", load=_fake_plugin)])
    assert not registry.broken, registry.broken
    set_registry(registry)
    yield registry
    set_registry(saved)


# ------------------------------------------------------------------------------ helpers

GOOD = """\
name: quickstart
seed: 0
device: auto
data:
  train: {use: samples, split: train, patch: 128, batch: 8}
  test:  {use: samples, split: test}
codec:
  use: transform-coding
  transform: {use: factorized, channels: 128, latent: 192}
  quantizer: {use: mixed}
  prior: {use: deep-factorized}
  coder: {use: ans}
train:
  loss: {use: rate-distortion, distortion: mse, lmbda: 0.013}
  steps: 2000
  optimizer: {lr: 1.0e-4}
evaluate:
  metrics: [bpp, psnr, ms-ssim]
  baselines: [jpeg, webp]
"""


def write(tmp_path, text, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path, text, overrides=()):
    path = write(tmp_path, text)
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, overrides)
    return [str(p).replace(str(path), "P") for p in info.value.problems]


# -------------------------------------------------------------------------------- tests


def test_good_pipeline_defaults_and_shorthand(tmp_path):
    p = load_pipeline(write(tmp_path, GOOD))
    c = p.config
    assert p.name == "quickstart" and p.path == tmp_path / "pipeline.yaml"
    assert c["codec"]["coder"] == {"use": "ans"}
    assert c["train"]["loss"] == {
        "use": "rate-distortion",
        "lmbda": 0.013,
        "distortion": {"use": "mse"},
    }
    assert c["train"]["optimizer"] == {"lr": 1e-4, "grad_clip": 1.0}
    assert c["train"]["lr_drop"] == {"at": 0.8, "factor": 0.1}
    assert (c["train"]["checkpoint_every"], c["train"]["log_every"]) == (500, 50)
    assert "init" not in c["train"] and "sweep" not in c
    assert c["evaluate"]["metrics"] == [{"use": "bpp"}, {"use": "psnr"}, {"use": "ms-ssim"}]
    # baselines get their class's default qualities
    assert c["evaluate"]["baselines"] == [
        {"use": "jpeg", "qualities": [10, 50, 90]},
        {"use": "webp", "qualities": [20, 80]},
    ]
    assert p.runs() == [("", c)]


def test_minimal_pipeline_gets_all_defaults(tmp_path):
    p = load_pipeline(write(tmp_path, "name: m\ndata: {test: samples}\ncodec: identity\n"))
    assert p.config == {
        "name": "m",
        "seed": 0,
        "device": "auto",
        "data": {"test": {"use": "samples"}},
        "codec": {"use": "identity"},
        "evaluate": {
            "metrics": [{"use": "bpp"}, {"use": "psnr"}, {"use": "ms-ssim"}],
            "baselines": [],
        },
    }


def test_many_problems_reported_at_once_with_locations(tmp_path):
    text = """\
    name: quickstart
    seed: abc
    devise: cpu
    data:
      test: {use: samples, split: tset}
    codec:
      use: transform-coding
      transform: {use: fatorized, channels: 128}
      quantizer: {use: mixed}
      coder: ans
      coder: range
    train:
      loss: {use: rate-distortion, lmbda: true}
      steps: 0
      optimizer: {lr: 1e-4, lrr: 3}
    """
    assert problems(tmp_path, text) == [
        "P:2:7: seed: expected int, got str 'abc'",
        "P:3:1: devise: unknown key 'devise'; did you mean 'device'? valid keys: name, seed, device, data, codec, init, init_only, train, evaluate, sweep",
        "P:4:1: data: missing required key 'train' (the pipeline has a train section)",
        "P:5:31: data.test.split: expected one of train, test, got str 'tset'; did you mean 'test'?",
        "P:6:1: codec: missing required key 'prior' for codec 'transform-coding'",
        "P:8:20: codec.transform.use: unknown transform 'fatorized'; did you mean 'factorized'? choices: factorized",
        "P:11:3: codec.coder: duplicate key 'coder' (first defined at line 10)",
        "P:13:39: train.loss.lmbda: expected float, got bool True",
        "P:14:10: train.steps: must be >= 1, got 0",
        "P:15:25: train.optimizer.lrr: unknown key 'lrr'; did you mean 'lr'? valid keys: lr, grad_clip",
    ]


def test_component_arg_problems(tmp_path):
    text = """\
    name: x
    data: {test: {split: test}}
    codec:
      use: transform-coding
      transform: {use: factorized, chanels: 3, kernels: [3, a]}
      quantizer: 5
      prior: {use: deep-factorized, filters: null}
      coder: {use: ans}
    evaluate:
      baselines: [{use: webp, quality: 3, qualities: []}, {use: jpeg, method: 2}]
      metrics: [psnr, bpq]
    """
    assert problems(tmp_path, text) == [
        "P:2:8: data.test: missing required key 'use' (the dataset to use; choices: samples)",
        (
            "P:5:32: codec.transform.chanels: unknown key 'chanels' for transform 'factorized'; "
            "did you mean 'channels'? valid keys: use, channels, latent, kernels"
        ),
        "P:5:57: codec.transform.kernels[1]: expected int, got str 'a'",
        "P:6:14: codec.quantizer: expected a quantizer name or a mapping with 'use', got int 5",
        "P:10:27: evaluate.baselines[0].quality: 'quality' is supplied by nc at run time and cannot be set here",
        "P:10:50: evaluate.baselines[0].qualities: expected at least 1 item(s), got an empty list",
        "P:10:67: evaluate.baselines[1].method: unknown key 'method' for baseline 'jpeg'; valid keys: use, qualities",
        "P:11:19: evaluate.metrics[1]: unknown metric 'bpq'; did you mean 'bpp'? choices: bpp, ms-ssim, mse, psnr",
    ]


def test_yaml_syntax_error(tmp_path):
    assert problems(tmp_path, "name: x\ncodec: {use: ans\ndata: 3\n") == [
        "P:3:5: expected ',' or '}', but got ':' (while parsing a flow mapping at line 2)"
    ]
    assert problems(tmp_path, "name: x\n  bad: indent\n") == [
        "P:2:6: mapping values are not allowed here"
    ]


@pytest.mark.parametrize(
    "text, got", [("- a\n- b\n", "list"), ("", "an empty document"), ("just text\n", "str")]
)
def test_top_level_must_be_mapping(tmp_path, text, got):
    assert problems(tmp_path, text) == [f"P:1:1: top level must be a mapping, got {got}"]


def test_unsafe_tags_are_rejected(tmp_path):
    text = GOOD + "x: !!python/object/apply:os.system [echo hi]\n"
    assert (
        "P:20:4: x: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"
        in problems(tmp_path, text)
    )


def test_missing_required_sections(tmp_path):
    assert problems(tmp_path, "seed: 1\n") == [
        "P:1:1: missing required key 'name'",
        "P:1:1: missing required key 'data'",
        "P:1:1: missing required key 'codec'",
    ]
    assert problems(
        tmp_path,
        "name: bad name!\ndata: {test: samples}\ncodec: identity\ntrain: {loss: rate-distortion, steps: 5}\n",
    ) == [
        "P:1:7: name: must match [A-Za-z0-9._-]+, got 'bad name!'",
        "P:2:1: data: missing required key 'train' (the pipeline has a train section)",
        "P:3:1: codec: codec 'identity' cannot be trained; remove the train section",
        "P:4:9: train.loss: missing required key 'lmbda' (or give the codec a ladder of λ)",
    ]


def test_merge_keys_and_anchors(tmp_path):
    text = """\
    name: x
    common: &c {use: samples, patch: 64}
    """
    assert problems(tmp_path, text)[-1].startswith("P:2:1: common: unknown key 'common'")
    text = """\
    name: x
    data:
      train: &c {use: samples, patch: 64}
      test: {<<: *c, split: test, patch: 32}
    codec: identity
    """
    assert load_pipeline(write(tmp_path, text)).config["data"] == {
        "train": {"use": "samples", "patch": 64},
        "test": {"use": "samples", "split": "test", "patch": 32},
    }


# ---------------------------------------------------------------------------- overrides


def test_overrides(tmp_path):
    path = write(tmp_path, GOOD)
    p = load_pipeline(
        path,
        [
            "train.steps=100",
            "codec.coder=range",
            "train.optimizer.lr=3e-4",
            "codec.transform.channels=64",
            "evaluate.max_images=2",
            "codec.prior.filters=[3, 3]",
        ],
    )
    c = p.config
    assert c["train"]["steps"] == 100 and c["train"]["optimizer"]["lr"] == 3e-4
    assert c["codec"]["coder"] == {"use": "range"} and c["codec"]["transform"]["channels"] == 64
    assert c["evaluate"]["max_images"] == 2 and c["codec"]["prior"]["filters"] == [3, 3]
    # descending into a shorthand expands it; new sections are created
    c = load_pipeline(path, ["codec.quantizer=noise", "codec.quantizer.width=0.5"]).config
    assert c["codec"]["quantizer"] == {"use": "noise", "width": 0.5}


def test_override_problems_are_located(tmp_path):
    assert problems(
        tmp_path, GOOD, ["train.steps=abc", "nosuchsign", "codec.coder=rnage", "seed.x=1", "x=[1"]
    ) == [
        "--set:1:1: train.steps: expected int, got str 'abc'",
        "--set:2:1: expected KEY.PATH=VALUE, got 'nosuchsign'",
        "--set:3:1: codec.coder: unknown coder 'rnage'; did you mean 'range'? choices: ans, range",
        "--set:4:1: seed.x: cannot set 'seed.x': 'seed' is not a mapping",
        "--set:5:1: x: cannot parse value '[1': expected ',' or ']', but got '<stream end>'",
    ]


def test_apply_overrides_on_plain_tree():
    tree = {"a": {"b": 1}}
    assert apply_overrides(tree, ["a.c.d=2", "e=[x, {y: 1}]"]) == {
        "a": {"b": 1, "c": {"d": 2}},
        "e": ["x", {"y": 1}],
    }
    with pytest.raises(PipelineError) as info:
        apply_overrides(tree, ["ok=1", "bad", "=3"])
    assert [str(p) for p in info.value.problems] == [
        "--set:2:1: expected KEY.PATH=VALUE, got 'bad'",
        "--set:3:1: expected KEY.PATH=VALUE, got '=3'",
    ]


def test_overrides_locate_nested_values():
    doc = read_yaml("a: 1\n", "f.yaml")
    apply_overrides(doc, ["b.c={d: [1, 2]}"])
    assert isinstance(doc, Document) and doc.data == {"a": 1, "b": {"c": {"d": [1, 2]}}}
    assert str(doc.at(("b", "c", "d", 1))) == "Loc(file='--set', line=1, col=1)"


# ------------------------------------------------------------------------------- sweeps


SWEEP = (
    GOOD
    + """\
sweep:
  train.loss.lmbda: [0.0035, 0.013, 1]
  codec.coder: [ans, range, ans]
"""
)


def test_sweep_expansion(tmp_path):
    p = load_pipeline(write(tmp_path, SWEEP))
    runs = p.runs()
    assert [s for s, _ in runs] == [
        "lmbda=0.0035,coder=ans",
        "lmbda=0.013,coder=range",
        "lmbda=1.0,coder=ans",
    ]
    assert [c["train"]["loss"]["lmbda"] for _, c in runs] == [0.0035, 0.013, 1.0]
    assert [c["codec"]["coder"] for _, c in runs] == [
        {"use": "ans"},
        {"use": "range"},
        {"use": "ans"},
    ]
    assert all("sweep" not in c for _, c in runs)
    # sweep values are normalised in .config, the rest is the un-swept pipeline
    assert p.config["sweep"] == {
        "train.loss.lmbda": [0.0035, 0.013, 1.0],
        "codec.coder": [{"use": "ans"}, {"use": "range"}, {"use": "ans"}],
    }
    assert p.config["train"]["loss"]["lmbda"] == 0.013
    # a sweep over a key that only has a default, set through --set
    p = load_pipeline(write(tmp_path, GOOD), ["sweep.train.optimizer.grad_clip=[0.5, 2.0]"])
    assert [s for s, _ in p.runs()] == ["grad_clip=0.5", "grad_clip=2.0"]
    # keys swept together through the same values name a point once; different values name each
    stage = "train.then=[{name: b, loss: {use: rate-distortion, distortion: mse, lmbda: 0.1}, steps: 2}]"
    together = ["sweep.train.loss.lmbda=[0.01, 0.02]", "sweep.train.then.0.loss.lmbda=[0.01, 0.02]"]
    p = load_pipeline(write(tmp_path, GOOD), [stage, *together])
    assert [s for s, _ in p.runs()] == ["lmbda=0.01", "lmbda=0.02"]
    assert [c["train"]["then"][0]["loss"]["lmbda"] for _, c in p.runs()] == [0.01, 0.02]
    apart = ["sweep.train.loss.lmbda=[0.01, 0.02]", "sweep.train.then.0.loss.lmbda=[0.01, 0.03]"]
    p = load_pipeline(write(tmp_path, GOOD), [stage, *apart])
    assert [s for s, _ in p.runs()][1] == "train.loss.lmbda=0.02,train.then.0.loss.lmbda=0.03"


def test_sweep_validation(tmp_path):
    text = GOOD + textwrap.dedent("""\
    sweep:
      train.loss.lmbda: [0.1, abc]
      train.loss.lmbdaa: [1, 2]
      codec.coder: [ans, rnage]
      seed: 3
      train.steps: [1, 2, 3]
      sweep.x: [1, 2]
    """)
    assert problems(tmp_path, text) == [
        "P:24:9: sweep.seed: expected a non-empty list of values, got int 3",
        "P:25:16: sweep.train.steps: has 3 values but train.loss.lmbda has 2; sweep lists are zipped and must have equal lengths",
        "P:26:3: sweep.sweep.x: cannot sweep the sweep",
    ]
    text = GOOD + textwrap.dedent("""\
    sweep:
      train.loss.lmbda: [0.1, abc]
      train.loss.lmbdaa: [1, 2]
      codec.coder: [ans, rnage]
    """)
    assert problems(tmp_path, text) == [
        "P:21:27: train.loss.lmbda: expected float, got str 'abc'",
        (
            "P:22:3: train.loss.lmbdaa: unknown key 'lmbdaa' for loss 'rate-distortion'; "
            "did you mean 'lmbda'? valid keys: use, lmbda, distortion"
        ),
        "P:23:22: codec.coder: unknown coder 'rnage'; did you mean 'range'? choices: ans, range",
    ]


# --------------------------------------------------------------------- output and build


def test_to_yaml_round_trip(tmp_path):
    for text in (GOOD, SWEEP):
        p = load_pipeline(write(tmp_path, text), ["evaluate.max_images=3", "train.init=w.pt"])
        again = load_pipeline(write(tmp_path, p.to_yaml(), "resolved.yaml"))
        assert again.config == p.config
        assert again.runs() == p.runs()
    assert "transform: {use: factorized, channels: 128, latent: 192}" in p.to_yaml()


def test_build_nested_components(tmp_path):
    p = load_pipeline(write(tmp_path, GOOD), ["codec.transform.kernels=[3, 3, 3]"])
    codec = build(p.config["codec"], "codec")
    assert isinstance(codec, TransformCoding) and isinstance(codec.coder, Ans)
    assert codec.transform.kernels == (3, 3, 3) and codec.transform.latent == 192
    loss = build(p.config["train"]["loss"], "loss")
    assert (
        isinstance(loss.distortion, Metric)
        and loss.distortion.name == "mse"
        and loss.lmbda == 0.013
    )
    jpeg = build(p.config["evaluate"]["baselines"][0], "baseline", quality=50)
    assert isinstance(jpeg, Jpeg) and jpeg.quality == 50
    assert isinstance(build("samples", "dataset"), Samples)


def test_build_errors_are_located(tmp_path):
    path = write(tmp_path, GOOD + "sweep:\n  codec.transform.channels: [8, 0]\n")
    # loading builds every sweep point: the bad one is named, at the swept value
    with pytest.raises(PipelineError) as info:
        load_pipeline(path)
    assert str(info.value) == (
        f"{path}:21:33: codec.transform.channels: cannot build transform 'factorized': "
        "channels must be >= 1, got 0 (sweep point channels=0)"
    )
    # without building, build() itself locates the same problem
    p = load_pipeline(path, construct=False)
    (_, ok), (_, bad) = p.runs()
    build(ok["codec"], "codec")
    with pytest.raises(PipelineError) as again:
        build(bad["codec"], "codec")
    assert str(again.value) == str(info.value).removesuffix(" (sweep point channels=0)")
    with pytest.raises(PipelineError) as late:  # what Runner.preflight calls
        p.check()
    assert late.value.problems == info.value.problems
    with pytest.raises(
        PipelineError, match=r"^<pipeline>: unknown coder 'nope'; choices: ans, range$"
    ):
        build({"use": "nope"}, "coder")


def test_parse_pipeline_from_text():
    p = parse_pipeline("name: t\ndata: {test: samples}\ncodec: identity\n", "inline.yaml")
    assert p.path is None and p.config["codec"] == {"use": "identity"}
    with pytest.raises(PipelineError, match=r"^inline.yaml:1:7: name: expected str, got int 3$"):
        parse_pipeline("name: 3\ndata: {test: samples}\ncodec: identity\n", "inline.yaml")


LOSSLESS = """\
name: sets
data: {train: samples, test: samples}
codec: {use: set-coding, coder: ans, channels: 128}
train: {loss: {use: rate-distortion, lmbda: 0.01}, steps: 5}
evaluate:
  baselines: [zip]
"""


def test_variants_are_validated_and_applied(tmp_path):
    text = LOSSLESS + (
        "  variants:\n"
        "    - {codec.coder: range}\n"
        "    - {codec.coder: {use: ans}, codec.channels: 64}\n"
    )
    p = load_pipeline(write(tmp_path, text))
    (_, cfg), = p.runs()
    variants = p.variants(cfg)
    assert [label for label, _ in variants] == ["coder=ans,channels=128", "coder=range", "coder=ans,channels=64"]
    assert variants[1][1]["codec"]["coder"] == {"use": "range"}
    assert variants[2][1]["codec"]["channels"] == 64
    assert cfg["codec"]["coder"] == {"use": "ans"}  # the run config itself is unchanged
    bad = LOSSLESS + (
        "  variants:\n"
        "    - {codec.coder: rnage}\n"
        "    - {train.steps: 3}\n"
        "    - 7\n"
        "    - {codec.use: transform-coding}\n"
        "    - {codec.channels: 0}\n"
    )
    assert problems(tmp_path, bad) == [
        "P:8:21: codec.coder: unknown coder 'rnage'; did you mean 'range'? choices: ans, range",
        "P:9:8: evaluate.variants[1].train.steps: a variant changes only how the trained model codes: "
        "keys start with 'codec.'",
        "P:10:7: evaluate.variants[2]: must be a mapping of codec key paths to values",
        "P:11:19: evaluate.variants[3].codec.use: changes the codec itself ('set-coding' -> 'transform-coding'); "
        "a variant only recodes the trained model",
        "P:12:24: codec.channels: cannot build codec 'set-coding': channels must be >= 1, got 0 (variant channels=0)",
    ]


# ------------------------------------------------------------ building every component


def test_constructor_problems_are_all_reported_at_once_located(tmp_path):
    text = """\
    name: many
    seed: abc
    data:
      train: {use: samples, split: training, patch: 8}
      test: {use: samples, batch: 0}
    codec:
      use: transform-coding
      transform: {use: factorized}
      quantizer: mixed
      prior: {use: deep-factorized, tail_mass: 0.5}
      coder: ans
    train:
      loss: {use: rate-distortion, lmbda: -0.01}
      steps: 10
    evaluate:
      baselines: [{use: jpeg, qualities: [10, 500]}, zip]
      variants: [{codec.coder: range}]
    """
    assert problems(tmp_path, text) == [
        "P:2:7: seed: expected int, got str 'abc'",
        # a validation problem stops only its own component from being built
        "P:4:32: data.train.split: expected one of train, test, got str 'training'; did you mean 'train'?",
        "P:5:31: data.test.batch: cannot build dataset 'samples': patch must be >= 16 and batch >= 1",
        "P:10:44: codec.prior.tail_mass: cannot build probability-model 'deep-factorized': tail_mass must be in (0, 0.1)",
        "P:13:39: train.loss.lmbda: cannot build loss 'rate-distortion': lmbda must be positive",
        "P:16:43: evaluate.baselines[0].qualities[1]: cannot build baseline 'jpeg': "
        "quality must be an integer in [0, 100], got 500",
        "P:16:50: evaluate.baselines[1]: 'zip' is lossless; this pipeline's codec is lossy ('transform-coding')",
    ]
    # the constructor's own check, once the schema lets the spec through
    assert problems(tmp_path, text.replace("split: training", "split: train").replace("seed: abc", "seed: 1"))[0] == (
        "P:4:46: data.train.patch: cannot build dataset 'samples': patch must be >= 16 and batch >= 1"
    )


def test_override_and_sweep_constructor_problems_are_located(tmp_path):
    assert problems(tmp_path, GOOD, ["train.loss.lmbda=-1", "data.train.patch=8"]) == [
        "--set:1:1: train.loss.lmbda: cannot build loss 'rate-distortion': lmbda must be positive",
        "--set:2:1: data.train.patch: cannot build dataset 'samples': patch must be >= 16 and batch >= 1",
    ]
    sweep = GOOD.replace("deep-factorized}", "deep-factorized, tail_mass: 0.5}") + (
        "sweep:\n  train.loss.lmbda: [-0.02, 0.01, 0.03]\n")
    assert problems(tmp_path, sweep) == [
        # every point has it: said once
        "P:11:44: codec.prior.tail_mass: cannot build probability-model 'deep-factorized': tail_mass must be in (0, 0.1)",
        # one point has it: named, and located at its value
        "P:21:22: train.loss.lmbda: cannot build loss 'rate-distortion': lmbda must be positive "
        "(sweep point lmbda=-0.02)",
    ]


def test_lossless_pipeline_rules(tmp_path):
    text = LOSSLESS.replace("[zip]", "[zip, {use: jpeg, qualities: [50]}]") + "  refine: {steps: 3}\n"
    assert problems(tmp_path, text) == [
        "P:6:20: evaluate.baselines[1]: 'jpeg' is lossy; this pipeline's codec is lossless ('set-coding')",
        "P:7:3: evaluate.refine: latent refinement is for lossy codecs; codec 'set-coding' is lossless",
    ]


def test_refinement_is_checked_when_loading(tmp_path):
    assert problems(tmp_path, GOOD + "  refine: {steps: 3}\n") == [
        "P:20:3: evaluate.refine: codec 'transform-coding' does not support latent refinement"
    ]
    no_train = "name: r\ndata: {test: samples}\ncodec: {use: strict-coding, prior: deep-factorized, coder: ans}\n"
    assert problems(tmp_path, no_train + "evaluate: {refine: {steps: 3}}\n") == [
        "P:4:12: evaluate.refine: latent refinement needs a train section (its loss says what to refine for)"
    ]


# ------------------------------------------------------------------------ slot contracts


def slot(tmp_path, codec):
    return problems(tmp_path, f"name: s\ndata: {{test: samples}}\ncodec: {codec}\n")


def test_slots_typed_with_a_sub_contract_take_only_its_components(tmp_path):
    assert slot(tmp_path, "{use: strict-coding, prior: scale-hyperprior, coder: ans}") == [
        "P:3:36: codec.prior: 'scale-hyperprior' is a hyperprior entropy model; this slot takes a plain prior "
        "(choices: deep-factorized, gauss)"
    ]
    assert slot(tmp_path, "{use: hyperprior, entropy: {use: deep-factorized}, coder: ans}") == [
        "P:3:41: codec.entropy.use: 'deep-factorized' is a plain prior; this slot takes a hyperprior entropy model "
        "(choices: scale-hyperprior)"
    ]
    # a plugin's own sub-contract, and a class without a contract of its own
    assert slot(tmp_path, "{use: gauss-coding, prior: deep-factorized}") == [
        "P:3:35: codec.prior: 'deep-factorized' is a plain prior; this slot takes a gaussian prior (choices: gauss)"
    ]
    # a model written before the sub-contracts (ProbabilityModel only) still fits a Prior slot,
    # with a warning, but not a slot of another sub-contract
    with pytest.warns(DeprecationWarning, match="legacy-prior.*derive it from nc_core.contracts.Prior"):
        legacy = load_pipeline(write(tmp_path, "name: s\ndata: {test: samples}\n"
                                               "codec: {use: strict-coding, prior: legacy-prior, coder: ans}\n"))
    assert isinstance(build(legacy.config["codec"], "codec").prior, LegacyPrior)
    assert slot(tmp_path, "{use: gauss-coding, prior: legacy-prior}") == [
        "P:3:35: codec.prior: 'legacy-prior' is a probability model that does not derive from "
        f"{GaussianPrior.__module__}.GaussianPrior; this slot takes a gaussian prior (choices: gauss)"
    ]
    ok = load_pipeline(write(tmp_path, "name: s\ndata: {test: samples}\ncodec: {use: gauss-coding, prior: gauss}\n"))
    assert isinstance(build(ok.config["codec"], "codec").prior, Gauss)


@pytest.mark.parametrize("prior", ["deep-factorized", "scale-hyperprior", "legacy-prior", "gauss"])
def test_slots_typed_with_the_kind_take_every_component_of_it(tmp_path, prior):
    """Third-party codecs annotated with plain ProbabilityModel keep working."""
    p = load_pipeline(write(tmp_path, GOOD), [f"codec.prior={prior}"])
    assert build(p.config["codec"], "codec").prior.name == prior


def test_init_is_given_once(tmp_path):
    text = GOOD.replace("  steps: 2000\n", "  steps: 2000\n  init: a.pt\n") + "init: b.pt\n"
    assert problems(tmp_path, text) == [
        "P:16:3: train.init: init and train.init are both set: keep init (train.init is its older spelling)"
    ]
