"""The registry index (nc_core.plugins.indexed_registry): a valid index gives the same
registry without importing any plugin, and anything that changes the plugins invalidates it."""

from __future__ import annotations

import importlib
import sys

import pytest

from nc_core import plugins
from nc_core.contracts import KINDS
from nc_core.plugins import PluginError, PluginSource, Registry, entry_point_sources, indexed_registry

PLUGIN = """\
from nc_core import hookimpl
from nc_core.contracts import Metric


class Fake(Metric):
    name = "{name}"


@hookimpl
def nc_register_metrics():
    return [Fake]
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A plugin package on sys.path, and the cache folder in tmp_path."""
    package = tmp_path / "nc_fake_indexed"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(PLUGIN.format(name="fake-metric"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NC_PLUGIN_CACHE", str(tmp_path / "cache"))
    yield PluginSource("fake", "nc-fake", "0.1", load=lambda: importlib.import_module("nc_fake_indexed.plugin"),
                       module="nc_fake_indexed.plugin")
    _forget()


def _forget():
    for name in [m for m in sys.modules if m.startswith("nc_fake_indexed")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_a_valid_index_imports_no_plugin_until_a_component_is_used(fake, tmp_path):
    first = indexed_registry([fake])
    assert first.names("metric") == ["fake-metric"]
    assert len(list((tmp_path / "cache").glob("plugins-*.json"))) == 1
    _forget()
    second = indexed_registry([fake])
    assert "nc_fake_indexed.plugin" not in sys.modules  # nothing imported yet
    assert second.names("metric") == ["fake-metric"]
    assert [p.as_dict() for p in second.plugins] == [p.as_dict() for p in first.plugins]
    cls = second.get("metric", "fake-metric")
    assert "nc_fake_indexed.plugin" in sys.modules and cls.name == "fake-metric"
    assert cls is sys.modules["nc_fake_indexed.plugin"].Fake
    assert second.owner("metric", "fake-metric").distribution == "nc-fake"


def test_editing_a_plugin_invalidates_the_index(fake, tmp_path):
    indexed_registry([fake])
    (tmp_path / "nc_fake_indexed" / "plugin.py").write_text(PLUGIN.format(name="renamed-metric"))
    _forget()
    assert indexed_registry([fake]).names("metric") == ["renamed-metric"]
    assert len(list((tmp_path / "cache").glob("plugins-*.json"))) == 1  # the old index is gone


def test_another_version_invalidates_the_index(fake):
    indexed_registry([fake])
    _forget()
    upgraded = PluginSource(fake.name, fake.distribution, "0.2", fake.load, fake.module)
    registry = indexed_registry([upgraded])
    assert "nc_fake_indexed.plugin" in sys.modules and registry.plugins[0].version == "0.2"


def test_no_index_when_turned_off_or_a_plugin_is_broken(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("NC_PLUGIN_CACHE", "0")
    indexed_registry([fake])
    assert not (tmp_path / "cache").exists()
    monkeypatch.setenv("NC_PLUGIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NC_STRICT_PLUGINS", raising=False)
    (tmp_path / "nc_fake_indexed" / "plugin.py").write_text("raise ImportError('needs libfoo')\n")
    _forget()
    registry = indexed_registry([fake])
    assert registry.broken and not list((tmp_path / "cache").glob("plugins-*.json"))


def test_a_class_that_went_missing_is_a_plugin_error_and_drops_the_index(fake, tmp_path):
    index = indexed_registry([fake]).index()
    index["classes"]["metric"]["fake-metric"][0] = "nc_fake_indexed.gone"
    stale = tmp_path / "stale.json"
    stale.write_text("{}")
    registry = Registry.from_index(index, stale)
    with pytest.raises(PluginError, match="plugin 'fake' .* is broken: ModuleNotFoundError"):
        registry.get("metric", "fake-metric")
    assert not stale.exists()


def test_the_installed_plugins_index_to_the_same_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("NC_PLUGIN_CACHE", str(tmp_path))
    eager = Registry(entry_point_sources())
    indexed_registry(entry_point_sources())  # writes the index
    indexed = indexed_registry(entry_point_sources())
    assert list(tmp_path.glob("plugins-*.json"))
    assert isinstance(indexed._components["codec"]["transform-coding"], plugins._Lazy)
    assert [p.as_dict() for p in indexed.plugins] == [p.as_dict() for p in eager.plugins]
    for kind in KINDS:
        assert indexed.names(kind) == eager.names(kind)
        for name in eager.names(kind):
            assert indexed.get(kind, name) is eager.get(kind, name)


def test_classes_not_found_by_name_are_not_indexed():
    from nc_core import hookimpl
    from nc_core.contracts import Metric

    class Hooks:
        @staticmethod
        @hookimpl
        def nc_register_metrics():
            class Local(Metric):  # defined in a function: not importable by name
                name = "local"

            return [Local]

    registry = Registry([PluginSource("local", "nc-local", "0", load=lambda: Hooks)])
    assert registry.names("metric") == ["local"] and registry.index() is None
