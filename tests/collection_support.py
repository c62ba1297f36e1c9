"""Helpers shared by the collection tests (test_collection.py, test_hardening_*.py): settings for
the fault stub, the CLI as a user runs it over a real socket, reading what it wrote."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from collectkit.collect.settings import Settings
from stub_server import StubServer

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-test-SECRET-never-saved-0123456789"


def stub_settings(server: StubServer, tmp_path: Path, **changes) -> Settings:
    base = dict(model=server.model, api_base=server.base_url, output_dir=str(tmp_path),
                k_responses=3, max_tokens=64, max_retries=0, request_timeout=5.0,
                batch_size=8, max_concurrent=8, api_key=SECRET, retry_backoff_s=0.05)
    return Settings(**{**base, **changes})


def lines(path: Path) -> list[dict]:
    """The rows of a JSONL file, split at "\\n" only (as collectkit/jsonl.py does)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def manifest(results: Path) -> dict:
    return json.loads(results.with_name(results.stem + ".manifest.json").read_text())


def cli_command(server: StubServer, *args: str, problems: int = 3) -> list[str]:
    return [sys.executable, "-m", "collectkit.run_inference", "--model", server.model,
            "--api_base", server.base_url, "--num_problems", str(problems), "--k_responses", "3",
            "--max_tokens", "64", "--max_retries", "0", "--request_timeout", "3",
            "--retry_backoff_s", "0.05", "--quiet", *args]


def run_cli(server: StubServer, *args: str, cwd: Path, problems: int = 3,
            env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(server, *args, problems=problems), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The CLI's stderr, asserted to be exactly one line (no traceback)."""
    error = done.stderr.strip()
    assert error.count("\n") == 0 and "Traceback" not in error, done.stderr
    return error


def wait_for_lines(path: Path, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines")
