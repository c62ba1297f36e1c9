"""collectkit.serve.server and the serve_llm CLI with the real embedded engine on loopback, and engine
choice. vLLM's command line and lifecycle: tests/serve/test_serve_vllm.py (a fake vLLM); the real vLLM:
tests/vllm/ (`make test-vllm`)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from collectkit.serve import server as serve
from collectkit.collect.settings import EMBEDDED_MODEL
from collectkit.serve.server import (ServeError, choose_engine, find_server, recorded_servers,
                              served_models, start_server)

try:
    from serve_helpers import (HF_MODEL, cli_env, fake_vllm, free_port, kill_group,  # noqa: F401
                               listens_on_loopback_only, pid_from_output, pid_gone, run_cli,
                               wait_gone)
except ImportError:  # tests/ imported as a package
    from tests.serve_helpers import (HF_MODEL, cli_env, fake_vllm, free_port,  # noqa: F401
                                     kill_group, listens_on_loopback_only, pid_from_output,
                                     pid_gone, run_cli, wait_gone)

pytestmark = pytest.mark.engine


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
