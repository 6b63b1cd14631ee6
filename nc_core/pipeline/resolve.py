"""From a pipeline file (plus ``--set`` overrides) to validated run configurations."""

from __future__ import annotations

import contextlib
import copy
import json
import pathlib
import re
from collections.abc import Iterable
from typing import Any

import attrs
import yaml

from nc_core.pipeline.build import construct_all, remember
from nc_core.pipeline.problems import Loc, PipelineError, Problem
from nc_core.pipeline.validate import Checker, validate
from nc_core.pipeline.yamlload import Document, parse_value, read_yaml
from nc_core.plugins import Registry


def _key_path(key: str) -> tuple[str, ...]:
    parts = tuple(key.split("."))
    # sweep keys are dotted paths themselves: `sweep.train.loss.lmbda` is one key of `sweep`
    return ("sweep", ".".join(parts[1:])) if parts[0] == "sweep" and len(parts) > 2 else parts


def _override_problems(doc: Document, overrides: Iterable[str]) -> list[Problem]:
    problems = []
    for n, item in enumerate(overrides, 1):
        loc = Loc("--set", n, 1)
        key, eq, text = item.partition("=")
        path = _key_path(key.strip())
        if not eq or "" in path:
            problems.append(Problem.at(loc, "", f"expected KEY.PATH=VALUE, got {item!r}"))
            continue
        try:
            value = parse_value(text)
        except yaml.YAMLError as exc:
            problems.append(
                Problem.at(
                    loc, path, f"cannot parse value {text!r}: {getattr(exc, 'problem', exc)}"
                )
            )
            continue
        error = doc.assign(path, value, loc)
        if error:
            problems.append(Problem.at(loc, path, error))
    return problems


def apply_overrides(tree: Document | dict, overrides: Iterable[str]) -> Document | dict:
    """Apply ``KEY.PATH=VALUE`` overrides (VALUE read as YAML) in place and return ``tree``.
    Missing mappings are created; the N-th override is located at ``--set:N:1``. Raises
    :class:`PipelineError` listing every malformed override."""
    doc = tree if isinstance(tree, Document) else Document(tree, "<config>")
    problems = _override_problems(doc, overrides)
    if problems:
        raise PipelineError(problems)
    return tree


def _lookup(tree: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return tree


def _has(tree: Any, path: tuple[str, ...]) -> bool:
    try:
        _lookup(tree, path)
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    return True


def _label(value: Any) -> str:
    if isinstance(value, dict) and list(value) == ["use"]:
        value = value["use"]
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^\w.+=-]", "_", text)  # the suffix names a run directory


class Pipeline:
    """A validated pipeline: ``config`` (defaults filled, component specs as mappings with
    ``use``), the file it came from, and one run configuration per sweep point."""

    def __init__(self, base: Checker, points: list[tuple[str, Checker]], path: pathlib.Path | None,
                 variants: list[tuple[str, dict, Checker]] = (), registry: Registry | None = None,
                 checked: bool = False):
        self.config: dict = base.config
        self.path = path
        self._base, self._points, self._registry = base, points, registry
        self._variants = [(label, values) for label, values, _ in variants]
        self._variant_checkers = [(label, checker) for label, _, checker in variants]
        self._checked = checked
        self._remember(base)

    def check(self) -> None:
        """Build every component once (see :func:`parse_pipeline`'s ``construct``), unless
        loading did; raises one :class:`PipelineError` listing every problem found."""
        if not self._checked:
            problems = construction_problems(self._base, self._points, self._variant_checkers, self._registry)
            if problems:
                raise PipelineError(problems)
            self._checked = True

    def variants(self, config: dict) -> list[tuple[str, dict]]:
        """``(label, config)``: the run config itself, then each ``evaluate.variants`` entry
        applied to it, labelled by the values of the keys the variants change."""
        keys = list(dict.fromkeys(path for _, values in self._variants for path in values))
        base = ",".join(f"{path[-1]}={_label(_lookup(config, path))}" for path in keys
                        if _has(config, path))
        out = [(base, config)]
        for label, values in self._variants:
            variant = copy.deepcopy(config)
            for path, value in values.items():
                parent = _lookup(variant, path[:-1])
                parent[path[-1]] = copy.deepcopy(value)
            out.append((label, variant))
        return out

    @property
    def name(self) -> str:
        return self.config["name"]

    @staticmethod
    def _remember(checker: Checker, config: dict | None = None) -> dict:
        config = checker.config if config is None else config
        for path in checker.components:
            remember(_lookup(config, path), path, checker.doc)
        return config

    def runs(self) -> list[tuple[str, dict]]:
        """``(suffix, config)`` per sweep point, e.g. ``("lmbda=0.013", {...})`` (fresh copies,
        without ``sweep``); ``[("", config)]`` without a sweep."""
        points = self._points or [("", self._base)]
        return [(s, self._remember(c, copy.deepcopy(c.config))) for s, c in points]

    def to_yaml(self, config: dict | None = None) -> str:
        """The resolved pipeline (or one of its ``runs()`` configs); loading it back gives the
        same config."""
        return yaml.safe_dump(
            self.config if config is None else config, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100
        )


def parse_pipeline(
    text: str,
    file: str = "<string>",
    overrides: Iterable[str] = (),
    registry: Registry | None = None,
    path: pathlib.Path | None = None,
    construct: bool = True,
) -> Pipeline:
    """Like :func:`load_pipeline`, from text; ``file`` names it in messages."""
    doc = read_yaml(text, file)
    problems = doc.problems + _override_problems(doc, overrides)
    base = validate(doc, registry)
    problems += base.problems
    sweep = base.config.get("sweep") if isinstance(base.config, dict) else None
    points: list[tuple[str, Checker]] = []
    if sweep and not any(p.path == "sweep" or p.path.startswith("sweep.") for p in base.problems):
        labels = [key.rsplit(".", 1)[-1] for key in sweep]
        labels = [key if labels.count(label) > 1 else label for key, label in zip(sweep, labels)]
        lists = list(sweep.values())
        same = [all(lists[j] == values for j, key2 in enumerate(sweep) if key2.rsplit(".", 1)[-1] == last)
                for last, values in zip((k.rsplit(".", 1)[-1] for k in sweep), lists)]
        for i in range(len(next(iter(sweep.values())))):
            point = doc.copy()
            del point.data["sweep"]
            for key, values in sweep.items():
                here = ("sweep", key)
                error = point.assign(
                    _key_path(key),
                    copy.deepcopy(values[i]),
                    doc.at(here, key=True),
                    doc.at(here + (i,)),
                )
                if error:
                    problems.append(Problem.at(doc.at(here, key=True), here, error))
            checker = validate(point, registry)
            problems += checker.problems
            if not checker.problems:  # store normalised values, so the sweep round-trips
                for key, values in sweep.items():
                    # a null for an optional key leaves it absent: nothing to normalise
                    with contextlib.suppress(KeyError, IndexError):
                        values[i] = _lookup(checker.config, _key_path(key))
            # keys swept together through the same values (one lambda for every training
            # stage) name the point once, by their shared last segment
            parts = dict.fromkeys(
                f"{label.rsplit('.', 1)[-1] if shared else label}={_label(values[i])}"
                for label, values, shared in zip(labels, sweep.values(), same)
            )
            suffix = ",".join(parts)
            points.append((suffix, checker))
        suffixes = [s for s, _ in points]
        points = [
            (s if suffixes.count(s) == 1 else f"{i}-{s}", c) for i, (s, c) in enumerate(points)
        ]
    variants = _variants(doc, base, registry, problems)
    if construct:
        problems += construction_problems(base, points, [(label, c) for label, _, c in variants], registry)
    if problems:
        raise PipelineError(problems)
    return Pipeline(base, points, path, variants, registry, checked=construct)


def _during(problem: Problem, what: str) -> Problem:
    return attrs.evolve(problem, message=f"{problem.message} ({what})")


def construction_problems(base: Checker, points: list[tuple[str, Checker]],
                          variants: list[tuple[str, Checker]], registry: Registry | None = None) -> list[Problem]:
    """Build every component of every run configuration (each sweep point, else the
    pipeline itself) and of each coding variant, without training: every constructor's
    problem, located. A problem only some sweep points (or a variant) have names them."""
    runs = points or [("", base)]
    memo: dict = {}  # sweep points mostly share components: build each distinct one once
    found = [construct_all(c.config, c.doc, c.problems, registry, memo) for _, c in runs]
    common = set.intersection(*(set(f) for f in found))
    problems = [p for p in found[0] if p in common]
    for (suffix, _), point_problems in zip(runs, found):
        problems += [_during(p, f"sweep point {suffix}") for p in point_problems if p not in common]
    seen = set().union(*found)
    for label, checker in variants:
        problems += [_during(p, f"variant {label}") for p in construct_all(checker.config, checker.doc,
                                                                            checker.problems, registry, memo)
                     if p not in seen]
    return problems


def _variants(doc: Document, base: Checker, registry, problems: list) -> list[tuple[str, dict, Checker]]:
    """Validate each ``evaluate.variants`` entry applied to the pipeline (like a sweep point)
    and keep its normalised values: ``[(label, {key path: value}, checker)]``."""
    entries = base.config.get("evaluate", {}).get("variants") if isinstance(base.config, dict) else None
    if not entries or any(p.path.startswith("evaluate.variants") for p in base.problems):
        return []
    out = []
    for i, entry in enumerate(entries):
        here = ("evaluate", "variants", i)
        if not isinstance(entry, dict) or not entry:
            problems.append(Problem.at(doc.at(here), here, "must be a mapping of codec key paths to values"))
            continue
        foreign = [k for k in entry if not (isinstance(k, str) and k.startswith("codec."))]
        for key in foreign:
            problems.append(Problem.at(doc.at(here + (key,), key=True), here + (key,),
                                       "a variant changes only how the trained model codes: keys start with 'codec.'"))
        if foreign:
            continue
        codec = base.chosen("codec", base.config.get("codec"))
        key = next((k for k in entry if _key_path(k) == ("codec", "use")), None)
        if codec is not None and key is not None and base.chosen("codec", entry[key]) is not codec:
            problems.append(Problem.at(doc.at(here + (key,)), here + (key,), f"changes the codec itself "
                                       f"({codec.name!r} -> {entry[key]!r}); a variant only recodes the trained model"))
            continue
        point = doc.copy()
        point.data.pop("sweep", None)  # a variant applies to every sweep point alike
        for key, value in entry.items():
            error = point.assign(_key_path(key), copy.deepcopy(value), doc.at(here + (key,), key=True), doc.at(here + (key,)))
            if error:
                problems.append(Problem.at(doc.at(here, key=True), here, error))
        checker = validate(point, registry)
        problems += checker.problems
        if checker.problems:
            continue
        values = {_key_path(key): _lookup(checker.config, _key_path(key)) for key in entry}
        label = ",".join(f"{key.rsplit('.', 1)[-1]}={_label(v)}" for key, v in zip(entry, values.values()))
        out.append((label, values, checker))
    return out


def load_pipeline(path: str | pathlib.Path, overrides: Iterable[str] = (), construct: bool = True) -> Pipeline:
    """Read, override, validate (every sweep point too) and resolve a pipeline file, and (with
    ``construct``) build every component once, without training or reading data, so that what
    a constructor rejects is found too. Raises one :class:`PipelineError` with every problem
    found. ``construct=False`` only validates (e.g. a trained model's own pipeline, whose data
    need not be on this machine)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(
            [Problem(str(path), 0, 0, "", f"cannot read pipeline: {exc}")]
        ) from None
    return parse_pipeline(text, str(path), overrides, path=path, construct=construct)
