"""JupyterLab on 127.0.0.1 and Debian's Chromium driven by playwright, for tests/browser/.

`JupyterLab(root)` starts `python -m jupyterlab` on a free loopback port with a random token and
its own config, settings and workspace folders (nothing from ~/.jupyter), and stops it by its
PID. `browser(profile)` launches /usr/bin/chromium (playwright cannot download browsers here)
with a fresh profile. `NotebookPage` is one open notebook: Run All from the menu, wait until every
cell ran, read what the browser rendered.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# Every cell rendered in the DOM (JupyterLab 4 otherwise skips rendering cells out of view).
LAB_SETTINGS = {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
                "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                "checkForUpdates": False}}
PROMPT_DONE = re.compile(r"^\[\d+\]:$")


class JupyterLab:
    def __init__(self, root: Path, home: Path, port: int) -> None:
        self.root, self.port, self.token = root, port, secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{port}"
        settings = home / "settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                   f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={self.token}",
                   "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
                   "--LabApp.expose_app_in_browser=True",  # to wait until the kernel is ready
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log_path = home / "jupyterlab.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=True)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {self.log_tail()}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"JupyterLab not ready in {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def notebook_url(self, relative: str) -> str:
        """The notebook alone: `reset` drops the tabs an earlier page left in the workspace."""
        return f"{self.url}/lab/tree/{relative}?reset&token={self.token}"

    def stop(self) -> None:
        """Shut the kernels down, then the server, by its PID (its process group)."""
        try:
            for kernel in self.api("kernels") or []:
                self.api(f"kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            if self.process.poll() is not None:
                break
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                continue


@contextmanager
def browser(profile: Path) -> Iterator:
    """A Chromium context with a fresh profile (--user-data-dir), 1280x900."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


class NotebookPage:
    def __init__(self, context, lab: JupyterLab, relative: str) -> None:
        self.page = context.new_page()
        self.relative = relative
        self.page.goto(lab.notebook_url(relative))
        self.panel = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        self.panel.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        self.page.wait_for_function(
            "path => window.jupyterapp?.shell.currentWidget?.context?.path === path",
            arg=relative, timeout=60_000)
        self.page.evaluate("""async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
            await panel.sessionContext.session.kernel.info;
        }""")

    def menu(self, menu: str, command: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
        self.page.locator(f".lm-Menu-item[data-command='{command}']").click()

    def run_all(self, timeout: float = 300.0) -> None:
        """Run → Run All Cells, then wait until every code cell has its execution count."""
        self.menu("Run", "runmenu:run-all")
        self.wait_all_ran(timeout)

    def prompts(self) -> list[str]:
        return [text.strip() for text in self.panel.locator(
            ".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()]

    def errors(self) -> list[str]:
        return self.panel.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
        ).all_inner_texts()

    def wait_all_ran(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = self.errors()
            if errors:
                raise AssertionError(f"{self.relative}: error output: {errors[0][-2000:]}")
            prompts = self.prompts()
            if prompts and all(PROMPT_DONE.match(p) for p in prompts) and self.idle():
                return
            time.sleep(0.5)
        raise TimeoutError(f"{self.relative}: cells not finished in {timeout:.0f} s: "
                           f"{self.prompts()}")

    def idle(self) -> bool:
        return self.page.locator(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0

    def rendered_images(self) -> int:
        """Output images the browser decoded (naturalWidth > 0)."""
        return self.panel.evaluate(
            "panel => [...panel.querySelectorAll('.jp-OutputArea-output img')]"
            ".filter(img => img.complete && img.naturalWidth > 0).length")

    def save(self) -> None:
        self.menu("File", "docmanager:save")
        self.page.locator(".jp-mod-dirty").wait_for(state="detached", timeout=30_000)
