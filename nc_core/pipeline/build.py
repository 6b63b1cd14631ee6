"""Instantiate components from normalised specs (``{use: NAME, **kwargs}``).

Specs stay plain dicts; where each came from is kept in a side table keyed by the dict's
identity (filled by :class:`nc_core.pipeline.Pipeline`), so a constructor's ``ValueError``
becomes a located problem. :func:`construct_all` builds every component of a validated
configuration once, collecting every constructor's problem, so that loading a pipeline
reports them all before any work starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from nc_core.pipeline.problems import KeyPath, Loc, PipelineError, Problem, dotted
from nc_core.pipeline.schema import (
    PIPELINE,
    SPEC_ONLY_KEYS,
    ComponentSpec,
    ListOf,
    Map,
    Null,
    OneOf,
    TupleOf,
    params_of,
)
from nc_core.pipeline.yamlload import Document
from nc_core.plugins import Registry, UnknownComponent, get_registry

# id(spec) -> (spec, path, document); holding the spec keeps its id from being reused
_WHERE: dict[int, tuple[dict, KeyPath, Document]] = {}

#: where a spec came from: its key path in a document (None: unknown, e.g. built from code)
Where = tuple[KeyPath, Document] | None


class _Failed:
    def __repr__(self) -> str:
        return "<failed>"


FAILED = _Failed()  # what a component that could not be built is replaced by


def remember(spec: dict, path: KeyPath, doc: Document) -> None:
    """Record where a spec came from, for messages from :func:`build`."""
    _WHERE[id(spec)] = (spec, path, doc)


def locate(spec: Any) -> Where:
    entry = _WHERE.get(id(spec))
    return (entry[1], entry[2]) if entry and entry[0] is spec else None


def _at(where: Where, *sub: Any) -> Where:
    return (where[0] + sub, where[1]) if where else None


def _materialise(node: Any, value: Any, problems: list[Problem], where: Where, registry: Registry) -> Any:
    """Turn a validated argument into what the constructor takes (nested components built);
    :data:`FAILED` when a nested component could not be built."""
    if isinstance(node, ComponentSpec):
        return _construct(value, node.kind, {}, problems, where or locate(value), registry)
    if isinstance(node, (ListOf, TupleOf)) and isinstance(value, list):
        nodes = [node.item] * len(value) if isinstance(node, ListOf) else node.items
        items = [_materialise(n, v, problems, _at(where, i), registry) for i, (n, v) in enumerate(zip(nodes, value))]
        if any(item is FAILED for item in items):
            return FAILED
        return tuple(items) if isinstance(node, TupleOf) or node.as_tuple else items
    if isinstance(node, OneOf) and value is not None:
        options = [o for o in node.options if not isinstance(o, Null)]
        if len(options) == 1:
            return _materialise(options[0], value, problems, where, registry)
        if isinstance(value, dict) and "use" in value:
            spec = next((o for o in options if isinstance(o, ComponentSpec)), None)
            return _construct(value, spec.kind, {}, problems, where or locate(value), registry) if spec else value
    return value


def _blamed(message: str, candidates: dict[str, KeyPath], doc: Document) -> KeyPath | None:
    """The path of the argument a constructor's message names first (``patch must be >= 16``
    names ``patch``), among arguments written in the document; None if it names none."""
    found = []
    for name, path in candidates.items():
        match = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message)
        if match and path in doc.values:
            found.append((match.start(), path))
    return min(found)[1] if found else None


def _construct(spec: dict | str, kind: str, extra: dict, problems: list[Problem], where: Where,
               registry: Registry, extra_paths: dict[str, KeyPath] | None = None) -> Any:
    """Build one component (nested ones first); on failure append located problems (one per
    component that failed, siblings included) and return :data:`FAILED`."""
    path, doc = where if where else ((), None)

    def report(message: str, at: KeyPath | None = None) -> None:
        if doc is None:
            loc = Loc("<pipeline>", 0, 0)
        else:
            loc = doc.at(at) if at is not None else doc.at(path, key=True)
        problems.append(Problem.at(loc, at if at is not None else path, message))

    if isinstance(spec, str):
        spec = {"use": spec}
    name = spec.get("use")
    try:
        cls = registry.get(kind, name)
    except UnknownComponent as exc:
        report(str(exc))
        return FAILED
    params = params_of(cls)
    kwargs = {
        k: _materialise(params[k].node, v, problems, _at(where, k), registry) if k in params else v
        for k, v in spec.items()
        if k != "use" and k not in SPEC_ONLY_KEYS.get(kind, ())
    }
    if any(v is FAILED for v in kwargs.values()):
        return FAILED
    try:
        return cls(**kwargs, **extra)
    except (ValueError, TypeError) as exc:
        blamed = None
        if doc is not None:
            candidates = {k: path + (k,) for k in kwargs} | (extra_paths or {})
            blamed = _blamed(str(exc), candidates, doc)
        said = str(exc).removeprefix(f"{kind} {name!r}: ")  # the component named itself already
        report(f"cannot build {kind} {name!r}: {said}", blamed)
        return FAILED


def build(spec: dict | str, kind: str, **extra: Any) -> Any:
    """Instantiate the ``kind`` component named by ``spec``, building nested component
    arguments first; ``extra`` kwargs (runtime-only arguments) go to the constructor.
    Problems (unknown name, constructor ``ValueError``/``TypeError``) raise one
    :class:`PipelineError` listing all of them, located when the spec came from a loaded
    pipeline (at the argument a message names, else at the component)."""
    problems: list[Problem] = []
    component = _construct(spec, kind, extra, problems, locate(spec), get_registry())
    if problems:
        raise PipelineError(problems)
    return component


# ----------------------------------------------------------------- every component at once


def component_specs(node: Any, value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str, dict]]:
    """``(path, kind, spec)`` of each component spec in a validated configuration that is
    not an argument of another component (those are built with their parent)."""
    if isinstance(node, ComponentSpec):
        if isinstance(value, dict):
            yield path, node.kind, value
    elif isinstance(node, Map) and isinstance(value, dict):
        for key, field in node.fields.items():
            if key in value:
                yield from component_specs(field.node, value[key], path + (key,))
    elif isinstance(node, ListOf) and isinstance(value, list):
        for i, item in enumerate(value):
            yield from component_specs(node.item, item, path + (i,))


def _blocked(path: KeyPath, problem_paths: set[str]) -> bool:
    """Whether a validation problem lies at or inside ``path`` (its spec cannot be built)."""
    here = dotted(path)
    return any(p == here or p.startswith((here + ".", here + "[")) for p in problem_paths)


def _memo_key(path: KeyPath, spec: dict, extra: dict, doc: Document) -> tuple:
    """Identifies one construction: the spec, the runtime arguments and where every part of
    the spec is written (the same spec at the same places gives the same problems)."""
    where = frozenset((p, loc) for table in (doc.keys, doc.values) for p, loc in table.items()
                      if p[: len(path)] == path)
    return path, json.dumps(spec, sort_keys=True, default=repr), json.dumps(extra, default=repr), where


def construct_all(config: dict, doc: Document, invalid: list[Problem] = (),
                  registry: Registry | None = None, memo: dict | None = None) -> list[Problem]:
    """Build every component of a validated configuration (datasets, codec, loss, metrics,
    each baseline at each of its qualities) once, without training or reading data, and check
    the codec's latent refinement; returns the located problems of all of them. Specs with a
    validation problem (``invalid``) are skipped: they cannot be built. ``memo`` (shared by
    the sweep points of one pipeline) reuses a component built from the same spec."""
    registry = registry or get_registry()
    memo = {} if memo is None else memo
    problems: list[Problem] = []
    problem_paths = {p.path for p in invalid}
    built: dict[KeyPath, Any] = {}

    def construct(path, kind, spec, extra=None, extra_paths=None):
        key = _memo_key(path, spec, extra or {}, doc)
        if key not in memo:
            found: list[Problem] = []
            memo[key] = _construct(spec, kind, extra or {}, found, (path, doc), registry, extra_paths), found
        component, found = memo[key]
        problems.extend(found)
        return component

    for path, kind, spec in component_specs(PIPELINE, config):
        if _blocked(path, problem_paths):
            continue
        if kind == "baseline":
            for i, quality in enumerate(spec.get("qualities", ())):
                construct(path, kind, spec, {"quality": quality}, {"quality": path + ("qualities", i)})
        else:
            built[path] = construct(path, kind, spec)
    evaluate = config.get("evaluate")
    refine = evaluate.get("refine") if isinstance(evaluate, dict) else None
    codec, loss = built.get(("codec",), FAILED), built.get(("train", "loss"), FAILED)
    if refine and codec is not FAILED and loss is not FAILED and not _blocked(("evaluate", "refine"), problem_paths):
        try:  # the view shares the weights: cheap
            refined = getattr(codec, "refined", None)
            if refined is None:
                raise TypeError(f"codec {codec.name!r} does not support latent refinement")
            refined(loss, refine["steps"], refine["lr"])
        except (ValueError, TypeError) as exc:
            problems.append(Problem.at(doc.at(("evaluate", "refine"), key=True), ("evaluate", "refine"), str(exc)))
    return problems
