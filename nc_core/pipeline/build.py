"""Instantiate components from normalised specs (``{use: NAME, **kwargs}``).

Specs stay plain dicts; where each came from is kept in a side table keyed by the dict's
identity (filled by :class:`nc_core.pipeline.Pipeline`), so a constructor's ``ValueError``
becomes a located problem.
"""

from __future__ import annotations

from typing import Any

from nc_core.pipeline.problems import KeyPath, Loc, PipelineError, Problem
from nc_core.pipeline.schema import (
    SPEC_ONLY_KEYS,
    ComponentSpec,
    ListOf,
    Null,
    OneOf,
    TupleOf,
    params_of,
)
from nc_core.plugins import UnknownComponent, get_registry

# id(spec) -> (spec, path, loc); holding the spec keeps its id from being reused
_WHERE: dict[int, tuple[dict, KeyPath, Loc]] = {}


def remember(spec: dict, path: KeyPath, loc: Loc) -> None:
    """Record where a spec came from, for messages from :func:`build`."""
    _WHERE[id(spec)] = (spec, path, loc)


def locate(spec: Any) -> tuple[KeyPath, Loc] | None:
    entry = _WHERE.get(id(spec))
    return (entry[1], entry[2]) if entry and entry[0] is spec else None


def _materialise(node: Any, value: Any) -> Any:
    """Turn a validated argument into what the constructor takes (nested components built)."""
    if isinstance(node, ComponentSpec):
        return build(value, node.kind)
    if isinstance(node, ListOf) and isinstance(value, list):
        items = [_materialise(node.item, v) for v in value]
        return tuple(items) if node.as_tuple else items
    if isinstance(node, TupleOf) and isinstance(value, list):
        return tuple(_materialise(n, v) for n, v in zip(node.items, value))
    if isinstance(node, OneOf) and value is not None:
        options = [o for o in node.options if not isinstance(o, Null)]
        if len(options) == 1:
            return _materialise(options[0], value)
        if isinstance(value, dict) and "use" in value:
            spec = next((o for o in options if isinstance(o, ComponentSpec)), None)
            return build(value, spec.kind) if spec else value
    return value


def build(spec: dict | str, kind: str, **extra: Any) -> Any:
    """Instantiate the ``kind`` component named by ``spec``, building nested component
    arguments first; ``extra`` kwargs (runtime-only arguments) go to the constructor.
    Problems (unknown name, constructor ``ValueError``/``TypeError``) raise
    :class:`PipelineError`, located when the spec came from a loaded pipeline."""
    where = locate(spec)
    path, loc = where if where else ((), Loc("<pipeline>", 0, 0))
    if isinstance(spec, str):
        spec = {"use": spec}
    name = spec.get("use")
    try:
        cls = get_registry().get(kind, name)
    except UnknownComponent as exc:
        raise PipelineError([Problem.at(loc, path, str(exc))]) from None
    params = params_of(cls)
    kwargs = {
        k: _materialise(params[k].node, v) if k in params else v
        for k, v in spec.items()
        if k != "use" and k not in SPEC_ONLY_KEYS.get(kind, ())
    }
    try:
        return cls(**kwargs, **extra)
    except (ValueError, TypeError) as exc:
        raise PipelineError(
            [Problem.at(loc, path, f"cannot build {kind} {name!r}: {exc}")]
        ) from exc
