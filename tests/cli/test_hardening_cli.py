"""Flags, signals, crashes and the environment, as a user meets them on the command line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from collectkit.collect.settings import Settings
from collectkit.collect.run import run_collection
from collectkit.tasks.load import load_problems
from collection_support import (SECRET, cli_command, lines, manifest, one_line_error, run_cli,
                                stub_settings, wait_for_lines)
from stub_server import StubServer


@pytest.mark.parametrize("flag,value", [("--temperature", "inf"), ("--temperature", "nan"),
                                        ("--max_retries", "-1"), ("--request_timeout", "-1"),
                                        ("--request_timeout", "inf"), ("--top_p", "7"),
                                        ("--top_p", "0"), ("--repetition_penalty", "-2"),
                                        ("--retry_backoff_s", "-1")])
def test_impossible_numbers_are_one_line_and_exit_2(tmp_path, flag, value):
    done = subprocess.run([sys.executable, "-m", "collectkit.run_inference", flag, value,
                           "--output_dir", str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2 and flag.lstrip("-") in one_line_error(done)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sent,code,reason", [(signal.SIGINT, 130, "Ctrl-C"),
                                              (signal.SIGTERM, 143, "SIGTERM")])
def test_ctrl_c_and_sigterm_mark_the_manifest_interrupted(tmp_path, sent, code, reason):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8, delay=0.05) as server:
        command = cli_command(server, "--output_file", str(out), "--batch_size", "2",
                              problems=60)
        # SIGINT as an interactive shell delivers it (a background job starts it ignored).
        run = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        wait_for_lines(out, 3)
        run.send_signal(sent)
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == code, stderr
        assert stderr.strip().count("\n") == 0 and f"interrupted ({reason})" in stderr
        ending = manifest(out)
        assert ending["status"] == "interrupted" and ending["reason"] == reason
        kept = len(lines(out))
        assert 3 <= kept < 60
        finished = run_cli(server, "--output_file", str(out), problems=60, cwd=tmp_path)
    assert finished.returncode == 0 and len({r["unique_id"] for r in lines(out)}) == 60


class CrashingLLM:
    """Stands for a bug in the kit: an exception that is not a failed request."""
    supports_n = None

    async def sample(self, messages, k):
        raise RuntimeError("boom: a bug, not a server fault")

    async def aclose(self):
        pass


def test_a_crash_marks_the_manifest_failed_with_the_reason(tmp_path):
    with StubServer(completion_tokens=8) as server:
        out = tmp_path / "r.jsonl"
        with pytest.raises(RuntimeError, match="boom"):
            run_collection(stub_settings(server, tmp_path), load_problems("both", 2),
                           output_path=out, llm=CrashingLLM(), progress=False)
    ending = manifest(out)
    assert ending["status"] == "failed" and "RuntimeError: boom" in ending["reason"]


def test_local_mode_ignores_openai_base_url_and_never_sends_openai_api_key(tmp_path):
    with StubServer(completion_tokens=8) as server:
        environment = {**os.environ, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                       "OPENAI_API_BASE": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": SECRET}
        command = [sys.executable, "-m", "collectkit.run_inference", "--model", server.model,
                   "--server_port", str(server.port), "--num_problems", "2", "--quiet",
                   "--k_responses", "2", "--max_tokens", "8", "--output_dir", str(tmp_path)]
        done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert set(server.stats()["authorizations"]) == {"Bearer EMPTY"}
        # A local server's own key: from VLLM_API_KEY, never OPENAI_API_KEY.
        server.reset_stats()
        done = subprocess.run(command + ["--output_dir", str(tmp_path / "second")],
                              cwd=tmp_path, capture_output=True, text=True,
                              env={**environment, "VLLM_API_KEY": "local-server-key"},
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert set(server.stats()["authorizations"]) == {"Bearer local-server-key"}
    # Remote mode keeps the OpenAI variables' meaning.
    remote = Settings.load({"api_mode": "remote"}, env_file=None,
                           environ={"OPENAI_BASE_URL": "https://other.test/v1"})
    assert remote.base_url == "https://other.test/v1"


def test_dotenv_is_found_from_the_project_root_upward(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    with StubServer(completion_tokens=8) as server:
        (project / ".env").write_text(f"COLLECTKIT_SERVER_PORT={server.port}\n"
                                      f"COLLECTKIT_MODEL={server.model}\n"
                                      "VLLM_API_KEY=from-the-project-env\n")
        monkeypatch.chdir(project / "notebooks")  # where Jupyter starts a notebook's kernel
        settings = Settings.load({"k_responses": 2, "max_tokens": 8,
                                  "output_dir": str(tmp_path / "out")})
        assert settings.server_port == server.port
        assert settings.resolve_api_key() == "from-the-project-env"
        stats = run_collection(settings, load_problems("both", 2), progress=False)
    assert stats.done == 2
