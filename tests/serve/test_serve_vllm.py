"""vLLM through collectkit.serve.server and the serve_llm CLI against a fake vLLM (tests/fake_vllm.py):
launchers, every flag, the key, the state file, and stopping the whole process tree."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from collectkit.serve import server as serve
from collectkit.serve.server import ServeError, find_server, recorded_servers, served_models

try:
    from serve_helpers import (HF_MODEL, cli_env, fake_vllm, fake_vllm_module,  # noqa: F401
                               fake_vllm_on_path, flag_value, free_port,
                               kill_group, pid_from_output, pid_gone, recorded, run_cli,
                               start_fake, wait_gone)
except ImportError:  # tests/ imported as a package
    from tests.serve_helpers import (HF_MODEL, cli_env, fake_vllm,  # noqa: F401
                                     fake_vllm_module, fake_vllm_on_path, flag_value,
                                     free_port, kill_group, pid_from_output, pid_gone, recorded,
                                     run_cli, start_fake, wait_gone)

pytestmark = pytest.mark.engine


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


# ------------------------------------------------------------------------------------ launchers

def test_importable_vllm_starts_as_a_module_of_the_kits_interpreter(fake_vllm_module, tmp_path):
    import sys

    handle = start_fake(log_dir=tmp_path)
    try:
        argv = recorded(fake_vllm_module)["argv"]
        assert handle.command[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
        assert handle.command[3:] == argv  # what the child received, after the launcher
        assert flag_value(argv, "--model") == HF_MODEL and "serve" not in argv
        state = json.loads(Path(handle.state_path).read_text())
        assert state["command"] == handle.command and state["status"] == "ready"
        assert served_models(handle.base_url) == [HF_MODEL]
    finally:
        handle.stop()
        kill_group(handle.pid)


def test_vllm_on_path_starts_with_serve(fake_vllm_on_path):
    handle = start_fake()
    try:
        assert Path(handle.command[0]).name == "vllm" and handle.command[1:3] == ["serve", HF_MODEL]
        assert recorded(fake_vllm_on_path)["argv"][:2] == ["serve", HF_MODEL]
    finally:
        handle.stop()
        kill_group(handle.pid)


# ---------------------------------------------------------------------------------- every flag

ALL_FLAGS = dict(dtype="half", data_parallel_size=2, reasoning_parser="deepseek_r1",
                 served_model_name="my-model", trust_remote_code=True, max_num_seqs=24,
                 quantization="awq", seed=7, enable_prefix_caching=False)


def test_start_server_passes_every_vllm_flag(fake_vllm):
    handle = start_fake(**ALL_FLAGS, server_args=["--kv-cache-dtype", "fp8"])
    try:
        argv = recorded(fake_vllm)["argv"]
        assert flag_value(argv, "--dtype") == "half"
        assert flag_value(argv, "--data-parallel-size") == "2"
        assert flag_value(argv, "--reasoning-parser") == "deepseek_r1"
        assert flag_value(argv, "--served-model-name") == "my-model"
        assert flag_value(argv, "--max-num-seqs") == "24"
        assert flag_value(argv, "--quantization") == "awq"
        assert flag_value(argv, "--seed") == "7"
        assert "--trust-remote-code" in argv and "--no-enable-prefix-caching" in argv
        assert argv[-2:] == ["--kv-cache-dtype", "fp8"]  # passed through last, unchanged
        assert handle.model_id == "my-model"  # readiness waited for the served name
        assert served_models(handle.base_url) == ["my-model"]
    finally:
        handle.stop()
        kill_group(handle.pid)


def test_unset_flags_leave_vllms_defaults(fake_vllm):
    handle = start_fake()
    try:
        argv = recorded(fake_vllm)["argv"]
        for flag in ("--dtype", "--data-parallel-size", "--reasoning-parser", "--seed",
                     "--served-model-name", "--max-num-seqs", "--quantization",
                     "--trust-remote-code", "--enable-prefix-caching",
                     "--no-enable-prefix-caching"):
            assert flag not in argv
    finally:
        handle.stop()
        kill_group(handle.pid)


def test_cli_passes_every_flag_and_the_pass_through(fake_vllm, tmp_path):
    port = free_port()
    env = cli_env(tmp_path / "state",
                  COLLECTKIT_VLLM_EXECUTABLE=os.environ["COLLECTKIT_VLLM_EXECUTABLE"])
    pid = None
    try:
        result = run_cli(
            "--engine", "vllm", "--model", HF_MODEL, "--port", str(port), "--dtype", "float32",
            "--data-parallel-size", "2", "--reasoning-parser", "qwen3", "--served-model-name",
            "alias", "--trust-remote-code", "--max-num-seqs", "8", "--quantization", "fp8",
            "--seed", "3", "--enable-prefix-caching", "--server-arg=--swap-space=2",
            "--timeout", "20", "--", "--kv-cache-dtype", "fp8", env=env)
        if result.returncode == 0:
            pid = pid_from_output(result.stdout)
        assert result.returncode == 0, result.stderr
        argv = recorded(fake_vllm)["argv"]
        assert [flag_value(argv, f) for f in ("--dtype", "--data-parallel-size",
                                              "--reasoning-parser", "--served-model-name",
                                              "--max-num-seqs", "--quantization", "--seed")] == [
            "float32", "2", "qwen3", "alias", "8", "fp8", "3"]
        assert "--trust-remote-code" in argv and "--enable-prefix-caching" in argv
        assert argv[-3:] == ["--swap-space=2", "--kv-cache-dtype", "fp8"]
        assert "model alias" in result.stdout
    finally:
        kill_group(pid)


@pytest.mark.parametrize("args, named", [
    (["--engine", "vllm", "--server-arg=--api-key=sk-x"], "--api-key may not be"),
    (["--engine", "vllm", "--", "--api-key", "sk-x"], "--api-key may not be"),
    (["--engine", "llamacpp", "--dtype", "half"], "dtype: vLLM options"),
    (["--engine", "llamacpp", "--", "--swap-space", "2"], "server_args: vLLM options"),
    (["--engine", "vllm", "--max-num-seqs", "0"], "max_num_seqs"),
])
def test_cli_refuses_bad_server_options_with_exit_2(fake_vllm, tmp_path, args, named):
    env = cli_env(tmp_path / "state",
                  COLLECTKIT_VLLM_EXECUTABLE=os.environ["COLLECTKIT_VLLM_EXECUTABLE"])
    result = run_cli("--model", HF_MODEL, "--port", str(free_port()), *args, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "sk-x" not in result.stderr
    assert not fake_vllm.exists()  # nothing was started


def test_start_server_refuses_an_unknown_option(fake_vllm):
    with pytest.raises(serve.ServerOptionError, match="unknown server option: dtyp"):
        start_fake(dtyp="half")
    with pytest.raises(serve.ServerOptionError, match="dtype"):
        start_fake(dtype="fp7")
    assert not fake_vllm.exists()


# ------------------------------------------------------------------------------- the API key

def test_key_from_the_environment_never_on_argv_state_or_log(fake_vllm, tmp_path):
    secret = "sk-from-env-4242"
    port = free_port()
    env = cli_env(tmp_path / "state", VLLM_API_KEY=secret,
                  COLLECTKIT_VLLM_EXECUTABLE=os.environ["COLLECTKIT_VLLM_EXECUTABLE"])
    pid = None
    try:
        result = run_cli("--engine", "vllm", "--model", HF_MODEL, "--port", str(port),
                         "--timeout", "20", env=env)
        if result.returncode == 0:
            pid = pid_from_output(result.stdout)
        assert result.returncode == 0, result.stderr
        assert recorded(fake_vllm)["api_key"] == secret
        assert all(secret not in arg for arg in recorded(fake_vllm)["argv"])
        state_file = tmp_path / "state" / f"server-{port}.json"
        state = json.loads(state_file.read_text())
        assert state["api_key_required"] is True
        for text in (state_file.read_text(), Path(state["log_path"]).read_text(), result.stdout):
            assert secret not in text

        with_key = run_cli("--status", env=env)
        assert with_key.stdout.startswith("ready:"), with_key.stdout
        no_key = {k: v for k, v in env.items() if k != "VLLM_API_KEY"}
        without = run_cli("--status", env=no_key)
        assert without.stdout.startswith("running, refuses no API key"), without.stdout
        assert run_cli("--status", "--api-key", "sk-wrong", env=no_key).stdout.startswith(
            "running, refuses the given API key")
    finally:
        kill_group(pid)



def test_the_recorded_command_is_found_by_base_url(fake_vllm):
    handle = start_fake(seed=5)
    try:
        command = serve.recorded_command(handle.base_url + "/")
        assert command == handle.command and "--seed" in command
        assert serve.recorded_command("http://127.0.0.1:1/v1") is None
    finally:
        handle.stop()
        kill_group(handle.pid)


def test_notebook_reuse_probe_sends_the_servers_key(fake_vllm, monkeypatch):
    """A running server that requires a key is reused, not reported as 'not answering'."""
    from collectkit.workflow.servers import ensure_server

    monkeypatch.setenv("VLLM_API_KEY", "sk-notebook-reuse")
    port = free_port()
    first = start_fake(port=port, served_model_name="alias")
    try:
        assert recorded(fake_vllm)["api_key"] == "sk-notebook-reuse"
        again, reused = ensure_server(HF_MODEL, engine="vllm", port=port,
                                      served_model_name="alias")
        assert reused is True and again.pid == first.pid
    finally:
        first.stop()
        kill_group(first.pid)


def test_a_run_manifest_records_how_its_local_server_was_started(fake_vllm, kit_state_dir,
                                                                  monkeypatch):
    from collectkit.collect.settings import Settings
    from collectkit.collect.manifest import _server_commands

    monkeypatch.setenv("VLLM_API_KEY", "sk-never-in-the-manifest")
    handle = start_fake(port=free_port(), max_model_len=4096)
    try:
        local = Settings(model=HF_MODEL, api_base=handle.base_url)
        commands = _server_commands(local)
        assert commands == [handle.command] and "serve" in commands[0]
        assert "sk-never-in-the-manifest" not in json.dumps(commands)
        assert _server_commands(Settings(model=HF_MODEL, api_mode="remote",
                                         api_base=handle.base_url)) == []
    finally:
        handle.stop()
