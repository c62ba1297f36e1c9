"""Servers worse than flaky (issue 18), through the real CLI over real sockets: nothing hangs,
no odd reply crashes a run or its reruns, no key travels or is written, no other model's reply
is stored. The faults live in tests/hostile_faults.py (served by tests/stub_server.py)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectkit.store import append as store
from collection_support import SECRET, cli_command, lines, one_line_error, run_cli
from stub_server import StubServer




def run_elsewhere(stub: StubServer, api_base: str, *args: str, cwd: Path,
                  problems: int = 2) -> subprocess.CompletedProcess:
    """The CLI as run_cli runs it, asking `api_base` instead of the stub."""
    command = cli_command(stub, *args, problems=problems)
    at = command.index("--api_base")
    command[at + 1] = api_base
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def every_written_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace")
                   for p in folder.rglob("*") if p.is_file())


def test_a_trickling_server_cannot_hold_a_run(stub, tmp_path):
    # One byte every 0.2 s keeps every read under the SDK's timeout; the request's own deadline
    # (--request_timeout, the whole request) ends it, counted, and the run ends.
    stub.set_mode({"kind": "trickle", "interval": 0.2, "seconds": 120})
    out = tmp_path / "r.jsonl"
    started = time.monotonic()
    # (a high --min_tokens_per_s keeps it at --request_timeout; under the default rate it is
    # cut off too, later: test_long_generations.py)
    done = run_cli(stub, "--output_file", str(out), "--request_timeout", "1",
                   "--min_tokens_per_s", "1e6", "--max_attempts", "1", problems=2, cwd=tmp_path,
                   timeout=60)
    assert time.monotonic() - started < 30
    assert done.returncode == 1, done.stderr
    errors = lines(store.errors_path(out))
    assert len(errors) == 2 and all(e["counted"] for e in errors)
    assert all("cut off: no complete answer within 1 s (the whole request's deadline: "
               "--request_timeout 1 s)" in e["error"] for e in errors)


@pytest.mark.parametrize("fault, cause", [
    ({"kind": "invalid_utf8"}, "UnicodeDecodeError"),
    ({"kind": "bad_usage"}, "usage.prompt_tokens is 'ten', not a token count"),
    ({"kind": "bad_usage", "negative": True}, "usage.prompt_tokens is -10"),
    ({"kind": "cut_body"}, "cut off mid-way"),
    ({"kind": "raw", "body": '{"choices": [{"message": {"content": ["a"]}}]}'},
     "message.content is list"),
    ({"kind": "other_model"}, "answered by model 'other-model', not 'stub-model'"),
])
def test_an_odd_200_is_a_counted_failure_naming_its_cause_and_reruns_work(stub, tmp_path,
                                                                          fault, cause):
    stub.set_faults([fault])  # the first request only; the retry round gets a good answer
    out = tmp_path / "r.jsonl"
    done = run_cli(stub, "--output_file", str(out), "--max_attempts", "2", "--batch_size", "1",
                   problems=2, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    errors = lines(store.errors_path(out))
    assert len(errors) == 1 and errors[0]["counted"] and errors[0]["kind"] == "counted"
    assert cause in errors[0]["error"], errors[0]["error"]
    assert "no running event loop" not in errors[0]["error"]
    assert sorted(len(row["responses"]) for row in lines(out)) == [3, 3]
    again = run_cli(stub, "--output_file", str(out), problems=2, cwd=tmp_path)
    assert again.returncode == 0 and "2 already done" in again.stdout, again.stderr


def test_lone_surrogates_are_stored_escaped_and_the_file_stays_usable(stub, tmp_path):
    stub.set_mode("lone_surrogate")
    out = tmp_path / "r.jsonl"
    done = run_cli(stub, "--output_file", str(out), problems=2, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = out.read_bytes().decode("utf-8")  # strict: the file is valid UTF-8
    assert all(r["full_response"] == "half \\ud800 \\boxed{2}"
               for row in lines(out) for r in row["responses"])
    assert "\\\\ud800" in text  # the escape is text, kept losslessly
    graded = subprocess.run([sys.executable, "-m", "collectkit.answer_extraction", "-i",
                             str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert graded.returncode == 0, graded.stderr
    again = run_cli(stub, "--output_file", str(out), problems=2, cwd=tmp_path)
    assert again.returncode == 0 and "2 already done" in again.stdout


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_no_key_follows_a_redirect_to_another_origin(stub, tmp_path, mode):
    with StubServer(completion_tokens=8) as elsewhere:
        stub.set_mode({"kind": "redirect", "location": elsewhere.root_url})
        stub.set_models_fault({"kind": "redirect", "location": elsewhere.root_url})
        done = run_cli(stub, "--api_mode", mode, "--api_key", SECRET, "--output_file",
                       str(tmp_path / "r.jsonl"), problems=2, cwd=tmp_path)
        seen_there = elsewhere.stats()
    assert done.returncode == 0, done.stderr
    assert f"Bearer {SECRET}" in stub.stats()["authorizations"]  # the origin asked got it
    assert seen_there["total_requests"] >= 2  # the redirect was followed ...
    assert not any(SECRET in header for header in seen_there["authorizations"])  # ... bare


def test_a_key_echoed_in_a_completion_is_never_written(stub, tmp_path):
    stub.set_mode("echo_key")
    out = tmp_path / "r.jsonl"
    done = run_cli(stub, "--api_mode", "remote", "--api_key", SECRET, "--output_file", str(out),
                   problems=2, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert all("Your key is ***." in r["full_response"]
               for row in lines(out) for r in row["responses"])
    assert SECRET not in every_written_text(tmp_path) + done.stdout + done.stderr


@pytest.mark.parametrize("value", [SECRET, "AbCdEfGh1234567890XyZw98765", "not a name"])
def test_a_key_given_as_api_key_env_is_refused_unshown(stub, tmp_path, value):
    out = tmp_path / "out" / "r.jsonl"
    done = run_cli(stub, "--api_mode", "remote", "--api_key_env", value, "--output_file",
                   str(out), problems=1, cwd=tmp_path)
    assert done.returncode == 2 and "NAME of the variable" in one_line_error(done)
    assert value not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()  # no manifest, nothing written
    assert stub.stats()["total_requests"] == 0


def test_replies_from_another_model_are_counted_never_stored(stub, tmp_path):
    # One URL serving another model (of several, it leaves the pool instead:
    # test_model_identity.py::test_an_endpoint_answering_as_another_model_leaves_the_pool).
    with StubServer(completion_tokens=8, model="other-model") as other:
        out = tmp_path / "r.jsonl"
        done = run_elsewhere(stub, other.base_url, "--api_mode", "remote", "--api_key", SECRET,
                             "--output_file", str(out), "--max_attempts", "2", cwd=tmp_path,
                             problems=2)
        assert other.stats()["total_requests"] >= 1
    assert "Traceback" not in done.stderr and done.returncode == 1, done.stderr
    assert not out.exists() or not lines(out)
    errors = lines(store.errors_path(out))
    assert len(errors) == 4 and all(e["counted"] and "'other-model', not 'stub-model'"
                                    in e["error"] for e in errors)


@pytest.mark.parametrize("api_base, hint", [
    ("localhost:{port}/v1", "is not an http:// or https:// URL; did you mean "
                            "http://localhost:{port}/v1?"),
    ("http://127.0.0.1:{port}/v1/chat/completions", "ends with /chat/completions: give the "
                                                    "API's base URL, http://127.0.0.1:{port}/v1"),
])
def test_a_url_without_scheme_or_with_the_route_gets_a_clear_hint(stub, tmp_path, api_base,
                                                                  hint):
    url = api_base.format(port=stub.port)
    done = run_elsewhere(stub, url, "--output_file", str(tmp_path / "r.jsonl"), cwd=tmp_path)
    error = one_line_error(done)
    assert done.returncode == 2 and hint.format(port=stub.port) in error
    assert "start" not in error and not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("api_base, why", [
    ("https://api.nonexistent-host.invalid/v1", "could not resolve host "
                                                "api.nonexistent-host.invalid"),
    ("http://127.0.0.1:{port}/v1", "connection refused at 127.0.0.1:{port}"),
])
def test_no_server_answering_in_remote_mode_says_why_and_exits_3(stub, tmp_path, api_base, why):
    from conftest import free_port

    port = free_port()
    out = tmp_path / "r.jsonl"
    done = run_elsewhere(stub, api_base.format(port=port), "--api_mode", "remote", "--api_key",
                         SECRET, "--output_file", str(out), "--max_attempts", "3", cwd=tmp_path)
    error = one_line_error(done)
    assert done.returncode == 3, done.stderr
    assert "no server answered" in error and why.format(port=port) in error
    assert "raise --max_attempts" not in error and "no attempt was counted" in error
    assert json.loads(store.manifest_path(out).read_text())["status"] == "stopped"


@pytest.mark.parametrize("requested, served, same", [
    ("gpt-4o", "gpt-4o-2024-08-06", True), ("gpt-4o", "gpt-4o-mini-2024-07-18", False),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", True),
    ("gemini-2.0-flash", "models/gemini-2.0-flash", True),
    ("gemini-2.0-flash", "gemini-2.0-flash-001", True), ("stub-model", "other-model", False),
    ("llama-3", "llama-3-70b", False), ("stub-model", None, True),
])
def test_which_reply_model_is_the_run_model(requested, served, same):
    from collectkit.collect.replies import same_model

    assert same_model(requested, served) is same
