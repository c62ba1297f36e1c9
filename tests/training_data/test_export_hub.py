"""`collectkit export … --push-to-hub` against a local stand-in for the Hub over a real socket
(tests/hub_server.py, HF_ENDPOINT pointing at it; huggingface_hub itself does the talking):
only the files the export wrote leave the machine, the repository is private unless --public,
and the output says what was uploaded; a token the Hub echoes is never shown, not even in part."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collection_support import REPO
from hub_server import HubServer
from test_export import response, row

TOKEN = "hf_" + "Tk7qZ" * 6 + "x9Lm"  # 37 characters, as the Hub's tokens
assert len(TOKEN) == 37


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server


def push(hub: HubServer, tmp_path: Path, out: Path, *flags: str) -> subprocess.CompletedProcess:
    processed = tmp_path / "r.processed.jsonl"
    processed.write_text(json.dumps(row([response("a", True), response("b", False)])) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_ENDPOINT": hub.root_url,
           "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home"),
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    return subprocess.run([sys.executable, "-m", "collectkit", "export", str(processed),
                           "--format", "pairs", "--out", str(out), "--push-to-hub", "me/pairs",
                           *flags], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=180)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_uploads_only_the_exported_files_to_a_private_repository(hub, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".env").write_text("OPENAI_API_KEY=sk-user-secret-0123456789\n")
    (out / "notes.txt").write_text("my own notes\n")
    done = push(hub, tmp_path, out)
    assert done.returncode == 0, done.stderr
    state = hub.state()
    assert state["repos"]["me/pairs"]["private"] is True
    assert state["repos"]["me/pairs"]["created_with"]["visibility"] == "private"
    [commit] = state["commits"]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
                     and p.name not in (".env", "notes.txt") and not p.name.startswith(".collectkit"))
    assert sorted(commit["files"]) == written  # README.md, pairs.parquet, pairs/…: nothing else
    assert {".env", "notes.txt"}.isdisjoint(commit["files"])
    assert all(commit["files"][name] == sha(out / name) for name in written)
    said = done.stdout.strip().splitlines()[-1]
    assert said.startswith(f"pushed {len(written)} file(s) to ") and "(private)" in said
    assert "README.md" in said and "pairs.parquet" in said and "pairs/ (" in said
    assert ".env" not in done.stdout


def test_public_only_when_asked_and_an_existing_public_repository_is_refused(hub, tmp_path):
    done = push(hub, tmp_path, tmp_path / "a", "--public")
    assert done.returncode == 0, done.stderr
    assert hub.state()["repos"]["me/pairs"]["private"] is False and "(public)" in done.stdout
    again = push(hub, tmp_path, tmp_path / "b")  # the same, now public, repository
    assert again.returncode == 3 and again.stderr.count("\n") == 1
    assert "exists and is public; pass --public" in again.stderr
    assert len(hub.state()["commits"]) == 1  # nothing more was uploaded


@pytest.mark.parametrize("pad", [0, 18])  # two offsets: the cut falls inside a token in one
def test_a_token_the_hub_echoes_is_hidden_before_the_message_is_cut(hub, tmp_path, pad):
    hub.echo_token(pad)
    done = push(hub, tmp_path, tmp_path / "out")
    assert done.returncode == 3 and done.stderr.count("\n") == 1
    assert "could not push to me/pairs" in done.stderr and "***" in done.stderr
    shown = done.stdout + done.stderr
    assert not any(TOKEN[i:i + 8] in shown for i in range(len(TOKEN) - 7)), done.stderr
