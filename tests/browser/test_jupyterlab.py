"""Every notebook, Run All in JupyterLab in a real Chromium, against the real embedded engine.

`make test-browser` runs this (never `make test`: pyproject's norecursedirs keeps tests/browser out
of the default run). JupyterLab serves a copy of notebooks/ and colab/ on 127.0.0.1; each notebook
is opened, its parameters cell edited as a user would (a free port, 4 problems, k=2, 64 tokens),
Run → Run All Cells clicked, and then: every code cell has its execution count, no error or stderr
output was rendered, every figure was decoded by the browser, and the saved notebook strips back
to the committed one. Notebook 01's chooser is used by clicking Start; 04's explorer is used by
searching, filtering and clicking a problem, and the HTML file its Save HTML button writes is
opened from file:// with the network blocked (tests/browser/explorer_checks.py). Screenshots of the
chooser, of 04's figures and of its explorer go to $SCREENSHOTS_DIR (docs/images with
`make screenshots`).
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from collectkit.collect.settings import EMBEDDED_MODEL
from collectkit.serve.server import recorded_servers

from explorer_checks import check_offline_file, screenshot_explorer, use_the_explorer
from lab import CHROMIUM, JupyterLab, NotebookPage, browser

try:
    from conftest import free_port, pid_gone
except ImportError:  # tests/ imported as a package
    from tests.conftest import free_port, pid_gone

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import strip_notebooks  # noqa: E402

pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                 reason="needs Debian's chromium: run make test-browser")]
# `make screenshots` sets BROWSER_RUN="20 4 256" (problems, k, max_tokens) for figures worth showing.
PROBLEMS, K, MAX_TOKENS = os.environ.get("BROWSER_RUN", "4 2 64").split()
SMALL = {"num_problems": PROBLEMS, "k_responses": int(K), "max_tokens": int(MAX_TOKENS),
         "max_concurrent": 8, "n_parallel": 4, "max_model_len": 4096, "show_rows": 4}
PARAMETER = re.compile(r"^(?P<name>\w+): (?P<type>\w+) = (?P<value>.*?)(?P<help>  # .*)$")
NOTEBOOK_TIMEOUT_S = 300


def with_parameters(text: str, values: dict) -> str:
    """The notebook with these defaults in its parameters cell (those it has), as typed there."""
    nb = nbformat.reads(text, as_version=4)
    cell = next(cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", []))
    lines = []
    for line in cell.source.splitlines():
        match = PARAMETER.match(line)
        if match and match["name"] in values:
            line = f"{match['name']}: {match['type']} = {values[match['name']]!r}{match['help']}"
        lines.append(line)
    cell.source = "\n".join(lines)
    return strip_notebooks.stripped(nbformat.writes(nb))


def notebooks_in_order() -> list[str]:
    """Pipeline notebooks in their numbered order, then Colab's (which reuses 01's server)."""
    return [str(path.relative_to(ROOT)) for path in strip_notebooks.repository_notebooks()]


def screenshot(locator, name: str, folder: Path) -> Path:
    path = folder / name
    locator.screenshot(path=str(path))
    return path


@pytest.fixture
def lab_root(tmp_path):
    """A copy of the repository's notebooks with small parameters on a free port."""
    root = tmp_path / "root"
    port = free_port()
    values = {**SMALL, "port": port, "engine": "llamacpp", "model": EMBEDDED_MODEL,
              "install_vllm": False}  # run folders: the notebooks' own defaults
    for relative in notebooks_in_order():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / relative).read_text(encoding="utf-8")
        if relative.startswith("notebooks/"):  # their shared defaults, only smaller
            own = {key: value for key, value in values.items() if key not in ("model", "engine")}
        else:
            own = values
        target.write_text(with_parameters(text, own), encoding="utf-8")
    return root


@pytest.fixture
def jupyterlab(lab_root, tmp_path):
    lab = JupyterLab(lab_root, tmp_path / "jupyter", free_port())
    try:
        lab.wait_ready()
        yield lab
    finally:
        lab.stop()
        for handle in recorded_servers():  # what the notebooks left running, by PID
            handle.stop()


def test_run_all_in_jupyterlab(jupyterlab, lab_root, tmp_path):
    opened = {relative: (lab_root / relative).read_text(encoding="utf-8")
              for relative in notebooks_in_order()}
    shots = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    ran = []
    with browser(tmp_path / "chromium-profile") as context:
        for relative in notebooks_in_order():
            page = NotebookPage(context, jupyterlab, relative)
            page.run_all(NOTEBOOK_TIMEOUT_S)
            if relative.startswith("notebooks/01"):
                use_the_chooser(page, shots)
            if relative.startswith("notebooks/04"):
                for call, name in (('run.plot("accuracy_by_category"', "04_accuracy_by_category.png"),
                                   ('run.plot("pass_maj_at_k"', "04_pass_maj_at_k.png")):
                    cell = page.panel.locator(".jp-CodeCell", has_text=call)
                    screenshot(cell.locator(".jp-OutputArea-output:has(img)").last, name, shots)
                processed = next((lab_root / "runs" / "notebooks").glob("*.processed.jsonl"))
                exported = use_the_explorer(page, processed)  # then its Save HTML button
                screenshot_explorer(page, shots / "04_explorer.png")
                check_offline_file(context, exported, processed)
            page.save()
            check_saved(lab_root / relative, relative, page.rendered_images(), opened[relative])
            page.page.close()
            ran.append(relative)
    assert ran == notebooks_in_order() and len(ran) >= 5
    servers = recorded_servers()
    assert len(servers) == 1, servers  # 01 started it; 02-04 and Colab's notebook reused it
    for run_dir in (lab_root / "runs" / "notebooks", lab_root / "colab" / "runs" / "colab"):
        processed = next(run_dir.glob("*.processed.jsonl"))  # each collected and graded its own
        assert len(processed.read_text().splitlines()) == int(PROBLEMS)
    pid = servers[0].pid
    servers[0].stop()
    assert pid_gone(pid)


def use_the_chooser(page: NotebookPage, shots: Path) -> None:
    """Run All started the server through the chooser; a .gguf path that does not exist then
    shows one red error line (no traceback, no port conflict), and Start with the embedded model
    reuses it."""
    status = page.panel.locator(".collectkit-status")
    start = page.panel.locator(".collectkit-start")
    outputs = page.panel.locator(".jp-OutputArea-output").all_inner_texts()
    assert "started a llamacpp server: PID" in status.inner_text(), outputs
    model = page.panel.locator(".collectkit-model input")
    model.fill("/nowhere/missing-model.gguf")
    model.press("Enter")
    start.click()
    status.filter(has_text="error:").wait_for(timeout=30_000)
    text = status.inner_text()
    assert text.startswith("error: no such file: /nowhere/missing-model.gguf"), text  # issue 21
    assert "\n" not in text.strip() and "Traceback" not in text
    assert "cannot start here" not in page.panel.locator(".collectkit-note").inner_text()
    model.fill(EMBEDDED_MODEL)
    model.press("Enter")
    start.click()
    status.filter(has_text="reused the running llamacpp server").wait_for(timeout=60_000)
    note = page.panel.locator(".collectkit-note").inner_text()
    assert "This machine" in note and "Start runs it with llama.cpp on the CPU" in note
    chooser = page.panel.locator(".jp-OutputArea-output:has(.collectkit-start)")
    screenshot(chooser, "01_chooser.png", shots)


def check_saved(path: Path, relative: str, rendered_images: int, opened_as: str) -> None:
    """The notebook JupyterLab saved: every code cell ran, no error or stderr output, each
    figure rendered in the browser; stripping gives back the notebook it was opened as."""
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(isinstance(cell.execution_count, int) for cell in code), relative
    outputs = [output for cell in code for output in cell.outputs]
    bad = [output for output in outputs if output.output_type == "error"
           or (output.output_type == "stream" and output.name == "stderr")]
    assert not bad, f"{relative}: {json.dumps(bad)[:2000]}"
    images = sum("image/png" in output.get("data", {}) for output in outputs)
    assert rendered_images == images, (relative, rendered_images, images)
    showing_a_figure = sum(cell.source.strip().splitlines()[-1:] == ["fig"] for cell in code)
    assert images >= showing_a_figure, (relative, images, showing_a_figure)
    assert strip_notebooks.stripped(text) == opened_as, f"{relative}: strip does not undo a run"
