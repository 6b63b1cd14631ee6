"""Check a located YAML tree against the schema, collecting every problem.

Validation also normalises: defaults are filled in, ints become floats where a float is
expected, and component shorthand (``coder: ans``) becomes ``{use: ans}``. Components are looked
up in the registry only; nothing is imported by path.
"""

from __future__ import annotations

import copy
import difflib
import re
import warnings
from typing import Any

from nc_core.contracts import KINDS, LearnedCodec, LosslessCodec, VideoCodec
from nc_core.pipeline.problems import KeyPath, Problem
from nc_core.pipeline.schema import (
    OPTIONAL,
    PIPELINE,
    REQUIRED,
    RUNTIME_ARGS,
    ClassDefault,
    Field,
    Null,
    OneOf,
    Scalar,
    Str,
    contract_of,
    params_of,
    slot_contract,
)
from nc_core.pipeline.yamlload import Document
from nc_core.plugins import Registry, UnknownComponent, get_registry


def show(value: Any) -> str:
    """``str 'abc'``, ``int 3``, ``null``, ``mapping``: what a message says was given."""
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "mapping" if isinstance(value, dict) else "list"
    return f"{type(value).__name__} {value!r}"


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1) if isinstance(word, str) else []
    return f"did you mean {close[0]!r}? " if close else ""


class Checker:
    """Interprets schema nodes over a :class:`Document`; see :func:`validate`."""

    def __init__(self, doc: Document, registry: Registry | None = None):
        self.doc = doc
        self.registry = registry or get_registry()
        self.problems: list[Problem] = []
        self.components: list[KeyPath] = []  # paths of component specs in the result
        self.config: Any = None

    def report(self, path: KeyPath, message: str, key: bool = False) -> None:
        self.problems.append(Problem.at(self.doc.at(path, key), path, message))

    def check(self, node: Any, value: Any, path: KeyPath) -> Any:
        # one method per node type: Map -> _map, ComponentSpec -> _componentspec, ...
        return getattr(self, "_" + type(node).__name__.lower())(node, value, path)

    def expected(self, node: Any, value: Any, path: KeyPath) -> Any:
        self.report(path, f"expected {node.describe()}, got {show(value)}")
        return value

    # -- leaves --------------------------------------------------------------------------
    def _anyvalue(self, node, value, path):
        return value

    def _null(self, node, value, path):
        return value if value is None else self.expected(node, value, path)

    def _scalar(self, node: Scalar, value, path):
        if node.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, node.type) or (isinstance(value, bool) and node.type is not bool):
            return self.expected(node, value, path)
        for bound, ok, op in (
            (node.ge, lambda b: value >= b, ">="),
            (node.gt, lambda b: value > b, ">"),
            (node.le, lambda b: value <= b, "<="),
        ):
            if bound is not None and not ok(bound):
                self.report(path, f"must be {op} {bound}, got {value!r}")
        if node.pattern and not re.fullmatch(node.pattern, value):
            self.report(path, f"must match {node.pattern}, got {value!r}")
        return value

    def _choice(self, node, value, path):
        if any(value == v and type(value) is type(v) for v in node.values):
            return value
        hint = did_you_mean(value, [str(v) for v in node.values])
        self.report(
            path,
            f"expected {node.describe()}, got {show(value)}"
            + (f"; {hint.strip()}" if hint else ""),
        )
        return value

    # -- collections ---------------------------------------------------------------------
    def _listof(self, node, value, path):
        if not isinstance(value, list):
            return self.expected(node, value, path)
        if len(value) < node.min_len:
            self.report(path, f"expected at least {node.min_len} item(s), got an empty list")
        return [self.check(node.item, v, path + (i,)) for i, v in enumerate(value)]

    def _tupleof(self, node, value, path):
        if not isinstance(value, list) or len(value) != len(node.items):
            return self.expected(node, value, path)
        return [self.check(n, v, path + (i,)) for i, (n, v) in enumerate(zip(node.items, value))]

    def _oneof(self, node: OneOf, value, path):
        options = [o for o in node.options if not isinstance(o, Null)]
        if value is None and len(options) < len(node.options):
            return None
        if len(options) == 1:  # Optional[T]: T's own messages are the useful ones
            return self.check(options[0], value, path)
        for option in options:  # first option that accepts the value silently
            saved = self.problems, self.components
            self.problems, self.components = [], list(saved[1])
            result = self.check(option, value, path)
            ok, found = not self.problems, self.components
            self.problems, self.components = saved[0], found if ok else saved[1]
            if ok:
                return result
        return self.expected(node, value, path)

    def _fields(
        self,
        value: dict,
        fields: dict[str, Field],
        path: KeyPath,
        what: str = "",
        cls: type | None = None,
    ) -> dict:
        """Check a mapping's keys against ``fields``; fill defaults. ``what`` names the
        component in messages (and makes explicit nulls values, not absences)."""
        valid = ["use", *fields] if cls else list(fields)
        runtime = RUNTIME_ARGS.get(getattr(cls, "kind", ""), ())
        for key in value:
            if key in valid:
                continue
            if key in runtime:
                self.report(
                    path + (key,),
                    f"{key!r} is supplied by nc at run time and cannot be set here",
                    key=True,
                )
            else:
                self.report(
                    path + (key,),
                    f"unknown key {key!r}{what}; {did_you_mean(key, valid)}valid keys: {', '.join(valid)}",
                    key=True,
                )
        out = {}
        for name, field in fields.items():
            given = value.get(name)
            if name in value and (given is not None or cls or field.default is REQUIRED):
                out[name] = self.check(field.node, given, path + (name,))
            elif field.default is REQUIRED:
                self.report(path, f"missing required key {name!r}{what}", key=True)
            elif isinstance(field.default, ClassDefault):
                default = getattr(cls, field.default.attr, None)
                if default is None:
                    self.report(
                        path, f"missing required key {name!r}{what} (it has no default)", key=True
                    )
                else:
                    out[name] = self.check(field.node, copy.deepcopy(list(default)), path + (name,))
            elif field.default is not OPTIONAL:
                out[name] = self.check(field.node, copy.deepcopy(field.default), path + (name,))
        return out

    def _map(self, node, value, path):
        if not isinstance(value, dict):
            return self.expected(node, value, path)
        return self._fields(value, node.fields, path)

    def _componentspec(self, node, value, path):
        kind = node.kind
        if isinstance(value, str):
            spec, use_path = {"use": value}, path  # shorthand: `coder: ans`
        elif isinstance(value, dict):
            spec, use_path = value, path + ("use",)
        else:
            return self.expected(node, value, path)
        name = spec.get("use")
        if name is None:
            choices = ", ".join(self.registry.names(kind)) or "(none)"
            self.report(
                path,
                f"missing required key 'use' (the {kind} to use; choices: {choices})",
                key=True,
            )
            return spec
        if not isinstance(name, str):
            self.expected(Str(), name, use_path)
            return spec
        try:
            cls = self.registry.get(kind, name)
        except UnknownComponent as exc:
            self.report(use_path, str(exc))
            return spec
        if node.base is not None and not issubclass(cls, node.base):
            if vars(node.base).get("takes_undeclared") and contract_of(cls) == contract_of(KINDS[kind]):
                # written before the kind had sub-contracts: it was this one then (deprecated)
                warnings.warn(f"{kind} {name!r} ({cls.__module__}.{cls.__qualname__}) derives only from "
                              f"{KINDS[kind].__module__}.{KINDS[kind].__qualname__}; derive it from "
                              f"{node.base.__module__}.{node.base.__qualname__}", DeprecationWarning, stacklevel=2)
            else:
                self.report(use_path, self.wrong_contract(kind, name, cls, node.base))
        runtime = RUNTIME_ARGS.get(kind, ())
        fields = {
            n: Field(p.node, REQUIRED if p.required else OPTIONAL)
            for n, p in params_of(cls).items()
            if n not in runtime
        }
        fields.update(node.extra)
        self.components.append(path)
        return {"use": name, **self._fields(spec, fields, path, f" for {kind} {name!r}", cls)}

    def wrong_contract(self, kind: str, name: str, cls: type, base: type) -> str:
        """Why ``cls`` does not fit a slot annotated with ``base`` (a sub-contract of the kind),
        and which installed components do."""
        fits = [n for n in self.registry.names(kind) if issubclass(self.registry.get(kind, n), base)]
        what = contract_of(cls)
        if what == contract_of(KINDS[kind]):  # a component that declares no sub-contract
            what += f" that does not derive from {base.__module__}.{base.__qualname__}"
        return (f"{name!r} is a {what}; this slot takes a {slot_contract(base)} "
                f"(choices: {', '.join(fits) or 'none installed'})")

    def _sweep(self, node, value, path):
        if not isinstance(value, dict):
            return self.expected(node, value, path)
        lengths: dict[str, int] = {}
        for key, values in value.items():
            here = path + (key,)
            if not key or "" in key.split("."):
                self.report(
                    here, f"{key!r} is not a dotted key path (like train.loss.lmbda)", key=True
                )
            elif key.split(".")[0] == "sweep":
                self.report(here, "cannot sweep the sweep", key=True)
            if not isinstance(values, list) or not values:
                self.report(here, f"expected a non-empty list of values, got {show(values)}")
            else:
                lengths[key] = len(values)
        if len(set(lengths.values())) > 1:
            first, n = next(iter(lengths.items()))
            for key, m in lengths.items():
                if m != n:
                    self.report(
                        path + (key,),
                        f"has {m} values but {first} has {n}; sweep lists are zipped and must have equal lengths",
                    )
        return copy.deepcopy(value)

    # -- whole pipeline ------------------------------------------------------------------
    def chosen(self, kind: str, spec: Any) -> type | None:
        """The class a (validated) spec names; None when it names none (already reported)."""
        name = spec.get("use") if isinstance(spec, dict) else spec
        if not isinstance(name, str):
            return None
        try:
            return self.registry.get(kind, name)
        except UnknownComponent:
            return None

    def cross_check(self, config: dict) -> None:
        """Rules spanning sections."""
        if not isinstance(config, dict):
            return
        codec = self.chosen("codec", config.get("codec"))
        if config.get("init") and isinstance(config.get("train"), dict) and config["train"].get("init"):
            self.report(("train", "init"), "init and train.init are both set: keep init "
                        "(train.init is its older spelling)", key=True)
        if config.get("init_only") and not (config.get("init") or (config.get("train") or {}).get("init")):
            self.report(("init_only",), "init_only needs init (the weights to take those parts from)", key=True)
        if "train" in config:
            if isinstance(config.get("data"), dict) and "train" not in config["data"]:
                self.report(
                    ("data",),
                    "missing required key 'train' (the pipeline has a train section)",
                    key=True,
                )
            if codec is not None and not issubclass(codec, (LearnedCodec, LosslessCodec, VideoCodec)):
                self.report(
                    ("codec",),
                    f"codec {codec.name!r} cannot be trained; remove the train section",
                    key=True,
                )
            self._check_lambdas(config)
        evaluate = config.get("evaluate")
        if codec is None or not isinstance(evaluate, dict):
            return
        lossless = issubclass(codec, LosslessCodec)
        kind = "lossless" if lossless else "lossy"
        for i, spec in enumerate(evaluate.get("baselines") or []):
            baseline = self.chosen("baseline", spec)
            if baseline is not None and bool(baseline.lossless) != lossless:
                self.report(
                    ("evaluate", "baselines", i),
                    f"{baseline.name!r} is {'lossless' if baseline.lossless else 'lossy'}; "
                    f"this pipeline's codec is {kind} ({codec.name!r})",
                )
        if evaluate.get("refine"):
            if lossless:
                self.report(("evaluate", "refine"), f"latent refinement is for lossy codecs; "
                            f"codec {codec.name!r} is lossless", key=True)
            elif "train" not in config:
                self.report(("evaluate", "refine"), "latent refinement needs a train section "
                            "(its loss says what to refine for)", key=True)

    def _check_lambdas(self, config: dict) -> None:
        """A ``rate-distortion`` loss takes its λ from ``lmbda`` or, for a codec with a ladder,
        from the rung drawn at each step: exactly one of the two (a sweep key counts)."""
        sweep = config.get("sweep") if isinstance(config.get("sweep"), dict) else {}
        spec = config.get("codec")
        ladder = (isinstance(spec, dict) and bool(spec.get("ladder"))) or "codec.ladder" in sweep
        train = config["train"] if isinstance(config.get("train"), dict) else {}
        stages = [(("train", "loss"), train.get("loss"))]
        stages += [(("train", "then", k, "loss"), stage["loss"])  # a stage without one keeps the first's
                   for k, stage in enumerate(train.get("then") or []) if isinstance(stage, dict) and "loss" in stage]
        for path, loss in stages:
            loss = {"use": loss} if isinstance(loss, str) else loss
            if not (isinstance(loss, dict) and loss.get("use") == "rate-distortion"):
                continue
            given = "lmbda" in loss or ".".join(map(str, path + ("lmbda",))) in sweep
            if given and ladder:
                self.report(path + ("lmbda",), "the codec's ladder sets λ at every step (one per rung): "
                            "leave lmbda out", key=True)
            elif not given and not ladder:
                self.report(path, "missing required key 'lmbda' (or give the codec a ladder of λ)", key=True)


def validate(doc: Document, registry: Registry | None = None) -> Checker:
    """Validate and normalise ``doc``; the result's ``.config``, ``.problems`` and
    ``.components`` (paths of component specs) hold the outcome. Raises nothing."""
    checker = Checker(doc, registry)
    checker.config = checker.check(PIPELINE, doc.data, ())
    checker.cross_check(checker.config)
    return checker
