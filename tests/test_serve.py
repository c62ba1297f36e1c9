"""collectkit.serve and the serve_llm CLI: the real embedded engine on loopback, and vLLM's command
line and lifecycle against a fake `vllm` executable (tests/fake_vllm.py)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from collectkit import serve
from collectkit.config import EMBEDDED_MODEL
from collectkit.serve import (ServeError, choose_engine, find_server, recorded_servers,
                              served_models, start_server)

try:
    from conftest import free_port, pid_gone
except ImportError:  # tests/ imported as a package
    from tests.conftest import free_port, pid_gone

pytestmark = pytest.mark.engine
FAKE_VLLM = Path(__file__).with_name("fake_vllm.py")
CLI = [sys.executable, "-m", "collectkit.serve_llm"]
HF_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


# ---------------------------------------------------------------------------------------- helpers

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTKIT_")}
    env["COLLECTKIT_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


def pid_from_output(text: str) -> int:
    match = re.search(r"PID (\d+)", text)
    assert match, f"no PID in output: {text!r}"
    return int(match.group(1))


# ------------------------------------------------------------------- the real embedded engine

def test_embedded_server_lists_the_model_on_loopback(embedded_server):
    port = int(embedded_server.base_url.rsplit(":", 1)[1].split("/")[0])
    assert embedded_server.base_url == f"http://127.0.0.1:{port}/v1"
    assert embedded_server.engine == "llamacpp"
    assert embedded_server.model_id == EMBEDDED_MODEL
    assert EMBEDDED_MODEL in served_models(embedded_server.base_url)
    assert listens_on_loopback_only(port) in (True, None)
    assert embedded_server.running()
    recorded = json.loads(Path(embedded_server.state_path).read_text())
    assert recorded["pid"] == embedded_server.pid
    assert recorded["base_url"] == embedded_server.base_url


def test_embedded_server_answers_a_chat_completion(embedded_server):
    with openai.OpenAI(base_url=embedded_server.base_url, api_key="EMPTY", max_retries=0,
                       timeout=120) as client:
        assert [m.id for m in client.models.list()] == [EMBEDDED_MODEL]
        response = client.chat.completions.create(
            model=EMBEDDED_MODEL, max_tokens=8, temperature=0, seed=1,
            messages=[{"role": "user", "content": "Say hello."}])
    # A tiny model: assert only that it ran and produced text, never that it is right.
    assert len(response.choices) == 1
    assert isinstance(response.choices[0].message.content, str)
    assert response.choices[0].message.content != ""
    assert response.choices[0].finish_reason in ("stop", "length")


def test_start_fails_on_a_busy_port_naming_it(embedded_server):
    port = int(embedded_server.base_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(ServeError, match=f"port {port}"):
        start_server(engine="llamacpp", port=port)
    assert embedded_server.running()  # the failed start left the running server alone


def test_context_manager_stop_ends_process_and_state_file(kit_state_dir, tmp_path):
    port = free_port()
    pid = None
    with pytest.raises(RuntimeError, match="leave the block"):
        with start_server(engine="llamacpp", port=port, n_parallel=1, max_model_len=512,
                          log_dir=tmp_path) as handle:
            pid = handle.pid  # an assertion failing here also leaves the block: __exit__ stops
            assert EMBEDDED_MODEL in served_models(handle.base_url)
            state_file = Path(handle.state_path)
            assert state_file.parent == kit_state_dir and state_file.is_file()
            assert find_server(port).pid == handle.pid
            assert Path(handle.log_path).parent == tmp_path
            raise RuntimeError("leave the block")
    try:
        assert pid is not None and pid_gone(pid)
        assert not state_file.exists()
        assert recorded_servers() == []
        assert served_models(handle.base_url) == []
        assert handle.stop() is False  # a second stop is harmless and reports "not running"
    finally:
        kill_group(pid)


def test_missing_gguf_path_fails_clearly(tmp_path):
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(ServeError, match="GGUF file not found") as caught:
        start_server(str(missing), port=free_port())
    assert str(missing) in str(caught.value)


def test_invalid_gguf_file_fails_with_the_log_tail(kit_state_dir, tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a GGUF file")
    with pytest.raises(ServeError, match="exited with code") as caught:
        start_server(str(bogus), port=free_port(), timeout=60, log_dir=tmp_path)
    assert "bogus.gguf" in str(caught.value)  # the engine's own complaint, from the log tail
    assert recorded_servers() == []


def test_cli_start_status_second_start_stop(tmp_path):
    """The CLI returns once ready, is found by --status, refuses a busy port, and --stop ends it."""
    port = free_port()
    env = cli_env(tmp_path / "state")
    url = f"http://127.0.0.1:{port}/v1"
    pid = None
    try:
        started = time.monotonic()
        result = run_cli("--port", str(port), "--n-parallel", "2", "--max-model-len", "1024",
                         env=env, timeout=60)
        elapsed = time.monotonic() - started
        if result.returncode == 0:
            pid = pid_from_output(result.stdout)
        assert result.returncode == 0, result.stderr
        assert elapsed < 30, f"CLI took {elapsed:.1f} s to return"
        assert f"URL {url}" in result.stdout
        assert EMBEDDED_MODEL in served_models(url)
        print(f"serve_llm ready in {elapsed:.1f} s")

        status = run_cli("--status", env=env)
        assert status.returncode == 0
        assert url in status.stdout and f"PID {pid}" in status.stdout
        assert status.stdout.startswith("ready")

        second = run_cli("--port", str(port), env=env)
        assert second.returncode == 1
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"port {port}" in second.stderr
        assert EMBEDDED_MODEL in served_models(url)  # the first one is untouched

        stopped = run_cli("--stop", "--port", str(port), env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert f"PID {pid}" in stopped.stdout
        assert wait_gone(pid)

        after = run_cli("--status", env=env)
        assert "no recorded servers" in after.stdout
        assert run_cli("--stop", "--port", str(port), env=env).returncode == 1
    finally:
        kill_group(pid)


# -------------------------------------------------------------------------------- engine choice

def test_choose_engine_embedded_and_gguf_use_llamacpp(monkeypatch):
    monkeypatch.setattr(serve, "cuda_available", lambda: True)  # even with a GPU
    assert choose_engine(EMBEDDED_MODEL) == "llamacpp"
    assert choose_engine("/models/qwen2.5-0.5b-q4.gguf") == "llamacpp"
    assert choose_engine(HF_MODEL, "llamacpp") == "llamacpp"
    assert choose_engine(EMBEDDED_MODEL, "vllm") == "vllm"  # explicit engine wins


def test_choose_engine_hf_id_without_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr(serve, "cuda_available", lambda: False)
    monkeypatch.setenv("COLLECTKIT_VLLM_EXECUTABLE", "/usr/bin/true")
    with pytest.raises(ServeError, match="CUDA GPU") as caught:
        choose_engine(HF_MODEL)
    assert HF_MODEL in str(caught.value)
    with pytest.raises(ServeError):  # start_server refuses before spawning anything
        start_server(HF_MODEL, port=free_port())
    assert recorded_servers() == []


def test_choose_engine_picks_vllm_with_a_gpu_and_the_executable(monkeypatch, fake_vllm):
    monkeypatch.setattr(serve, "cuda_available", lambda: True)
    assert choose_engine(HF_MODEL) == "vllm"
    monkeypatch.delenv("COLLECTKIT_VLLM_EXECUTABLE")
    monkeypatch.setenv("PATH", str(fake_vllm.parent / "empty-path"))
    with pytest.raises(ServeError):  # a GPU but no vllm anywhere
        choose_engine(HF_MODEL)


# ----------------------------------------------------------------------------------- fake vLLM

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


def test_vllm_default_command_and_lifecycle(fake_vllm, kit_state_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_DELAY", "0.8")  # not ready at once: start_server must wait
    port = free_port()
    started = time.monotonic()
    handle = start_fake(port=port, max_model_len=4096, log_dir=tmp_path)
    try:
        assert time.monotonic() - started >= 0.8
        assert served_models(handle.base_url) == [HF_MODEL]
        argv = recorded(fake_vllm)["argv"]
        assert argv[:2] == ["serve", HF_MODEL]
        assert flag_value(argv, "--host") == "127.0.0.1"
        assert flag_value(argv, "--port") == str(port)
        assert flag_value(argv, "--tensor-parallel-size") == "1"
        assert flag_value(argv, "--max-model-len") == "4096"
        assert flag_value(argv, "--gpu-memory-utilization") == "0.95"
        assert "--enforce-eager" in argv
        assert "--limit-mm-per-prompt" not in argv
        assert recorded(fake_vllm)["api_key"] is None
        assert (handle.engine, handle.model_id, handle.pid) == (
            "vllm", HF_MODEL, recorded(fake_vllm)["pid"])
        assert find_server(port).pid == handle.pid
        assert Path(handle.state_path).parent == kit_state_dir
        assert "application startup complete" in Path(handle.log_path).read_text()
        assert handle.stop() is True
        assert pid_gone(handle.pid) and not Path(handle.state_path).exists()
    finally:
        kill_group(handle.pid)


def test_vllm_options_change_the_command(fake_vllm):
    handle = start_fake(tensor_parallel_size=2, max_model_len=1024, gpu_util=0.5,
                        enforce_eager=False)
    try:
        argv = recorded(fake_vllm)["argv"]
        assert flag_value(argv, "--tensor-parallel-size") == "2"
        assert flag_value(argv, "--max-model-len") == "1024"
        assert flag_value(argv, "--gpu-memory-utilization") == "0.5"
        assert "--enforce-eager" not in argv
    finally:
        handle.stop()
        kill_group(handle.pid)


def test_vllm_gemma3_gets_the_multimodal_limit(fake_vllm):
    handle = start_fake("google/gemma-3-4b-it")
    try:
        argv = recorded(fake_vllm)["argv"]
        assert json.loads(flag_value(argv, "--limit-mm-per-prompt")) == {"image": 0}
        assert "--max-model-len" not in argv  # not given: vLLM picks its own
    finally:
        handle.stop()
        kill_group(handle.pid)


def test_vllm_api_key_goes_in_the_environment_not_argv(fake_vllm, kit_state_dir):
    secret = "sk-test-not-in-argv-123"
    handle = start_fake(api_key=secret)  # the fake answers 401 without the key: readiness sends it
    try:
        assert recorded(fake_vllm)["api_key"] == secret
        assert all(secret not in arg for arg in recorded(fake_vllm)["argv"])
        assert secret.encode() not in Path(f"/proc/{handle.pid}/cmdline").read_bytes()
        assert secret not in Path(handle.state_path).read_text()
        assert served_models(handle.base_url) == []  # no key, no answer
        assert served_models(handle.base_url, secret) == [HF_MODEL]
    finally:
        handle.stop()
        kill_group(handle.pid)


def test_vllm_exiting_at_once_raises_with_the_log_tail(fake_vllm, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_MODE", "fail")
    started = time.monotonic()
    with pytest.raises(ServeError) as caught:
        start_fake(timeout=60)
    assert time.monotonic() - started < 10  # failed fast, not at the timeout
    message = str(caught.value)
    assert "exited with code 1" in message
    assert "fake vllm cannot load this model" in message
    assert recorded_servers() == []


def test_vllm_never_ready_times_out_and_stops_the_child(fake_vllm, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_MODE", "never")
    started = time.monotonic()
    with pytest.raises(ServeError, match="not ready after") as caught:
        start_fake(timeout=1.5)
    assert 1.5 <= time.monotonic() - started < 12
    assert "fake vllm never" in str(caught.value)  # the log tail is included
    assert wait_gone(recorded(fake_vllm)["pid"])
    assert recorded_servers() == []


def test_restart_on_the_same_port_right_after_stop(fake_vllm):
    """A stopped server leaves TIME_WAIT sockets on its port; they must not make it look busy."""
    port = free_port()
    first = start_fake(port=port)
    try:
        assert served_models(first.base_url) == [HF_MODEL]  # a connection the server closes
        first.stop()
        second = start_fake(port=port)
        try:
            assert second.pid != first.pid and served_models(second.base_url) == [HF_MODEL]
        finally:
            second.stop()
            kill_group(second.pid)
    finally:
        kill_group(first.pid)


def test_a_listening_socket_makes_the_port_busy():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ServeError, match=f"port {port} on 127.0.0.1 is already in use"):
            serve.check_port_free("127.0.0.1", port)
    serve.check_port_free("127.0.0.1", free_port())  # and a free one passes


def test_stop_kills_a_server_that_ignores_sigterm(fake_vllm, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_IGNORE_TERM", "1")
    handle = start_fake()
    try:
        started = time.monotonic()
        assert handle.stop(timeout=0.5) is True
        assert time.monotonic() - started < 5
        assert pid_gone(handle.pid)
    finally:
        kill_group(handle.pid)


def test_cli_with_the_vllm_engine(fake_vllm, tmp_path):
    port = free_port()
    env = cli_env(tmp_path / "cli-state",
                  COLLECTKIT_VLLM_EXECUTABLE=os.environ["COLLECTKIT_VLLM_EXECUTABLE"])
    pid = None
    try:
        result = run_cli("--engine", "vllm", "--model", HF_MODEL, "--port", str(port),
                         "--tensor-parallel-size", "2", "--no-enforce-eager",
                         "--api-key", "sk-cli-secret", "--timeout", "20", env=env)
        if result.returncode == 0:
            pid = pid_from_output(result.stdout)
        assert result.returncode == 0, result.stderr
        assert pid == recorded(fake_vllm)["pid"]
        assert f"URL http://127.0.0.1:{port}/v1" in result.stdout
        assert "sk-cli-secret" not in result.stdout
        argv = recorded(fake_vllm)["argv"]
        assert flag_value(argv, "--tensor-parallel-size") == "2"
        assert "--enforce-eager" not in argv and "sk-cli-secret" not in argv
        assert recorded(fake_vllm)["api_key"] == "sk-cli-secret"
        stopped = run_cli("--stop", "--port", str(port), env=env)
        assert stopped.returncode == 0 and wait_gone(pid)
    finally:
        kill_group(pid)


def test_cli_reports_vllm_failure_with_exit_code_1(fake_vllm, tmp_path):
    env = cli_env(tmp_path / "cli-state", FAKE_VLLM_MODE="fail",
                  COLLECTKIT_VLLM_EXECUTABLE=os.environ["COLLECTKIT_VLLM_EXECUTABLE"])
    result = run_cli("--engine", "vllm", "--model", HF_MODEL, "--port", str(free_port()),
                     env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: server exited with code 1")
    assert "fake vllm cannot load this model" in result.stderr
