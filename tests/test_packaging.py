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
SCRIPTS = {"collectkit-serve": "collectkit.cli.serve", "collectkit-run": "collectkit.cli.run",
           "collectkit-extract": "collectkit.cli.extract", "collectkit-compare": "collectkit.cli.compare",
           "collectkit": "collectkit.cli"}


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
    assert setuptools["packages"]["find"]["include"] == ["collectkit*"]  # cli/, data/, new ones
    patterns = setuptools["package-data"]["collectkit.data"]
    data = ROOT / "collectkit" / "data"
    shipped = {path.name for pattern in patterns for path in data.glob(pattern)}
    assert shipped == {path.name for path in data.iterdir() if path.is_file()}
    assert isinstance(PYPROJECT["project"]["license"], str)  # SPDX, not the deprecated table


def test_requirements_files_install_the_extras_the_makefile_needs():
    assert (ROOT / "requirements.txt").read_text().splitlines()[-1] == "-e .[notebooks,hub,parquet]"
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    declared = PYPROJECT["project"]["optional-dependencies"]
    assert {"notebooks", "hub", "parquet", "vllm"} <= set(declared)
    core = " ".join(PYPROJECT["project"]["dependencies"])
    for heavy in ("papermill", "ipykernel", "ipywidgets", "datasets", "pyarrow", "jupyterlab"):
        assert heavy not in core


def test_every_dependency_has_tested_bounds():
    """A lower bound the suite runs with and an upper bound (no open-ended future releases);
    xllamacpp (calendar versions) to its tested monthly series; math-verify's extra spelled as
    its metadata declares it."""
    from importlib.metadata import distribution, version
    from packaging.requirements import Requirement

    optional = [r for extra in ("notebooks", "hub", "parquet")
                for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    for line in PYPROJECT["project"]["dependencies"] + optional:
        requirement = Requirement(line)
        operators = {spec.operator for spec in requirement.specifier}
        assert {">=", "<"} <= operators or "==" in operators, line
        assert requirement.specifier.contains(version(requirement.name)), (line, "not the tested")
    xllamacpp = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"]
                     if r.startswith("xllamacpp"))
    assert not xllamacpp.specifier.contains("2026.11.0") and not xllamacpp.specifier.contains("2027.1.1")
    math_verify = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"]
                       if r.startswith("math-verify"))
    assert math_verify.extras <= set(distribution("math-verify").metadata.get_all("Provides-Extra"))


def test_python_version_is_what_the_tests_run():
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert sys.version_info[:2] == (3, 11)
    classifiers = PYPROJECT["project"]["classifiers"]
    assert [c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")] == [
        "Programming Language :: Python :: 3.11"]
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_every_subpackage_is_installed():
    from setuptools import find_namespace_packages

    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    listed = set(find_namespace_packages(str(ROOT), include=include))
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in (ROOT / "collectkit").rglob("__init__.py")}
    assert found <= listed, f"{sorted(found - listed)} would not be installed"
