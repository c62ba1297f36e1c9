"""Helpers shared by the serve tests: process checks, the CLI, and a fake vLLM (tests/fake_vllm.py)
reachable in each launcher form the kit uses."""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectkit.serve.server import start_server

try:
    from conftest import free_port, pid_gone
except ImportError:  # tests/ imported as a package
    from tests.conftest import free_port, pid_gone

FAKE_VLLM = Path(__file__).with_name("fake_vllm.py")
CLI = [sys.executable, "-m", "collectkit", "serve"]  # the README's `collectkit serve`
HF_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pid_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid_gone(pid)


def kill_group(pid: int | None) -> None:
    """Last-resort cleanup by PID (each server leads its own process group)."""
    if pid is None or pid_gone(pid):
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    wait_gone(pid, 5)


def listens_on_loopback_only(port: int) -> bool | None:
    """From /proc/net/tcp: True if every listener on `port` is bound to 127.0.0.1."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    listeners = [line.split()[1] for line in lines
                 if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port]
    return bool(listeners) and all(addr.split(":")[0] == "0100007F" for addr in listeners)


def run_cli(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def cli_env(state_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COLLECTKIT_") and k != "VLLM_API_KEY"}
    env["COLLECTKIT_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


def pid_from_output(text: str) -> int:
    match = re.search(r"PID (\d+)", text)
    assert match, f"no PID in output: {text!r}"
    return int(match.group(1))


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    """A `vllm` wrapper around tests/fake_vllm.py; returns the argv record file path."""
    wrapper = tmp_path / "bin" / "vllm"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_VLLM}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    record = tmp_path / "fake-vllm-record.json"
    monkeypatch.setenv("COLLECTKIT_VLLM_EXECUTABLE", str(wrapper))
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(record))
    monkeypatch.setenv("FAKE_VLLM_MODE", "ready")
    monkeypatch.setenv("FAKE_VLLM_DELAY", "0")
    return record


def recorded(record: Path) -> dict:
    return json.loads(record.read_text())


def flag_value(argv: list[str], flag: str) -> str:
    assert flag in argv, f"{flag} missing from {argv}"
    return argv[argv.index(flag) + 1]


def start_fake(model: str = HF_MODEL, **options):
    options.setdefault("port", free_port())
    options.setdefault("timeout", 20)
    return start_server(model, engine="vllm", host="127.0.0.1", **options)




@pytest.fixture
def fake_vllm_module(fake_vllm, tmp_path, monkeypatch):
    """vllm importable in the kit's interpreter (a fake `vllm.entrypoints.openai.api_server`),
    no explicit executable: the kit must start `sys.executable -m …`. Returns the record path."""
    root = tmp_path / "site"
    package = root / "vllm" / "entrypoints" / "openai"
    package.mkdir(parents=True)
    for folder in (root / "vllm", root / "vllm" / "entrypoints", package):
        (folder / "__init__.py").write_text("")
    (package / "api_server.py").write_text(
        f"import runpy, sys\nsys.argv[0] = {str(FAKE_VLLM)!r}\n"
        f"runpy.run_path({str(FAKE_VLLM)!r}, run_name='__main__')\n")
    monkeypatch.delenv("COLLECTKIT_VLLM_EXECUTABLE")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    monkeypatch.syspath_prepend(str(root))
    return fake_vllm


@pytest.fixture
def fake_vllm_on_path(fake_vllm, monkeypatch):
    """Only a `vllm` command on PATH (not importable, no explicit executable)."""
    bin_dir = Path(os.environ["COLLECTKIT_VLLM_EXECUTABLE"]).parent
    monkeypatch.delenv("COLLECTKIT_VLLM_EXECUTABLE")
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]))
    return fake_vllm
