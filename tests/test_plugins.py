"""Plugin discovery: broken plugins, strict mode, misspelled hooks, name clashes, listings."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from nc_core import hookimpl, hookspecs
from nc_core.contracts import Metric
from nc_core.plugins import (
    HOOK_KINDS,
    MODEL_FOLDERS_HOOK,
    PluginError,
    PluginSource,
    Registry,
    UnknownComponent,
    get_registry,
)

REPO = Path(__file__).resolve().parents[1]


def _metric(name: str) -> type[Metric]:
    return type(f"M_{name}", (Metric,), {"name": name, "higher_is_better": True, "results_key": name})


def _plugin(**hooks) -> types.SimpleNamespace:
    module = types.SimpleNamespace()
    for hook, value in hooks.items():
        setattr(module, hook, hookimpl(lambda value=value: value))
    return module


def _source(name, module, dist="dist-" + "x", version="1.0"):
    return PluginSource(name=name, distribution=dist, version=version, load=lambda: module)


def _raising():
    raise ImportError("no module named 'missing_dependency'")


def test_installed_plugins_register_core_and_coders():
    registry = get_registry()
    assert not registry.broken, [p.error for p in registry.broken]
    assert {"ans", "range"} <= set(registry.names("coder"))
    assert "deep-factorized" in registry.names("probability-model")
    assert {"noise", "ste", "mixed", "round", "dithered"} <= set(registry.names("quantizer"))
    assert {"mse", "psnr", "ms-ssim", "bpp"} <= set(registry.names("metric"))
    assert {"jpeg", "webp", "avif", "jpeg2000"} <= set(registry.names("baseline"))
    assert registry.owner("coder", "ans").distribution == "nc-ans"
    assert registry.owner("metric", "mse").distribution == "nc-core"


def test_broken_plugin_is_reported_and_others_still_load(monkeypatch):
    monkeypatch.delenv("NC_STRICT_PLUGINS", raising=False)
    good = _plugin(nc_register_metrics=[_metric("good")])
    registry = Registry([PluginSource("broken", "broken-dist", "0.3", _raising), _source("good", good)])
    broken = registry.plugins[0]
    assert broken.broken and broken.version == "0.3" and "missing_dependency" in broken.error
    assert registry.names("metric") == ["good"]


def test_strict_mode_makes_a_broken_plugin_fatal(monkeypatch):
    monkeypatch.setenv("NC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken-dist 0.3"):
        Registry([PluginSource("broken", "broken-dist", "0.3", _raising)])


def test_misspelled_hook_is_caught_by_check_pending(monkeypatch):
    monkeypatch.delenv("NC_STRICT_PLUGINS", raising=False)
    typo = _plugin(nc_register_metric=[_metric("m")])  # missing the final 's'
    registry = Registry([_source("typo", typo)])
    assert registry.plugins[0].broken
    assert "nc_register_metric" in registry.plugins[0].error


def test_hook_returning_a_non_component_marks_the_plugin_broken(monkeypatch):
    monkeypatch.delenv("NC_STRICT_PLUGINS", raising=False)
    registry = Registry([_source("bad", _plugin(nc_register_metrics=[object]))])
    assert registry.plugins[0].broken and "not a subclass of Metric" in registry.plugins[0].error


def test_duplicate_names_name_both_distributions():
    a = _plugin(nc_register_metrics=[_metric("same")])
    b = _plugin(nc_register_metrics=[_metric("same")])
    with pytest.raises(PluginError) as info:
        Registry([_source("a", a, dist="dist-one"), _source("b", b, dist="dist-two")])
    assert "dist-one" in str(info.value) and "dist-two" in str(info.value)


def test_same_name_in_different_kinds_is_allowed():
    from nc_core.contracts import Quantizer

    q = type("Q", (Quantizer,), {"name": "same"})
    registry = Registry([_source("a", _plugin(nc_register_metrics=[_metric("same")], nc_register_quantizers=[q]))])
    assert registry.get("quantizer", "same") is q


def test_unknown_component_suggests_the_closest_name():
    registry = Registry([_source("a", _plugin(nc_register_metrics=[_metric("psnr"), _metric("mse")]))])
    with pytest.raises(UnknownComponent, match="did you mean 'psnr'"):
        registry.get("metric", "psnrr")


def test_every_hook_is_documented_and_maps_to_a_kind():
    docs = (REPO / "docs" / "hooks.md").read_text()
    specs = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("nc_")]
    assert sorted(specs) == sorted([*HOOK_KINDS, MODEL_FOLDERS_HOOK])
    for name in specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert doc.splitlines()[0].strip(), f"{name} has no one-line summary"
        assert ":return:" in doc, f"{name} docstring does not say what it returns"
        assert f"`{name}" in docs, f"{name} is missing from docs/hooks.md"


def _fake_broken_distribution(tmp_path: Path) -> dict:
    """A dist-info on PYTHONPATH whose nc entry point raises on import."""
    site = tmp_path / "site"
    info = site / "nc_broken_example-0.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nc-broken-example\nVersion: 0.9\n")
    (info / "entry_points.txt").write_text("[nc]\nbroken = nc_broken_example\n")
    (site / "nc_broken_example.py").write_text("raise ImportError('needs libfoo, which is not installed')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    env.pop("NC_STRICT_PLUGINS", None)
    return env


@pytest.mark.slow
def test_cli_lists_broken_plugin_and_run_still_works(tmp_path, tiny_pipeline):
    env = _fake_broken_distribution(tmp_path)
    nc = [sys.executable, "-m", "nc_core"]
    out = subprocess.run([*nc, "plugins", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["broken"]["broken"] and "libfoo" in plugins["broken"]["error"]
    assert plugins["broken"]["version"] == "0.9"
    assert "coder" in plugins["ans"]["components"]
    text = subprocess.run([*nc, "plugins"], env=env, capture_output=True, text=True, timeout=120)
    assert "BROKEN" in text.stdout and "nc-broken-example 0.9" in text.stdout
    run = subprocess.run([*nc, "run", str(tiny_pipeline), "--out", str(tmp_path / "runs"), "--quiet"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    strict = subprocess.run([*nc, "plugins"], env=env | {"NC_STRICT_PLUGINS": "1"}, capture_output=True,
                            text=True, timeout=120)
    assert strict.returncode == 2 and "libfoo" in strict.stderr and "Traceback" not in strict.stderr
