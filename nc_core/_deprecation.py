"""Deprecated aliases: a name that moved keeps working at its old place, with a warning,
for one minor version (see docs/plugin-guide.md, "Stability")."""

from __future__ import annotations

import importlib
import warnings


def moved(old_module: str, names: dict[str, str]):
    """A module ``__getattr__`` that serves each of ``names`` (old name -> new module) from
    its new module, with a :class:`DeprecationWarning` naming both places."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        new = names[name]
        warnings.warn(f"{old_module}.{name} is deprecated; import it from {new}", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__
