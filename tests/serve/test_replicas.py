"""N replicas on consecutive ports: GPU shares for (fake) vLLM, thread shares for llama.cpp."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from collectkit.collect.endpoints import served_models
from collectkit.serve.replicas import (THREADS_VARIABLE, replica_environments, start_replicas,
                                 url_list)
from collectkit.serve.server import ServeError, recorded_servers
from conftest import free_port, pid_gone
from serve_helpers import fake_vllm  # noqa: F401  (a fixture)

MODEL = "org/some-model"


@pytest.fixture
def fake_vllm_executable(fake_vllm, monkeypatch):
    """The fake `vllm` of the serve tests, on a machine that shows four GPUs."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        first = free_port()
        try:
            for offset in range(count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", first + offset))
            return first
        except OSError:
            continue
    raise RuntimeError("no consecutive free ports")


def test_vllm_replicas_get_their_own_gpus_and_consecutive_ports(fake_vllm_executable,
                                                                 kit_state_dir):
    port = consecutive_free_ports(2)
    handles = start_replicas(MODEL, 2, engine="vllm", port=port, tensor_parallel_size=2,
                             timeout=20)
    try:
        assert [h.base_url for h in handles] == [f"http://127.0.0.1:{port}/v1",
                                                 f"http://127.0.0.1:{port + 1}/v1"]
        assert url_list(handles) == ",".join(h.base_url for h in handles)
        assert [environment_of(h.pid)["CUDA_VISIBLE_DEVICES"] for h in handles] == ["0,1", "2,3"]
        assert all(served_models(h.base_url) == [MODEL] for h in handles)
        assert sorted(h.pid for h in recorded_servers()) == sorted(h.pid for h in handles)
    finally:
        for handle in handles:
            handle.stop()
    assert all(pid_gone(h.pid) for h in handles) and recorded_servers() == []
    import os
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3", "the parent's environment is restored"


def test_too_few_gpus_is_refused_before_anything_starts(fake_vllm_executable, kit_state_dir):
    with pytest.raises(ServeError, match="need 6 GPUs; 4 visible"):
        start_replicas(MODEL, 3, engine="vllm", port=free_port(), tensor_parallel_size=2)
    assert recorded_servers() == []


def test_a_replica_that_cannot_start_stops_the_others(fake_vllm_executable, kit_state_dir):
    port = consecutive_free_ports(2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port + 1))
        busy.listen()
        with pytest.raises(ServeError, match=r"replica 2 of 2 .* none was kept.*in use"):
            start_replicas(MODEL, 2, engine="vllm", port=port, timeout=20)
    assert recorded_servers() == []
    assert served_models(f"http://127.0.0.1:{port}/v1") == []


def test_thread_shares_for_llamacpp():
    assert replica_environments("llamacpp", 3, threads=8) == [{THREADS_VARIABLE: "2"}] * 3
    assert replica_environments("llamacpp", 4, threads=2) == [{THREADS_VARIABLE: "1"}] * 4
    with pytest.raises(ServeError, match="at least 1"):
        replica_environments("llamacpp", 0)


@pytest.mark.engine
def test_two_llamacpp_replicas_answer_with_their_thread_share(kit_state_dir, tmp_path):
    port = consecutive_free_ports(2)
    handles = start_replicas("smollm2-135m-instruct", 2, engine="llamacpp", port=port,
                             threads=2, n_parallel=2, max_model_len=1024, log_dir=tmp_path)
    try:
        assert [served_models(h.base_url) for h in handles] == [["smollm2-135m-instruct"]] * 2
        assert [environment_of(h.pid)[THREADS_VARIABLE] for h in handles] == ["1", "1"]
    finally:
        for handle in handles:
            handle.stop()
    assert all(pid_gone(h.pid) for h in handles)


def test_serve_llm_replicas_prints_the_url_list_and_stop_ends_them_all(fake_vllm_executable,
                                                                       kit_state_dir, capsys):
    from collectkit.cli import serve as serve_llm

    port = consecutive_free_ports(2)
    code = serve_llm.main(["--engine", "vllm", "--model", MODEL, "--port", str(port),
                           "--replicas", "2", "--timeout", "20"])
    out = capsys.readouterr().out
    handles = recorded_servers()
    try:
        assert code == 0
        urls = f"http://127.0.0.1:{port}/v1,http://127.0.0.1:{port + 1}/v1"
        assert f"--api_base {urls}" in out
        assert sorted(h.base_url for h in handles) == urls.split(",")
        assert [environment_of(h.pid)["CUDA_VISIBLE_DEVICES"] for h in
                sorted(handles, key=lambda h: h.base_url)] == ["0", "1"]
    finally:
        assert serve_llm.main(["--stop"]) == 0
    assert all(pid_gone(h.pid) for h in handles) and recorded_servers() == []


def test_serve_llm_refuses_zero_replicas(kit_state_dir, capsys):
    from collectkit.cli import serve as serve_llm

    assert serve_llm.main(["--model", MODEL, "--engine", "vllm", "--replicas", "0"]) == 2
    assert "--replicas must be at least 1" in capsys.readouterr().err
