"""Plugin discovery and the component registry.

Plugins are modules named by entry points in the ``nc`` group. Each is loaded on its own: one
that fails to import, implements a misspelled hook (caught by ``check_pending``) or raises in a
registration hook is recorded as *broken* (name, version, exception) and everything else keeps
working, unless ``NC_STRICT_PLUGINS=1``. Two components of one kind with one name is an error
naming both distributions. The :class:`Registry` is the typed facade the rest of nc uses; no
other module calls hooks by string.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import traceback
from typing import Iterable

import attrs
import pluggy

from nc_core import hookspecs
from nc_core.contracts import KINDS, Component

ENTRY_POINT_GROUP = "nc"

#: registration hook -> component kind it returns
HOOK_KINDS: dict[str, str] = {
    "nc_register_coders": "coder",
    "nc_register_probability_models": "probability-model",
    "nc_register_transforms": "transform",
    "nc_register_quantizers": "quantizer",
    "nc_register_metrics": "metric",
    "nc_register_datasets": "dataset",
    "nc_register_codecs": "codec",
    "nc_register_baselines": "baseline",
    "nc_register_losses": "loss",
}


class PluginError(Exception):
    """A plugin problem that stops nc (strict mode, or conflicting component names)."""


class UnknownComponent(LookupError):
    def __init__(self, kind: str, name: str, choices: list[str]):
        self.kind, self.name, self.choices = kind, name, choices
        close = difflib.get_close_matches(name, choices, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        super().__init__(f"unknown {kind} {name!r}; {hint}choices: {', '.join(choices) or '(none)'}")


@attrs.define
class PluginInfo:
    """One loaded (or broken) plugin."""

    name: str  # entry-point name
    distribution: str
    version: str
    hooks: list[str] = attrs.Factory(list)
    components: dict[str, list[str]] = attrs.Factory(dict)  # kind -> names
    error: str | None = None  # set when broken

    @property
    def broken(self) -> bool:
        return self.error is not None

    def as_dict(self) -> dict:
        return attrs.asdict(self) | {"broken": self.broken}


@attrs.define
class PluginSource:
    """A plugin to load: an entry point, or (for tests and embedding) an object directly."""

    name: str
    distribution: str
    version: str
    load: object  # zero-argument callable returning the plugin module/object


def entry_point_sources() -> list[PluginSource]:
    sources = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        sources.append(
            PluginSource(
                name=ep.name,
                distribution=dist.name if dist else "?",
                version=dist.version if dist else "?",
                load=ep.load,
            )
        )
    # never rely on load order: sort for stable listings and messages
    return sorted(sources, key=lambda s: (s.distribution, s.name))


def _strict() -> bool:
    return os.environ.get("NC_STRICT_PLUGINS", "") not in ("", "0")


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


class Registry:
    """All components, by kind and name, and what each plugin contributed."""

    def __init__(self, sources: Iterable[PluginSource]):
        self.plugins: list[PluginInfo] = []
        self._components: dict[str, dict[str, type[Component]]] = {k: {} for k in KINDS}
        self._owner: dict[tuple[str, str], PluginInfo] = {}
        for source in sources:
            self._load(source)

    # -- loading ---------------------------------------------------------------------------
    def _load(self, source: PluginSource) -> None:
        info = PluginInfo(source.name, source.distribution, source.version)
        self.plugins.append(info)
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        try:
            module = source.load()
            pm.register(module, name=source.name)
            pm.check_pending()
            info.hooks = sorted(
                {impl_hook.name for impl_hook in pm.get_hookcallers(module) or []}
            )
            found: list[tuple[str, type[Component]]] = []
            for hook_name in info.hooks:
                kind = HOOK_KINDS[hook_name]
                for results in getattr(pm.hook, hook_name)():
                    for cls in results or []:
                        self._check_class(kind, cls, hook_name)
                        found.append((kind, cls))
        except PluginError:
            raise
        except Exception as exc:  # a broken plugin must not take nc down
            info.error = _describe(exc)
            info.hooks, info.components = [], {}
            if _strict():
                raise PluginError(
                    f"plugin {source.name!r} ({source.distribution} {source.version}) is broken: "
                    f"{info.error}"
                ) from exc
            return
        for kind, cls in found:
            self._add(kind, cls, info)

    @staticmethod
    def _check_class(kind: str, cls: object, hook: str) -> None:
        base = KINDS[kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"{hook} returned {cls!r}, not a subclass of {base.__name__}")
        if not isinstance(getattr(cls, "name", None), str) or not cls.name:
            raise TypeError(f"{cls.__qualname__} has no component name")

    def _add(self, kind: str, cls: type[Component], info: PluginInfo) -> None:
        other = self._owner.get((kind, cls.name))
        if other is not None:
            raise PluginError(
                f"{kind} name {cls.name!r} is registered twice: by {other.distribution} "
                f"(plugin {other.name!r}) and by {info.distribution} (plugin {info.name!r})"
            )
        self._owner[(kind, cls.name)] = info
        self._components[kind][cls.name] = cls
        info.components.setdefault(kind, []).append(cls.name)

    # -- lookup ----------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def get(self, kind: str, name: str) -> type[Component]:
        try:
            return self._components[kind][name]
        except KeyError:
            raise UnknownComponent(kind, name, self.names(kind)) from None

    def owner(self, kind: str, name: str) -> PluginInfo:
        return self._owner[(kind, name)]

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.broken]


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry built from installed entry points (loaded once)."""
    global _registry
    if _registry is None:
        _registry = Registry(entry_point_sources())
    return _registry


def set_registry(registry: Registry | None) -> Registry | None:
    """Replace the process-wide registry (tests; embedding nc with hand-picked plugins) and
    return the one it replaces, to restore it afterwards; ``None`` reloads installed plugins
    on next use."""
    global _registry
    previous, _registry = _registry, registry
    return previous
