"""Plugin discovery and the component registry.

Plugins are modules named by entry points in the ``nc`` group. Each is loaded on its own: one
that fails to import, implements a misspelled hook (caught by ``check_pending``) or raises in a
registration hook is recorded as *broken* (name, version, exception) and everything else keeps
working, unless ``NC_STRICT_PLUGINS=1``. Two components of one kind with one name is an error
naming both distributions. The :class:`Registry` is the typed facade the rest of nc uses; no
other module calls hooks by string.

Start-up: importing every plugin (and what its components import) costs more than most
commands need, so :func:`get_registry` keeps an *index* of what loading all plugins found
(plugins, hooks, components and where each class lives) in a cache file keyed by the
installed entry points and the size and modification time of every source file of the
plugins' packages. With a valid index no plugin is imported until a component of it is looked
up. ``NC_PLUGIN_CACHE`` names the cache folder (default ``$XDG_CACHE_HOME/nc`` or
``~/.cache/nc``); ``NC_PLUGIN_CACHE=0`` turns the index off.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
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
    "nc_register_importers": "importer",
}

#: the one registration hook that returns folders (of trained models), not classes
MODEL_FOLDERS_HOOK = "nc_register_model_folders"


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
    model_folders: list[str] = attrs.Factory(list)  # nc_register_model_folders: trained models
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
    module: str | None = None  # the entry point's value ("pkg.module"), for the registry index


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
                module=ep.value,
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
            folders: list[str] = []
            for hook_name in info.hooks:
                if hook_name == MODEL_FOLDERS_HOOK:
                    folders += [str(Path(f).resolve()) for results in pm.hook.nc_register_model_folders()
                                for f in results or []]
                    continue
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
        info.model_folders = folders

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
            entry = self._components[kind][name]
        except KeyError:
            raise UnknownComponent(kind, name, self.names(kind)) from None
        if isinstance(entry, _Lazy):
            entry = self._components[kind][name] = entry.resolve(kind, name, self._owner[(kind, name)])
        return entry

    def owner(self, kind: str, name: str) -> PluginInfo:
        return self._owner[(kind, name)]

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.broken]


    # -- index (see the module docstring) ---------------------------------------------------
    def index(self) -> dict | None:
        """What this registry holds, as JSON data; None when some class cannot be found
        again by module and name (defined in a function, or not at its module's top level)."""
        classes: dict[str, dict[str, list[str]]] = {}
        for kind, table in self._components.items():
            for name, cls in table.items():
                if isinstance(cls, _Lazy):
                    return None
                where = _Lazy(cls.__module__, cls.__qualname__)
                if "<" in cls.__qualname__ or where.find() is not cls:
                    return None
                classes.setdefault(kind, {})[name] = [cls.__module__, cls.__qualname__, self._owner[(kind, name)].name]
        return {"plugins": [attrs.asdict(p) for p in self.plugins], "classes": classes}

    @classmethod
    def from_index(cls, index: dict, cache_file: Path | None = None) -> "Registry":
        """A registry from :meth:`index` data; classes are imported when first looked up.
        A broken plugin recorded there still raises in strict mode."""
        registry = cls([])
        by_name = {}
        for fields in index["plugins"]:
            info = PluginInfo(**fields)
            registry.plugins.append(info)
            by_name[info.name] = info
            if info.error is not None and _strict():
                raise PluginError(f"plugin {info.name!r} ({info.distribution} {info.version}) is broken: "
                                  f"{info.error}")
        for kind, table in index["classes"].items():
            for name, (module, qualname, plugin) in table.items():
                registry._components[kind][name] = _Lazy(module, qualname, cache_file)
                registry._owner[(kind, name)] = by_name[plugin]
        return registry


class _Lazy:
    """A component class known from the index by module and qualified name."""

    __slots__ = ("module", "qualname", "cache_file")

    def __init__(self, module: str, qualname: str, cache_file: Path | None = None):
        self.module, self.qualname, self.cache_file = module, qualname, cache_file

    def find(self) -> object:
        obj = importlib.import_module(self.module)
        for part in self.qualname.split("."):
            obj = getattr(obj, part)
        return obj

    def resolve(self, kind: str, name: str, info: PluginInfo) -> type[Component]:
        try:
            cls = self.find()
            Registry._check_class(kind, cls, f"{self.module}.{self.qualname}")
            if cls.name != name:
                raise TypeError(f"{self.module}.{self.qualname} is now named {cls.name!r}, not {name!r}")
        except Exception as exc:  # the plugin broke since the index was written: forget the index
            if self.cache_file is not None:
                self.cache_file.unlink(missing_ok=True)
            raise PluginError(f"plugin {info.name!r} ({info.distribution} {info.version}) is broken: "
                              f"{_describe(exc)}") from exc
        return cls


INDEX_FORMAT = 3  # 2: plugins carry model_folders; 3: importers


def cache_folder() -> Path | None:
    """Where the registry index is kept (None: not kept)."""
    value = os.environ.get("NC_PLUGIN_CACHE")
    if value == "0":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nc"


def _fingerprint(sources: list[PluginSource]) -> str | None:
    """A key that changes when a plugin is installed, removed, upgraded or edited: the entry
    points, and path, size and mtime of every file in each plugin's top-level package. None
    when a source has no module name or its package cannot be found without importing it."""
    digest = hashlib.sha256(f"{INDEX_FORMAT}|{sys.version}|{sys.prefix}".encode())
    packages = set()
    for s in sources:
        if s.module is None:
            return None
        digest.update(f"{s.name}|{s.distribution}|{s.version}|{s.module}\n".encode())
        packages.add(s.module.split(":")[0].split(".")[0])
    for package in sorted(packages):
        spec = importlib.util.find_spec(package)
        if spec is None:
            return None
        roots = list(spec.submodule_search_locations or []) or [spec.origin]
        for root in roots:
            for folder, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for file in sorted(files):
                    if file.endswith((".py", ".so", ".pyd")):
                        st = os.stat(os.path.join(folder, file))
                        digest.update(f"{folder}/{file}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            if os.path.isfile(root):
                st = os.stat(root)
                digest.update(f"{root}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def indexed_registry(sources: list[PluginSource]) -> Registry:
    """:class:`Registry` of ``sources``, through the index in :func:`cache_folder` when one
    matches (no plugin imported), else loaded in full and the index written for next time."""
    folder = cache_folder()
    key = _fingerprint(sources) if folder is not None else None
    if key is None:
        return Registry(sources)
    environment = hashlib.sha256(sys.prefix.encode()).hexdigest()[:8]  # venvs may share the folder
    cache_file = folder / f"plugins-{environment}-{key}.json"
    try:
        index = json.loads(cache_file.read_text())
        if index.get("format") == INDEX_FORMAT:
            return Registry.from_index(index, cache_file)
    except PluginError:
        raise
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no index yet, or an unreadable one: load the plugins
    registry = Registry(sources)
    index = registry.index()
    if index is not None and not registry.broken:  # a broken plugin may be fixed by a dependency: reload
        _write_index(cache_file, {"format": INDEX_FORMAT} | index)
    return registry


def _write_index(path: Path, index: dict) -> None:
    """Best effort: the index only saves time, so a read-only home is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".plugins-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(index, f)
        os.replace(tmp, path)
        environment = path.name.split("-")[1]
        for old in path.parent.glob(f"plugins-{environment}-*.json"):  # earlier installs of this environment
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry built from installed entry points (loaded once, through
    the index when it is valid)."""
    global _registry
    if _registry is None:
        _registry = indexed_registry(entry_point_sources())
    return _registry


def set_registry(registry: Registry | None) -> Registry | None:
    """Replace the process-wide registry (tests; embedding nc with hand-picked plugins) and
    return the one it replaces, to restore it afterwards; ``None`` reloads installed plugins
    on next use."""
    global _registry
    previous, _registry = _registry, registry
    return previous
