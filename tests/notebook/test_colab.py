"""Colab: every notebook with a badge installs the kit there and does nothing elsewhere; the Colab
notebook's context length fits its prompts; results can live on Drive; HF_TOKEN from secrets;
the vLLM pin says why."""
from __future__ import annotations

import ast
import sys
import time
import tomllib
from pathlib import Path

import nbformat
import pytest

from collectkit.notebook import colab
from collectkit.store import links
from collectkit.collect.settings import EMBEDDED_MODEL, Settings
from collectkit.collect.context_fit import longest_prompt_chars, needed_context_length

ROOT = Path(__file__).resolve().parents[2]
BADGED = [*links.NOTEBOOKS, links.COLAB_NOTEBOOK]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def code_cells(relative: str) -> list:
    nb = nbformat.read(ROOT / relative, as_version=4)
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def install_cell(relative: str) -> str:
    cells = code_cells(relative)
    assert "parameters" in cells[0].metadata.get("tags", [])
    return cells[1].source  # right after the parameters: the first thing that runs


@pytest.mark.parametrize("relative", BADGED)
def test_each_badged_notebook_installs_the_kit_only_on_colab(relative):
    source = install_cell(relative)
    assert '"google.colab" in sys.modules' in source
    assert f"@ git+{{repo_url}}" in source
    namespace = dict(_parameters(relative))
    started = time.monotonic()
    exec(compile(source, relative, "exec"), namespace)  # here, off Colab: must install nothing
    assert time.monotonic() - started < 2
    assert namespace["repo_url"] == links.REPO_URL
    # every pip call sits under the Colab check
    tree = ast.parse(source)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", "") == "run"]
    guarded = [node for branch in ast.walk(tree) if isinstance(branch, ast.If)
               for node in ast.walk(branch) if node in calls]
    assert calls and len(guarded) == len(calls)


def _parameters(relative: str) -> dict:
    namespace: dict = {}
    exec(code_cells(relative)[0].source, namespace)
    return {key: value for key, value in namespace.items() if not key.startswith("__")}


@pytest.mark.parametrize("relative", BADGED)
def test_install_cells_name_extras_pyproject_declares(relative):
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    for extra in ("vllm", "notebooks", "hub", "parquet"):
        if f"[{extra}]" in install_cell(relative):
            assert extra in extras


def test_vllm_is_pinned_with_its_reason():
    (pin,) = PYPROJECT["project"]["optional-dependencies"]["vllm"]
    assert pin.startswith("vllm==")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    reason = text[text.index("[project.optional-dependencies]"):text.index("vllm = [")]
    assert "T4" in reason and "7.5" in reason and pin.removeprefix("vllm==") in reason


def test_colab_parameters_drive_folder_auto_model_and_fitting_context():
    parameters = _parameters(links.COLAB_NOTEBOOK)
    assert parameters["model"] == "" and parameters["max_model_len"] == 0
    assert parameters["drive_folder"] == "" and parameters["protocol"] == ""
    everything = "\n".join(cell.source for cell in code_cells(links.COLAB_NOTEBOOK))
    assert "colab.context_length(plan)" in everything
    assert colab.context_length is needed_context_length
    assert "colab.results_folder(run_dir, drive_folder)" in everything
    assert "colab.use_hf_token()" in everything and "colab.default_model(model)" in everything


def test_the_old_colab_context_overflowed_and_the_computed_one_fits():
    defaults = Settings(dataset="both", num_problems="100", max_tokens=2048)
    longest = longest_prompt_chars(defaults)
    assert longest / 4 + 2048 > 4096  # the former max_model_len=4096 was too small
    needed = needed_context_length(defaults)
    assert needed % 1024 == 0 and needed >= longest / 3 + 2048
    zero_shot = Settings(dataset="both", num_problems="100", max_tokens=2048,
                         protocol="mmlu_pro_zero_shot")
    assert needed_context_length(zero_shot) < needed  # a shorter protocol needs less


def test_default_model_off_a_gpu_is_the_embedded_one():
    assert colab.default_model("my/model") == "my/model"
    from collectkit.workflow.servers import this_machine

    machine = this_machine()
    expected = colab.GPU_MODEL if machine.cuda_gpu and machine.vllm_installed else EMBEDDED_MODEL
    assert colab.default_model("") == expected


def test_results_folder_off_colab(tmp_path):
    assert colab.results_folder("runs/colab") == "runs/colab"
    folder = colab.results_folder("runs/colab", str(tmp_path / "kept"))
    assert folder == str(tmp_path / "kept" / "runs" / "colab") and Path(folder).is_dir()


def test_hf_token_from_the_environment_or_not_set(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    line = colab.use_hf_token()
    assert line == "HF_TOKEN: from the environment" and "hf_secret" not in line
    monkeypatch.delenv("HF_TOKEN")
    assert colab.use_hf_token() == "HF_TOKEN: not set (needed only for gated models)"


@pytest.fixture
def fake_colab(tmp_path, monkeypatch):
    """A stand-in for Colab's `google.colab` package (not installable here): userdata holds one
    secret, as Colab's key icon would."""
    package = tmp_path / "fake" / "google" / "colab"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "userdata.py").write_text(
        "SECRETS = {'HF_TOKEN': 'hf_from_colab_secrets'}\n"
        "class SecretNotFoundError(Exception):\n    pass\n"
        "def get(name):\n"
        "    if name not in SECRETS:\n        raise SecretNotFoundError(name)\n"
        "    return SECRETS[name]\n")
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    for name in [n for n in sys.modules if n == "google" or n.startswith("google.")]:
        monkeypatch.delitem(sys.modules, name)
    import google.colab  # noqa: F401  (now "on Colab": google.colab is in sys.modules)

    yield
    for name in [n for n in sys.modules if n == "google" or n.startswith("google.")]:
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_hf_token_from_colab_secrets_never_shown(fake_colab, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "")  # recorded, so the token set below is undone afterwards
    monkeypatch.delenv("HF_TOKEN")
    assert colab.on_colab()
    line = colab.use_hf_token()
    assert line == "HF_TOKEN: from Colab's secrets" and "hf_from" not in line
    import os

    assert os.environ["HF_TOKEN"] == "hf_from_colab_secrets"
    missing = colab.use_hf_token("OTHER_TOKEN")
    assert "SecretNotFoundError" in missing and "key icon" in missing


def test_update_links_rewrites_install_cells_pyproject_and_readme_pip_line(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import shutil

    import update_links

    fork = "https://github.com/someone/fork"
    notebook = tmp_path / "01.ipynb"
    shutil.copy(ROOT / links.NOTEBOOKS[0], notebook)
    assert update_links.update_colab_notebook(notebook, fork)
    sources = "\n".join(cell.source for cell in nbformat.read(notebook, as_version=4).cells)
    assert f'repo_url: str = "{fork}"' in sources and links.REPO_URL not in sources
    pyproject = tmp_path / "pyproject.toml"
    shutil.copy(ROOT / "pyproject.toml", pyproject)
    assert update_links.update_pyproject(pyproject, fork)
    urls = tomllib.loads(pyproject.read_text())["project"]["urls"]
    assert urls["Source"] == fork and urls["Issues"] == fork + "/issues"
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    assert update_links.update_readme(readme, fork)
    assert f'pip install "collectkit @ git+{fork}"' in readme.read_text()
    for path, update in ((notebook, update_links.update_colab_notebook),
                         (pyproject, update_links.update_pyproject),
                         (readme, update_links.update_readme)):
        assert update(path)  # and back to REPO_URL: the committed text again
        assert path.read_text() == (ROOT / (links.NOTEBOOKS[0] if path == notebook
                                            else path.name)).read_text()
