"""A misbehaving server over a real socket: every fault becomes a row or one line, never a crash."""
from __future__ import annotations

import pytest

from collectkit.store import append as store
from collectkit.collect.run import CollectionError, run_collection
from collectkit.tasks.load import load_problems
from collection_support import (SECRET, lines, manifest, one_line_error, run_cli,
                                stub_settings)
from stub_server import StubServer


@pytest.fixture
def stub():
    with StubServer(completion_tokens=8) as server:
        yield server


@pytest.mark.parametrize("kind", ["truncated_json", "text_plain", "empty_object"])
def test_malformed_200_is_a_counted_failed_attempt_and_the_run_goes_on(stub, tmp_path, kind):
    stub.set_faults([{"kind": kind}])
    out = tmp_path / "r.jsonl"
    settings = stub_settings(stub, tmp_path, batch_size=1, max_attempts=1)
    stats = run_collection(settings, load_problems("both", 3), output_path=out, progress=False)
    errors = lines(store.errors_path(out))
    assert stats.done == 2 and stats.failed == 1 and stats.unfinished == 1
    assert len(errors) == 1 and errors[0]["counted"] and "malformed 200" in errors[0]["error"]
    assert len(lines(out)) == 2
    assert manifest(out)["status"] == "unfinished"


@pytest.mark.parametrize("fault", [{"kind": "empty_choices"}, {"kind": "few_choices",
                                                              "count": 2}])
def test_a_problem_is_done_only_with_exactly_k_responses(stub, tmp_path, fault):
    # n=3 answered short: topped up by separate requests; those answering no choice fail it.
    stub.set_mode(fault)
    out = tmp_path / "r.jsonl"
    settings = stub_settings(stub, tmp_path, batch_size=1, max_attempts=2)
    stats = run_collection(settings, load_problems("math500", 2), output_path=out,
                           progress=False)
    rows = lines(out) if out.exists() else []
    if fault["kind"] == "empty_choices":
        assert stats.done == 0 and rows == [] and stats.unfinished == 2
        errors = lines(store.errors_path(out))
        assert len(errors) == 4 and all(e["counted"] for e in errors)
        assert all("without choices" in e["error"] for e in errors)
    else:  # separate requests (n=1) get their one choice each
        assert stats.done == 2 and all(len(r["responses"]) == 3 for r in rows)
    # Whatever was topped up or failed, no row ever has other than k responses.
    assert all(len(r["responses"]) == 3 for r in rows)


def test_too_few_choices_everywhere_is_recorded_failed_never_saved_short(stub, tmp_path):
    stub.set_mode({"kind": "few_choices", "count": 0})
    out = tmp_path / "r.jsonl"
    stats = run_collection(stub_settings(stub, tmp_path, max_attempts=1),
                           load_problems("both", 2), output_path=out, progress=False)
    assert stats.done == 0 and out.read_text() == ""
    assert stats.unfinished == 2


@pytest.mark.parametrize("status", ["401", "403", "404"])
def test_persistent_auth_or_model_errors_stop_at_once_without_counting(stub, tmp_path, status):
    stub.set_mode(status)
    out = tmp_path / "r.jsonl"
    settings = stub_settings(stub, tmp_path, api_mode="remote", batch_size=2)
    with pytest.raises(CollectionError, match="no attempt was counted"):
        run_collection(settings, load_problems("both", 20), output_path=out, progress=False)
    errors = lines(store.errors_path(out))
    assert 1 <= len(errors) <= 2 and not any(e["counted"] for e in errors)
    assert stub.stats()["total_requests"] <= 2  # did not burn through the 20 problems
    assert manifest(out)["status"] == "stopped"
    done = run_cli(stub, "--api_mode", "remote", "--api_key", SECRET, "--output_file",
                   str(out), cwd=tmp_path)
    assert done.returncode == 2 and status in one_line_error(done)
    assert not any(e["counted"] for e in lines(store.errors_path(out)))


def test_a_key_echoed_by_the_server_is_redacted_everywhere(stub, tmp_path):
    stub.set_mode("401")
    out = tmp_path / "r.jsonl"
    done = run_cli(stub, "--api_mode", "remote", "--api_key", SECRET, "--output_file",
                   str(out), cwd=tmp_path)
    assert done.returncode == 2
    assert "Incorrect API key provided: ***" in store.errors_path(out).read_text()
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text(), path
    assert SECRET not in done.stdout + done.stderr


def test_credentials_inside_api_base_are_redacted(stub, tmp_path):
    # A key in the URL's query: the request goes wrong (404), and nothing written shows the key.
    out = tmp_path / "r.jsonl"
    done = run_cli(stub, "--api_mode", "remote", "--api_base",
                   stub.base_url + "?key=hunter2-secret-value", "--api_key", SECRET,
                   "--output_file", str(out),
                   cwd=tmp_path)
    assert done.returncode == 2 and "404" in one_line_error(done)
    written = "".join(p.read_text() for p in tmp_path.iterdir())
    assert store.errors_path(out).exists() and "key=***" in written
    assert "hunter2" not in written + done.stdout + done.stderr
    # user:password@ cannot be sent beside a key: refused before anything is written.
    host = stub.base_url.split("://", 1)[1]
    refused = run_cli(stub, "--api_base", f"http://user:hunter2-pass@{host}",
                      "--output_dir", str(tmp_path / "other"), cwd=tmp_path)
    assert refused.returncode == 2 and "credentials" in one_line_error(refused)
    assert "hunter2" not in refused.stderr and not (tmp_path / "other").exists()


def test_timeout_after_accept_is_counted_reset_before_any_byte_is_not(stub, tmp_path):
    problems = load_problems("both", 2)
    stub.set_mode({"kind": "stall", "seconds": 3})
    stalled = tmp_path / "stalled.jsonl"
    # a high --min_tokens_per_s: the deadline is --request_timeout, not what generating
    # max_tokens may take (test_long_generations.py)
    settings = stub_settings(stub, tmp_path, request_timeout=0.4, max_attempts=1,
                             min_tokens_per_s=1e6)
    run_collection(settings, problems, output_path=stalled, progress=False)
    stub.set_mode({"kind": "reset"})
    reset = tmp_path / "reset.jsonl"
    run_collection(settings, problems, output_path=reset, progress=False)
    stalls, resets = lines(store.errors_path(stalled)), lines(store.errors_path(reset))
    assert len(stalls) == 2 and all(e["counted"] and "cut off: no complete answer within 0.4 s"
                                    in e["error"] for e in stalls)
    assert resets and not any(e["counted"] for e in resets)
    assert all("ServerDisconnected" in e["error"] for e in resets)


def test_failed_problems_are_retried_within_the_run_in_rounds(stub, tmp_path):
    # Each problem's first request fails; the second round (after the pause) gets them all.
    stub.set_faults([{"kind": "500"}] * 4)
    out = tmp_path / "r.jsonl"
    settings = stub_settings(stub, tmp_path, max_attempts=3, retry_backoff_s=0.3)
    stats = run_collection(settings, load_problems("both", 4), output_path=out, progress=False)
    assert stats.done == 4 and stats.rounds == 2 and stats.unfinished == 0
    assert stats.wall_s >= 0.3  # the pause between rounds
    assert sorted(r["attempts"] for r in lines(out)) == [2, 2, 2, 2]
    done = run_cli(stub, "--output_file", str(out), cwd=tmp_path, problems=4)
    assert done.returncode == 0 and "4 already done" in done.stdout, done.stderr


def test_429_after_the_sdk_retries_is_counted_and_retried_next_round(stub, tmp_path):
    stub.set_faults([{"kind": "429", "retry_after": 0}])
    out = tmp_path / "r.jsonl"
    stats = run_collection(stub_settings(stub, tmp_path, batch_size=1),
                           load_problems("math500", 1), output_path=out, progress=False)
    assert stats.done == 1 and lines(out)[0]["attempts"] == 2
    assert lines(store.errors_path(out))[0]["status"] == 429
