"""Stopping a server: the whole process tree (psutil), bounded waits, the PID-reuse guard, a start
that was interrupted, and one log per start. Against the fake vLLM (tests/fake_vllm.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from collectkit.serve.server import ServerHandle, find_server, recorded_servers

try:
    from serve_helpers import (CLI, HF_MODEL, cli_env, fake_vllm, free_port,  # noqa: F401
                               kill_group, pid_gone, recorded, run_cli, start_fake, wait_gone)
except ImportError:  # tests/ imported as a package
    from tests.serve_helpers import (CLI, HF_MODEL, cli_env, fake_vllm, free_port,  # noqa: F401
                                     kill_group, pid_gone, recorded, run_cli, start_fake,
                                     wait_gone)

pytestmark = pytest.mark.engine


def kill_all(pids) -> None:
    for pid in pids:
        if not pid_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_stop_ends_children_that_ignore_sigterm_within_a_bounded_time(fake_vllm, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_CHILDREN", "2")
    monkeypatch.setenv("FAKE_VLLM_IGNORE_TERM", "1")
    handle = start_fake()
    children = recorded(fake_vllm)["children"]
    try:
        assert len(children) == 2 and not any(pid_gone(pid) for pid in children)
        started = time.monotonic()
        assert handle.stop(timeout=0.5) is True
        assert time.monotonic() - started < 8
        assert all(wait_gone(pid, 2) for pid in [handle.pid, *children])
        assert not Path(handle.state_path).exists()
    finally:
        kill_all([handle.pid, *children])


def test_stop_finds_the_tree_after_its_leader_was_killed(fake_vllm, monkeypatch, tmp_path):
    """kill -9 of the server leaves its engine processes behind; --stop still ends them."""
    monkeypatch.setenv("FAKE_VLLM_CHILDREN", "2")
    port = free_port()
    handle = start_fake(port=port)
    children = recorded(fake_vllm)["children"]
    try:
        os.kill(handle.pid, signal.SIGKILL)
        assert wait_gone(handle.pid)
        assert not any(pid_gone(pid) for pid in children)  # orphans, still running
        stopped = run_cli("--stop", "--port", str(port),
                          env=cli_env(Path(handle.state_path).parent))
        assert stopped.returncode == 0, stopped.stderr
        assert all(wait_gone(pid, 5) for pid in children)
        assert find_server(port) is None
    finally:
        kill_all([handle.pid, *children])


def test_an_interrupted_start_is_recorded_and_can_be_stopped(fake_vllm, tmp_path):
    """The CLI is killed while the server loads: the state file already names the server."""
    port = free_port()
    env = cli_env(tmp_path / "state", FAKE_VLLM_MODE="never",
                  COLLECTKIT_VLLM_EXECUTABLE=os.environ["COLLECTKIT_VLLM_EXECUTABLE"])
    starter = subprocess.Popen([*CLI, "--engine", "vllm", "--model", HF_MODEL, "--port",
                                str(port), "--timeout", "300"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = tmp_path / "state" / f"server-{port}.json"
    server_pid = None
    try:
        deadline = time.monotonic() + 20
        while not (fake_vllm.exists() and state_file.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        state = json.loads(state_file.read_text())
        server_pid = state["pid"]
        assert state["status"] == "starting" and server_pid == recorded(fake_vllm)["pid"]
        starter.kill()
        starter.wait(10)
        assert not pid_gone(server_pid)  # the server outlived the interrupted start
        assert run_cli("--status", env=env).stdout.startswith("starting:")
        stopped = run_cli("--stop", "--port", str(port), env=env)
        assert stopped.returncode == 0 and f"PID {server_pid}" in stopped.stdout
        assert wait_gone(server_pid) and not state_file.exists()
    finally:
        starter.kill()
        kill_group(server_pid)


def test_a_recycled_pid_is_not_stopped(kit_state_dir):
    """The recorded pid now belongs to another process (start time differs): left alone."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state = kit_state_dir / "server-9.json"
        kit_state_dir.mkdir(parents=True, exist_ok=True)
        handle = ServerHandle(bystander.pid, "http://127.0.0.1:9/v1", HF_MODEL, "vllm", "",
                              str(state), create_time=psutil.Process(bystander.pid).create_time()
                              - 3600, command=["vllm", "serve", HF_MODEL])
        state.write_text(json.dumps(handle.__dict__))
        assert recorded_servers()[0].running() is False
        assert recorded_servers()[0].stop(timeout=1) is False
        assert bystander.poll() is None  # still running
        assert not state.exists()  # the stale record is cleared
    finally:
        bystander.kill()
        bystander.wait()


def test_each_start_writes_its_own_log(fake_vllm, tmp_path):
    port = free_port()
    logs = []
    for _ in range(2):
        handle = start_fake(port=port, log_dir=tmp_path)
        logs.append(Path(handle.log_path))
        handle.stop()
        kill_group(handle.pid)
    assert logs[0] != logs[1] and all(log.parent == tmp_path for log in logs)
    assert all("application startup complete" in log.read_text() for log in logs)
    assert all(log.name.startswith(f"server-{port}-") for log in logs)


KERNEL_LIKE = """
import sys, time
sys.path.insert(0, {tests!r})
from serve_helpers import start_fake
handle = start_fake(port={port})
print(handle.pid, flush=True)
time.sleep(120)  # a notebook kernel: lives on, never waits for its child itself
"""


def test_stop_from_a_shell_of_a_server_a_kernel_started_is_quick_and_leaves_no_zombie(
        fake_vllm, tmp_path):
    """A server started from a long-lived process (a notebook kernel, here a script that sleeps):
    `serve_llm --stop --port` from a shell returns at once (it waited 40 s for the zombie the
    kernel had not reaped), and the kernel reaps its child (no <defunct> left under it)."""
    port = free_port()
    kernel = subprocess.Popen(
        [sys.executable, "-c", KERNEL_LIKE.format(tests=str(Path(__file__).parents[1]), port=port)],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        server_pid = int(kernel.stdout.readline())
        started = time.monotonic()
        stopped = run_cli("--stop", "--port", str(port), env=cli_env(Path(os.environ[
            "COLLECTKIT_STATE_DIR"])))
        took = time.monotonic() - started
        assert stopped.returncode == 0 and "stopped: PID" in stopped.stdout, stopped.stderr
        assert took < 10, f"--stop took {took:.1f} s"
        deadline = time.monotonic() + 5
        while psutil.pid_exists(server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not psutil.pid_exists(server_pid), "left <defunct> under its parent"
        assert kernel.poll() is None  # the parent lives on
    finally:
        kernel.kill()
        kernel.wait()


def test_status_and_stop_keep_to_this_projects_servers(fake_vllm, monkeypatch, tmp_path):
    """One state folder for the machine, each record naming its project: --status shows this
    project's servers and counts the others; --stop without --port never stops another project's
    server; --stop --port does, being asked by port."""
    state = Path(os.environ["COLLECTKIT_STATE_DIR"])
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    handles = {}
    for project in (ours, theirs):
        project.mkdir()
        monkeypatch.setenv("COLLECTKIT_PROJECT", str(project))
        handles[project] = start_fake()
    try:
        env = cli_env(state, COLLECTKIT_PROJECT=str(ours))
        status = run_cli("--status", env=env)
        assert f"PID {handles[ours].pid}" in status.stdout
        assert f"PID {handles[theirs].pid}" not in status.stdout
        assert (f"1 server(s) of other projects on port(s) {handles[theirs].port} "
                "(--status --all lists them)") in status.stdout
        every = run_cli("--status", "--all", env=env).stdout
        assert f"PID {handles[theirs].pid}" in every and f"project: {theirs}" in every
        stopped = run_cli("--stop", env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert f"stopped: PID {handles[ours].pid}" in stopped.stdout
        assert f"left running: 1 server(s) of other projects on port(s) {handles[theirs].port}" \
            in stopped.stdout
        assert wait_gone(handles[ours].pid) and handles[theirs].running()
        assert run_cli("--stop", env=env).returncode == 1  # none of ours left
        assert handles[theirs].running()
        by_port = run_cli("--stop", "--port", str(handles[theirs].port), env=env)
        assert by_port.returncode == 0 and wait_gone(handles[theirs].pid)
    finally:
        kill_all([h.pid for h in handles.values()])
