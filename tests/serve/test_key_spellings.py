"""A key never passes as a server argument, in any spelling, and an echoed key is hidden before any
message is cut short: `python -m collectkit serve` (a fake vLLM that records its argv, in `fail`
mode so that a start on the old code ends at once) and `python -m collectkit run --batch`
against tests/batch_server.py echoing the key (over a real socket). The export's push is in
test_export_hub.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from batch_server import BatchServer
from collection_support import REPO
from serve_helpers import HF_MODEL, cli_env, fake_vllm, free_port, run_cli  # noqa: F401

KEY = "serverkey-Q7w8E9r0T1y2U3i4"  # not shaped like any provider's key: only the flag gives it away


def chunks(secret: str, size: int = 8) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def shown_anywhere(secret: str, *texts: str) -> bool:
    return any(chunk in text for text in texts for chunk in chunks(secret))


@pytest.mark.parametrize("args", [
    [f"--server-arg=--api_key={KEY}"],
    [f"--server-arg=--api-key={KEY}"],
    ["--server-arg=--api_key", f"--server-arg={KEY}"],
    [f"--server-arg=-api-key={KEY}"],
    [f"--server-arg=--API-K={KEY}"],
    [f"--server-arg=--max-num-seqs 4 --api_key {KEY}"],
    ["--", "--api_key", KEY],
    ["--", f"--api_key={KEY}"],
    [f"--server-arg=--hf_token=hf_{KEY}"],
], ids=["underscore=", "dash=", "separate", "one-dash", "prefix", "quoted", "after--",
        "after--=", "hf_token"])
def test_every_spelling_of_a_secret_flag_is_refused_unshown(fake_vllm, tmp_path, args):
    state = tmp_path / "state"
    env = cli_env(state, COLLECTKIT_VLLM_EXECUTABLE=os.environ["COLLECTKIT_VLLM_EXECUTABLE"],
                  FAKE_VLLM_MODE="fail")
    done = run_cli("--engine", "vllm", "--model", HF_MODEL, "--port", str(free_port()),
                   *args, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "may not be a server argument" in done.stderr
    assert ("HF_TOKEN" if "hf_token" in args[0] else "VLLM_API_KEY") in done.stderr
    assert not shown_anywhere(KEY, done.stdout, done.stderr)
    assert not fake_vllm.exists()  # nothing was started: the key is in no argv
    files = [p for p in state.rglob("*") if p.is_file()] if state.exists() else []
    assert not any(shown_anywhere(KEY, p.read_text(errors="replace")) for p in files)


def test_status_and_manifests_hide_a_key_in_a_recorded_command(tmp_path):
    """A state file written by hand or an older kit: `serve --status` shows its command with
    the key hidden."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "server-8999.json").write_text(json.dumps({
        "pid": 999999, "base_url": "http://127.0.0.1:8999/v1", "model_id": "m",
        "engine": "vllm", "log_path": "x.log", "state_path": str(state / "server-8999.json"),
        "started_at": 0, "create_time": None, "status": "ready", "api_key_required": False,
        "project": "", "command": ["vllm", "serve", "m", f"--api_key={KEY}", "--api-key", KEY]}))
    done = run_cli("--status", "--all", env=cli_env(state))
    assert "command: vllm serve m --api_key=*** --api-key ***" in done.stdout, done.stdout
    assert not shown_anywhere(KEY, done.stdout, done.stderr)


def test_a_key_a_batch_echoes_is_hidden_in_warnings_and_error_rows(tmp_path):
    with BatchServer(echo_key=True) as server:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": KEY}
        done = subprocess.run([sys.executable, "-m", "collectkit", "run", "--model",
                               "gpt-4o-mini", "--api-mode", "remote", "--api-base",
                               server.base_url, "--num-problems", "3", "--dataset", "math500",
                               "--k-responses", "2", "--max-retries", "0", "--output-file",
                               str(tmp_path / "b.jsonl"), "--batch", "--batch-wait", "20"],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 1, done.stderr  # the echoing line's problem failed
    assert "names no problem of this batch (custom_id ***::0)" in done.stderr, done.stderr
    errors = (tmp_path / "b.errors.jsonl").read_text()
    assert "batch line: " in errors and "***" in errors
    written = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert not shown_anywhere(KEY, done.stdout, done.stderr, *written)
