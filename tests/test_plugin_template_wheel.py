"""The plugin guide works outside this repository: the template builds as a wheel, and that
wheel, installed into a fresh virtual environment beside an installed nc (wheels, not this
checkout), registers its components and passes its own tests there."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "examples" / "third-party-plugin"


def _run(*cmd, cwd=None, env=None):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_template_wheel_installs_beside_nc_and_passes_its_tests(tmp_path):
    wheels = tmp_path / "wheels"
    for project in (REPO, TEMPLATE):  # nc-core is not on PyPI yet: a wheel of it, as the guide says
        _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, project)
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # third-party dependencies (torch, numpy, pluggy, ...) come from this environment, without
    # any nc distribution of it: a folder of links to everything else in its site-packages
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("nc_", "nc-", "__editable__", "_nc")) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "deps.pth").write_text(f"{deps}\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
         *sorted(wheels.glob("*.whl")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    where = _run(python, "-c", "import nc_core, nc_example_plugin; print(nc_core.__file__, nc_example_plugin.__file__)",
                 cwd=tmp_path, env=env)
    assert str(REPO) not in where  # the installed wheels, not this checkout
    listing = _run(env_dir / "bin" / "nc", "plugins", cwd=tmp_path, env=env)
    assert "example  (nc-example-plugin 0.1.0)" in listing and "quantizer: soft-round" in listing
    assert "BROKEN" not in listing
    _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEMPLATE / "tests", cwd=tmp_path, env=env)
