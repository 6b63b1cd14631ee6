"""Located problems: every pipeline error is one ``FILE:LINE:COL: key.path: message`` line."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

KeyPath = tuple  # a key path: ("codec", "transform", "channels"); list indices are ints


@attrs.frozen
class Loc:
    file: str
    line: int  # 1-based; 0 when unknown
    col: int


@attrs.frozen
class Problem:
    file: str
    line: int
    col: int
    path: str
    message: str

    @classmethod
    def at(cls, loc: Loc, path: KeyPath | str, message: str) -> Problem:
        return cls(
            loc.file, loc.line, loc.col, path if isinstance(path, str) else dotted(path), message
        )

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PipelineError(Exception):
    """One or more problems with a pipeline; ``str()`` gives one line per problem."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sort_problems(problems)
        super().__init__("\n".join(map(str, self.problems)))


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Deduplicated (sweep points repeat base problems), files in first-seen order, then by
    line and column."""
    unique = list(dict.fromkeys(problems))
    files = list(dict.fromkeys(p.file for p in unique))
    return sorted(unique, key=lambda p: (files.index(p.file), p.line, p.col))


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
