"""What pip installs: console scripts beside the `python -m` names, the bundled data as package
data, and no warnings from the build configuration."""
from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SCRIPTS = {"collectkit-serve": "collectkit.serve_llm", "collectkit-run": "collectkit.run_inference",
           "collectkit-extract": "collectkit.answer_extraction"}


@pytest.mark.parametrize("script, module", sorted(SCRIPTS.items()))
def test_console_scripts_run_the_python_m_modules(script, module):
    assert PYPROJECT["project"]["scripts"][script] == f"{module}:main"
    assert callable(importlib.import_module(module).main)
    installed = Path(sys.executable).parent / script
    assert installed.is_file(), f"{script} not installed: make setup"
    shown = subprocess.run([str(installed), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "usage:" in shown.stdout, shown.stderr


def test_bundled_data_ships_as_package_data():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert "collectkit.data" in setuptools["packages"]
    patterns = setuptools["package-data"]["collectkit.data"]
    data = ROOT / "collectkit" / "data"
    shipped = {path.name for pattern in patterns for path in data.glob(pattern)}
    assert shipped == {path.name for path in data.iterdir() if path.is_file()}
    assert isinstance(PYPROJECT["project"]["license"], str)  # SPDX, not the deprecated table


def test_every_subpackage_is_installed():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in (ROOT / "collectkit").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
