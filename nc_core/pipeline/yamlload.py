"""Safe YAML reading that remembers where every key and value came from.

The loader composes the YAML node graph with :class:`yaml.SafeLoader` (no code runs, no
arbitrary tags) and walks it into plain dicts/lists, recording for every key path the start of
its key and of its value. Aliases are expanded into independent copies so later edits
(overrides, defaults) never leak between them.
"""

from __future__ import annotations

import copy
import re
from typing import Any, ClassVar

import attrs
import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from nc_core.pipeline.problems import KeyPath, Loc, PipelineError, Problem

_MAP, _SEQ, _MERGE = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"
_MAX_NODES = 200_000  # alias expansion bomb guard

# YAML 1.1 (PyYAML) reads `1e-4` as a string; people write learning rates that way.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)


class LineLoader(yaml.SafeLoader):
    """A SafeLoader whose :meth:`load_located` returns data plus key/value locations."""

    yaml_implicit_resolvers: ClassVar[dict] = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str, file: str = "<string>"):
        super().__init__(stream)
        self.file = file
        self.keys: dict[KeyPath, Loc] = {}
        self.values: dict[KeyPath, Loc] = {}
        self.problems: list[Problem] = []
        self._seen_maps: set[int] = set()
        self._count = 0

    def loc(self, mark: yaml.Mark) -> Loc:
        return Loc(self.file, mark.line + 1, mark.column + 1)

    def load_located(self) -> Any:
        node = self.get_single_node()
        return None if node is None else self._walk(node, (), frozenset())

    def _walk(self, node: yaml.Node, path: KeyPath, active: frozenset[int]) -> Any:
        self._count += 1
        if self._count > _MAX_NODES:
            raise yaml.MarkedYAMLError(
                problem="document too large (alias expansion?)", problem_mark=node.start_mark
            )
        self.values[path] = self.loc(node.start_mark)
        if isinstance(node, ScalarNode):
            try:
                return self.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as exc:
                self.problems.append(Problem.at(self.values[path], path, exc.problem or str(exc)))
                return None
        if id(node) in active:
            self.problems.append(Problem.at(self.values[path], path, "recursive alias"))
            return None
        active = active | {id(node)}
        if isinstance(node, SequenceNode) and node.tag == _SEQ:
            return [self._walk(item, path + (i,), active) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode) and node.tag == _MAP:
            return self._mapping(node, path, active)
        self.problems.append(
            Problem.at(self.values[path], path, f"unsupported YAML tag {node.tag!r}")
        )
        return None

    def _mapping(self, node: MappingNode, path: KeyPath, active: frozenset[int]) -> dict:
        if id(node) not in self._seen_maps:  # flatten_mapping edits the node: check it once
            self._seen_maps.add(id(node))
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
                    continue
                key, line = self.construct_object(key_node), key_node.start_mark.line + 1
                if key in first:
                    self.problems.append(
                        Problem.at(
                            self.loc(key_node.start_mark),
                            path + (key,),
                            f"duplicate key {key!r} (first defined at line {first[key]})",
                        )
                    )
                first.setdefault(key, line)
            self.flatten_mapping(node)  # resolves `<<: *anchor` merges
        out: dict = {}
        for key_node, value_node in node.value:
            key_loc = self.loc(key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Problem.at(key_loc, path, "keys must be strings"))
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):  # e.g. `yes:` or `1:`
                got = f"{type(key).__name__} {key!r}"
                self.problems.append(Problem.at(key_loc, path, f"keys must be strings, got {got}"))
                continue
            self.keys[path + (key,)] = key_loc
            out[key] = self._walk(value_node, path + (key,), active)  # duplicates: last wins
        return out


LineLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


@attrs.define
class Document:
    """Loaded YAML data plus where each key path came from."""

    data: Any
    file: str
    keys: dict[KeyPath, Loc] = attrs.Factory(dict)  # where the key of a path is written
    values: dict[KeyPath, Loc] = attrs.Factory(dict)  # where its value starts
    problems: list[Problem] = attrs.Factory(list)  # non-fatal problems found while reading

    def copy(self) -> Document:
        return Document(
            copy.deepcopy(self.data),
            self.file,
            dict(self.keys),
            dict(self.values),
            list(self.problems),
        )

    def at(self, path: KeyPath, key: bool = False) -> Loc:
        """Location of a path's key (``key=True``) or value, else of its nearest ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            path = path[:-1]
        return self.values.get((), Loc(self.file, 1, 1))

    def assign(
        self, path: tuple[str, ...], value: Any, loc: Loc, value_loc: Loc | None = None
    ) -> str | None:
        """Set ``value`` at ``path`` (string segments; digits index lists), creating missing
        mappings and expanding component shorthand (``coder: ans``) when descending into it.
        Returns an error message instead of raising."""
        node, here = self.data, ()
        for i, part in enumerate(path):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                part = int(part)
            elif isinstance(node, list):
                return f"cannot set {'.'.join(path)!r}: {'.'.join(path[:i])!r} has no item {part!r} (it has {len(node)})"
            elif not isinstance(node, dict):
                return f"cannot set {'.'.join(path)!r}: {'.'.join(path[:i])!r} is not a mapping"
            here += (part,)
            if i == len(path) - 1:
                break
            child = node.get(part) if isinstance(node, dict) else node[part]
            if child is None:
                node[part] = {}
                self.keys.setdefault(here, loc)
                self.values[here] = loc
            elif isinstance(child, str):  # component shorthand -> mapping
                node[part] = {"use": child}
                self.values[here + ("use",)] = self.values.get(here, loc)
            node = node[part]
        self._forget(here)
        node[part] = value
        self.keys[here] = loc
        self._locate(here, value, value_loc or loc)
        return None

    def _forget(self, path: KeyPath) -> None:
        n = len(path)
        for table in (self.keys, self.values):
            for p in [p for p in table if p[:n] == path]:
                del table[p]

    def _locate(self, path: KeyPath, value: Any, loc: Loc) -> None:
        self.values[path] = loc
        if isinstance(value, dict | list):
            for k, v in value.items() if isinstance(value, dict) else enumerate(value):
                self.keys[path + (k,)] = loc
                self._locate(path + (k,), v, loc)


def _syntax_problem(file: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    message = getattr(exc, "problem", None) or str(exc)
    context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context:
        message += f" ({context}" + (f" at line {cmark.line + 1})" if cmark else ")")
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    return Problem(file, line, col, "", message)


def read_yaml(text: str, file: str = "<string>") -> Document:
    """Parse ``text``; raise :class:`PipelineError` on syntax errors or a non-mapping top level.
    Duplicate keys and bad tags are returned in ``Document.problems``."""
    loader = LineLoader(text, file)
    try:
        data = loader.load_located()
    except yaml.YAMLError as exc:
        raise PipelineError([_syntax_problem(file, exc)]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        got = "an empty document" if data is None else type(data).__name__
        raise PipelineError(
            [
                Problem.at(
                    loader.values.get((), Loc(file, 1, 1)),
                    (),
                    f"top level must be a mapping, got {got}",
                )
            ]
        )
    return Document(data, file, loader.keys, loader.values, loader.problems)


def parse_value(text: str) -> Any:
    """A YAML scalar or flow collection (``--set`` values), read like the pipeline file."""
    return yaml.load(text, Loader=LineLoader)  # LineLoader is a SafeLoader: no arbitrary objects
