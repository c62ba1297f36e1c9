"""Collection over several endpoints, under 429 storms, with cost and --dry_run, through the real
collect() and the run_inference CLI, against stub servers over real sockets."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from collectkit.store import append as store
from collectkit.collect.settings import Settings
from collectkit.collect.run import run_collection
from collectkit.tasks.load import load_problems
from batch_server import BatchServer
from stub_server import StubServer

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-SECRET-scaling-0123456789"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def manifest(path: Path) -> dict:
    return json.loads(store.manifest_path(path).read_text())


def settings_for(urls: list[str], tmp_path: Path, **changes) -> Settings:
    base = dict(model="stub-model", api_base=",".join(urls), output_dir=str(tmp_path),
                k_responses=2, max_tokens=16, max_retries=1, request_timeout=10.0,
                batch_size=12, max_concurrent=12, api_key=SECRET, retry_backoff_s=0.1)
    return Settings(**{**base, **changes})


@pytest.fixture
def three_stubs():
    servers = [StubServer(completion_tokens=8, delay=0.05) for _ in range(3)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_three_endpoints_one_killed_mid_run_every_problem_exactly_once(three_stubs, tmp_path):
    problems = load_problems("both", 90)
    out = tmp_path / "results.jsonl"
    victim = three_stubs[2]

    def kill_when_busy() -> None:
        while victim.stats()["total_requests"] < 10:
            time.sleep(0.02)
        victim.kill()

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    stats = run_collection(settings_for([s.base_url for s in three_stubs], tmp_path), problems,
                           output_path=out, progress=False)
    killer.join()
    ids = [r["unique_id"] for r in rows(out)]
    assert sorted(ids) == sorted(p.unique_id for p in problems), "every problem"
    assert len(ids) == len(set(ids)), "exactly once"
    assert stats.done == 90 and stats.failed == 0, "the failover counted nothing"
    assert all(r["attempts"] == 1 and len(r["responses"]) == 2 for r in rows(out))
    run = manifest(out)["runs"][-1]
    served = {e["url"]: e["served"] for e in run["endpoints"]}
    assert list(served) == [s.base_url for s in three_stubs]
    assert all(count > 0 for count in served.values()), served  # load on all three
    assert sum(served.values()) == 90
    assert run["endpoints"][2]["times_down"] == 1
    assert manifest(out)["base_url"] == ",".join(s.base_url for s in three_stubs)


def test_a_url_that_does_not_answer_at_start_is_taken_in_later(three_stubs, tmp_path):
    live, late = three_stubs[0], three_stubs[1]
    port = late.port
    late.kill()
    out = tmp_path / "results.jsonl"
    settings = settings_for([live.base_url, f"http://127.0.0.1:{port}/v1"], tmp_path,
                            max_concurrent=2, batch_size=2)
    revived: list[StubServer] = []

    def revive() -> None:
        time.sleep(1.0)
        revived.append(StubServer(completion_tokens=8, port=port))

    starter = threading.Thread(target=revive)
    starter.start()
    try:
        stats = run_collection(settings, load_problems("both", 60), output_path=out,
                               progress=False)
        starter.join()
        assert stats.done == 60 and stats.failed == 0
        assert revived[0].stats()["total_requests"] > 0, "used again once it answered"
        report = manifest(out)["runs"][-1]["endpoints"]
        assert report[1]["served"] > 0 and report[1]["up"] is True
    finally:
        starter.join()
        for server in revived:
            server.stop()


def test_429_storm_concurrency_falls_and_recovers_nothing_lost(tmp_path):
    with StubServer(completion_tokens=8, delay=0.02) as server:
        server.set_faults([{"kind": "429", "retry_after": 0.01}] * 30)
        out = tmp_path / "results.jsonl"
        settings = settings_for([server.base_url], tmp_path, max_retries=8, batch_size=16,
                                max_concurrent=16, k_responses=1)
        stats = run_collection(settings, load_problems("both", 300), output_path=out,
                               progress=False)
    assert stats.done == 300 and stats.failed == 0 and len(rows(out)) == 300
    level = manifest(out)["runs"][-1]["concurrency"]
    assert level["overload_responses"] == 30
    assert level["lowest"] <= 4 and level["final"] == 16, level


@pytest.fixture
def three_priced_stubs():
    """Stubs that answer as gpt-4o-mini: every reply's model is checked against --model."""
    servers = [StubServer(completion_tokens=8, delay=0.05, model="gpt-4o-mini") for _ in range(3)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_cli_several_urls_repeated_and_cost_in_the_manifest(three_priced_stubs, tmp_path):
    three_stubs = three_priced_stubs
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "collectkit.run_inference", "--model", "gpt-4o-mini",
               "--api_mode", "remote", "--api_base", f"{three_stubs[0].base_url},"
               f"{three_stubs[1].base_url}", "--api_base", three_stubs[2].base_url,
               "--num_problems", "6", "--k_responses", "2", "--output_file", str(out),
               "--quiet", "--rpm", "6000", "--tpm", "10000000"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": SECRET}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cost: 60 prompt + 96 completion tokens ≈ $0.0001" in done.stdout
    assert all(s.stats()["total_requests"] > 0 for s in three_stubs)
    data = manifest(out)
    assert data["runs"][-1]["cost"]["price"]["model"] == "gpt-4o-mini"
    assert data["totals"]["usd"] == pytest.approx((60 * 0.15 + 96 * 0.6) / 1e6)
    assert data["runs"][-1]["concurrency"]["rpm"] == 6000
    assert SECRET not in store.manifest_path(out).read_text()


def test_cli_dry_run_sends_nothing_and_counts_only_open_problems(three_stubs, tmp_path):
    out = tmp_path / "results.jsonl"
    server = three_stubs[0]
    settings = settings_for([server.base_url], tmp_path, k_responses=4, max_tokens=100)
    run_collection(settings, load_problems("math500", 3), output_path=out, progress=False)
    server.reset_stats()
    done = subprocess.run(
        [sys.executable, "-m", "collectkit.run_inference", "--model", "gpt-4o", "--dataset",
         "math500", "--num_problems", "10", "--k_responses", "4", "--max_tokens", "100",
         "--output_file", str(out), "--api_mode", "remote", "--api_base", server.base_url,
         "--dry_run"], capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": SECRET}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "dry run: 7 problems, 7 requests" in done.stdout
    assert "at most 2,800 completion tokens" in done.stdout and "gpt-4o)" in done.stdout
    assert server.stats()["total_requests"] == 0
    assert len(rows(out)) == 3


def test_cli_bad_price_table_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "prices.json"
    bad.write_text("{oops")
    done = subprocess.run(
        [sys.executable, "-m", "collectkit.run_inference", "--prices", str(bad), "--dry_run"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and str(bad) in done.stderr


def test_cli_batch_submits_then_merges_with_exit_codes(tmp_path):
    out = tmp_path / "results.jsonl"
    with BatchServer(complete_after=1.0) as server:
        command = [sys.executable, "-m", "collectkit.run_inference", "--model", "gpt-4o-mini",
                   "--api_mode", "remote", "--api_base", server.base_url, "--batch",
                   "--num_problems", "4", "--k_responses", "2", "--output_file", str(out),
                   "--quiet"]
        env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": SECRET}
        first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env,
                               timeout=60)
        assert first.returncode == 4, first.stderr
        assert "run the same command later" in first.stdout
        assert manifest(out)["status"] == "waiting"
        time.sleep(1.1)
        second = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                                env=env, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "batch: 4 problems merged" in second.stdout
        assert "at the batch price" in second.stdout
    got = rows(out)
    assert len(got) == 4 and len({r["unique_id"] for r in got}) == 4
    assert manifest(out)["status"] == "finished"
    assert manifest(out)["runs"][0]["batch"]["submitted"]


def test_cli_batch_against_a_server_without_a_batch_api_is_one_line_exit_2(tmp_path):
    with StubServer() as server:  # chat completions only: /v1/files is a 404
        done = subprocess.run(
            [sys.executable, "-m", "collectkit.run_inference", "--api_mode", "remote",
             "--model", "gpt-4o-mini", "--api_base", server.base_url, "--batch",
             "--num_problems", "2", "--output_dir", str(tmp_path), "--max_retries", "0"],
            capture_output=True, text=True, cwd=tmp_path, timeout=60,
            env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": SECRET})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: the batch API at") and "404" in done.stderr
    assert done.stderr.count("\n") == 1 and SECRET not in done.stderr


def test_settings_take_several_urls_from_env_and_dotenv_and_check_limits(tmp_path):
    from collectkit.collect.settings import ConfigError

    env_file = tmp_path / ".env"
    env_file.write_text("COLLECTKIT_API_BASE=http://a:1/v1,http://b:2/v1/\nCOLLECTKIT_RPM=600\n")
    loaded = Settings.load(env_file=env_file, environ={})
    assert loaded.base_urls == ["http://a:1/v1", "http://b:2/v1"] and loaded.rpm == 600
    assert loaded.base_url == "http://a:1/v1,http://b:2/v1"
    from_environment = Settings.load(env_file=None,
                                     environ={"COLLECTKIT_API_BASE": "http://c/v1 http://d/v1"})
    assert from_environment.base_urls == ["http://c/v1", "http://d/v1"]
    for bad in ({"rpm": 0}, {"tpm": -5}, {"rpm": float("inf")}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Settings(**bad)
    with pytest.raises(ConfigError, match="carries credentials"):
        Settings(api_base="http://a/v1,http://user:pw@b/v1")
