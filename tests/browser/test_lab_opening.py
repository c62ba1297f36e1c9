"""Opening a notebook in JupyterLab leaves it unmodified (issue 21: every notebook showed as
modified the moment it opened, because JupyterLab writes the kernel's spec and language_info into
it and the committed ones differed). Each repository notebook, as committed, is opened in a real
Chromium; once its kernel has answered, the tab must not be dirty."""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from lab import CHROMIUM, JupyterLab, NotebookPage, browser

try:
    from conftest import free_port
except ImportError:  # tests/ imported as a package
    from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import strip_notebooks  # noqa: E402

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="needs Debian's chromium: run make test-browser")


def test_notebooks_open_unmodified(tmp_path):
    root = tmp_path / "root"
    relatives = [str(p.relative_to(ROOT)) for p in strip_notebooks.repository_notebooks()]
    for relative in relatives:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, root / relative)
    lab = JupyterLab(root, tmp_path / "jupyter", free_port())
    dirty = {}
    try:
        lab.wait_ready()
        with browser(tmp_path / "chromium-profile") as context:
            for relative in relatives:
                page = NotebookPage(context, lab, relative)  # returns once the kernel answered
                time.sleep(2)  # JupyterLab writes the kernel's metadata right after
                dirty[relative] = page.page.locator(".jp-mod-dirty").count()
                page.page.close()
    finally:
        lab.stop()
    assert len(dirty) >= 5 and not any(dirty.values()), dirty
