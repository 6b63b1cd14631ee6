"""The layering plugin authors rely on (docs/plugin-guide.md, "The public API"):

- `lint-imports` (.importlinter) keeps plugins and benchmarks off nc_core's built-in plugin
  and runner; this module checks what import-linter cannot see: names;
- no file imports another package's private names (``_name``, ``pkg._module``);
- a plugin's tests declare every other first-party plugin they import in its ``test`` extra;
- every name that moved out of ``nc_core.components`` / ``nc_core.runner`` still imports from
  its old place, with a DeprecationWarning, as the very object of its new place.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").exists())
FIRST_PARTY = {p.name.replace("-", "_"): p.name for p in PLUGINS}  # package -> distribution
TEMPLATE = REPO / "examples" / "third-party-plugin"


def _imports(path: Path):
    """``(line, module, names)`` of every import in a file (``names`` empty for ``import m``)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, tuple(a.name for a in node.names)


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def private_imports(path: Path, own: str) -> list[str]:
    """Imports in ``path`` of private names of packages other than ``own``."""
    found = []
    for line, module, names in _imports(path):
        if module.split(".")[0] == own:
            continue
        if any(_private(p) for p in module.split(".")) or any(_private(n) for n in names):
            found.append(f"{path.relative_to(REPO)}:{line}: {module} {', '.join(names)}".strip())
    return found


def _sources():
    """``(file, own package)`` for every plugin, benchmark and example file."""
    for plugin in PLUGINS:
        own = plugin.name.replace("-", "_")
        for f in sorted(plugin.rglob("*.py")):
            yield f, own
    for f in sorted((REPO / "benchmarks").rglob("*.py")):
        yield f, "benchmarks"
    for f in sorted(TEMPLATE.rglob("*.py")):
        yield f, "nc_example_plugin"


def test_no_file_imports_another_packages_private_names():
    found = [hit for f, own in _sources() for hit in private_imports(f, own)]
    assert not found, "private imports:\n" + "\n".join(found)


def test_the_private_name_check_sees_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from nc_bitsback.schemes import _fixed\nimport nc_core._deprecation\nfrom nc_core import coders\n")
    bad = bad.rename(REPO / "benchmarks" / f"_probe_{tmp_path.name}.py")  # inside the repo: relative paths
    try:
        assert len(private_imports(bad, "benchmarks")) == 2
    finally:
        bad.unlink()


@pytest.mark.parametrize("plugin", PLUGINS, ids=[p.name for p in PLUGINS])
def test_plugin_tests_declare_the_plugins_they_import(plugin):
    own = plugin.name.replace("-", "_")
    meta = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    declared = {d.split(">")[0].split("=")[0].split("[")[0].strip()
                for d in meta.get("dependencies", []) + meta.get("optional-dependencies", {}).get("test", [])}
    used = {FIRST_PARTY[m.split(".")[0]]
            for f in (plugin / "tests").rglob("*.py") for _, m, _ in _imports(f)
            if m.split(".")[0] in FIRST_PARTY and m.split(".")[0] != own}
    assert used <= declared, f"{plugin.name}: tests import {sorted(used - declared)} but do not declare them"


MOVED = {  # old module -> names that moved, and where to
    "nc_core.components.codecs": ("nc_core.imaging", ["MAX_SIDE", "SYNTHESIS_THREADS", "fixed_threads", "pad_to",
                                                      "to_image", "to_tensor"]),
    "nc_core.components.datasets": ("nc_core.imaging", ["IMAGE_SUFFIXES", "load_rgb"]),
    "nc_core.components.priors": ("nc_core.layers", ["DeepFactorized", "LIKELIHOOD_FLOOR", "ResizingBuffers"]),
    "nc_core.components.transforms": ("nc_core.layers", ["GDN", "LowerBound", "lower_bound"]),
    "nc_core.components.losses": ("nc_core.losses", ["rate_bits"]),
    "nc_core.components.baselines": ("nc_core.baselines", ["PillowBaseline"]),
    "nc_core.runner.run": ("nc_core.models", ["PIPELINE_FILE", "build_codec", "load_model"]),
    "nc_core.coders": ("nc_core.constriction_coders", ["CHECK_WORD", "CHUNK", "NATIVE_MAX_SUPPORT", "WINDOW_BINS",
                                                       "ConstrictionBackend", "ConstrictionCoder", "Stack"]),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_names_keep_working_with_a_warning(old):
    new, names = MOVED[old]
    module = importlib.import_module(old)
    for name in names + (["expand_path"] if old.endswith("datasets") else []):
        target = "nc_core.files" if name == "expand_path" else new
        with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated; import it from {target}"):
            value = getattr(module, name)
        assert value is getattr(importlib.import_module(target), name)
    with warnings.catch_warnings(), pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
