"""Long generations (issue 24 item 5), time-scaled, through the real CLI against the stub: a
request that keeps generating at a slow, steady rate past --request_timeout finishes under the
default --min_tokens_per_s, while a server trickling bytes is still cut off, and said so."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectkit.store import append as store
from collectkit.collect.settings import Settings
from collectkit.collect.client import request_deadline
from stub_server import StubServer

SECRET = "sk-test-SECRET-long-0123456789"


def collectkit_run(url: str, out: Path, *args: str, problems: int = 2
                   ) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "collectkit", "run", "--model", "stub-model",
               "--api-base", url, "--api-mode", "remote", "--api-key", SECRET,
               "--num-problems", str(problems), "--max-retries", "0", "--max-attempts", "1",
               "--output-file", str(out), "--quiet", *args]
    return subprocess.run(command, cwd=out.parent, capture_output=True, text=True, timeout=120)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("k", [1, 3])
def test_a_slow_steady_generation_past_the_old_deadline_finishes(tmp_path, k):
    # The case scaled by 1/600: --request_timeout 600 s → 1 s; 32,768 tokens at 30
    # tokens/s (18 min) → 55 tokens at 30 tokens/s (1.8 s, past the old deadline). The
    # default --min_tokens_per_s 10 gives it k × 55 / 10 s.
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=55, extra_args=["--tokens-per-s", "30"]) as stub:
        started = time.monotonic()
        done = collectkit_run(stub.base_url, out, "--request-timeout", "1", "--max-tokens",
                              "55", "--k-responses", str(k))
        took = time.monotonic() - started
        assert stub.stats()["n_values"] == {str(k): 2}  # one request per problem
    assert done.returncode == 0, done.stderr
    assert took > 1.8 and not rows(store.errors_path(out))
    assert [len(row["responses"]) for row in rows(out)] == [k, k]
    assert all(r["usage"] is None or r["usage"]["completion_tokens"] == 55 * k
               for row in rows(out) for r in row["responses"])


def test_a_trickling_server_is_still_cut_off_under_the_default_rate(tmp_path):
    out = tmp_path / "r.jsonl"
    with StubServer(completion_tokens=8) as stub:
        stub.set_mode({"kind": "trickle", "interval": 0.2, "seconds": 120})
        started = time.monotonic()
        done = collectkit_run(stub.base_url, out, "--request-timeout", "1", "--max-tokens",
                              "16", "--k-responses", "2")
        took = time.monotonic() - started
    assert done.returncode == 1 and took < 30, done.stderr
    errors = rows(store.errors_path(out))
    assert len(errors) == 2 and all(e["counted"] for e in errors)
    assert all("cut off: no complete answer within 3.2 s (the whole request's deadline: n=2 × "
               "max_tokens 16 at --min_tokens_per_s 10, more than --request_timeout 1 s)"
               in e["error"] for e in errors), errors[0]["error"]


@pytest.mark.parametrize("timeout, rate, max_tokens, n, deadline", [
    (600, 10, 32768, 1, 3276.8),  # the reasoning model: 18 min at 30 tok/s fits
    (600, 10, 32768, 4, 13107.2),  # n=4: every choice's tokens
    (600, 10, 2048, 1, 600),  # the defaults: --request_timeout decides
    (600, 10, None, 4, 600),  # no max_tokens: nothing to derive from
])
def test_the_deadline_derives_from_max_tokens_n_and_the_rate(timeout, rate, max_tokens, n,
                                                             deadline):
    assert request_deadline(timeout, rate, max_tokens, n) == pytest.approx(deadline)
    assert Settings().min_tokens_per_s == 10 and Settings().request_timeout == 600


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan"])
def test_an_impossible_rate_is_one_line_and_exit_2(tmp_path, value):
    done = collectkit_run("http://127.0.0.1:9/v1", tmp_path / "r.jsonl",
                          "--min-tokens-per-s", value)
    assert done.returncode == 2 and "min_tokens_per_s" in done.stderr
    assert done.stderr.strip().count("\n") == 0
