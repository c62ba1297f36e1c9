"""--batch against a local files + batches API over real sockets: submit, kill, rerun, merge."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectkit.collect.batch import driver as batch
from collectkit.collect.batch import merge as batch_merge
from collectkit.store import append as store
from collectkit.collect.settings import Settings
from collectkit.collect.run import run_collection
from collectkit.tasks.load import load_problems
from batch_server import BatchServer

SECRET = "sk-test-SECRET-batch-never-saved-42"
REPO = Path(__file__).resolve().parents[2]


def batch_settings(server: BatchServer, tmp_path: Path, **changes) -> Settings:
    base = dict(model="gpt-4o-mini", api_mode="remote", api_base=server.base_url,
                output_dir=str(tmp_path), k_responses=3, max_tokens=64, max_retries=0,
                request_timeout=10.0, api_key=SECRET, seed=5)
    return Settings(**{**base, **changes})


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(settings, problems, out, wait_s=0.0):
    """One run of the same command; (stats, the batch report)."""
    stats = run_collection(settings, problems, output_path=out, progress=False,
                           batch=batch.BatchMode(wait_s=wait_s, poll_s=0.05))
    return stats, batch.BatchReport(**stats.batch)


def test_lines_follow_the_openai_batch_format():
    settings = Settings(model="gpt-4o-mini", api_mode="remote", k_responses=4, seed=3,
                        max_tokens=100)
    problems = load_problems("both", 2)
    one = batch.batch_lines(problems, settings, n_per_line=True)
    assert [line["custom_id"] for line in one] == [f"{p.unique_id}::0" for p in problems]
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for line in one)
    assert one[0]["body"]["n"] == 4 and one[0]["body"]["model"] == "gpt-4o-mini"
    assert one[0]["body"]["messages"][0]["role"] == "user"
    assert "repetition_penalty" not in one[0]["body"]  # filtered like the online path
    split = batch.batch_lines(problems, settings, n_per_line=False)
    assert [batch.split_custom_id(l["custom_id"]) for l in split[:4]] == [
        (problems[0].unique_id, i) for i in range(4)]
    assert [l["body"]["seed"] for l in split[:4]] == [3, 4, 5, 6]
    assert all("n" not in l["body"] for l in split)


def test_submit_poll_merge_exactly_once(tmp_path):
    problems = load_problems("both", 6)
    out = tmp_path / "results.jsonl"
    with BatchServer() as server:
        settings = batch_settings(server, tmp_path)
        stats, report = run(settings, problems, out, wait_s=10)
        assert report.merged == 6 and not report.pending and stats.done == 6
        again, report2 = run(settings, problems, out, wait_s=10)
        assert report2.merged == 0 and not report2.submitted and again.planned == 0
        assert server.stats()["uploads"] == 1 and server.stats()["batches"] == 1
    got = rows(out)
    assert sorted(r["unique_id"] for r in got) == sorted(p.unique_id for p in problems)
    assert all(len(r["responses"]) == 3 and r["status"] == "ok" for r in got)
    assert all(len({x["full_response"] for x in r["responses"]}) == 3 for r in got)
    assert all(r["unique_id"] in r["responses"][0]["full_response"] for r in got)
    state = json.loads(batch.state_path(out).read_text())
    assert [b["status"] for b in state["batches"]] == ["merged"]
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text(), path


def test_killed_after_submission_the_rerun_merges_once(tmp_path):
    problems = load_problems("both", 8)
    out = tmp_path / "results.jsonl"
    with BatchServer(complete_after=1.5) as server:
        settings = batch_settings(server, tmp_path)
        child_settings = {k: v for k, v in settings.public_dict().items()  # the key: by env
                          if k in ("model", "api_mode", "api_base", "output_dir", "k_responses",
                                   "max_tokens", "max_retries", "seed")}
        script = (
            "import sys; sys.path.insert(0, 'tests');"
            "from collectkit.collect.batch import driver as batch; from collectkit.collect.settings import Settings;"
            "from collectkit.collect.run import run_collection;"
            "from collectkit.tasks.load import load_problems;"
            f"s = Settings(**{json.dumps(child_settings)});"
            f"run_collection(s, load_problems('both', 8), output_path={str(out)!r}, "
            "progress=False, batch=batch.BatchMode(wait_s=600, poll_s=0.05))")
        child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                                 env={**os.environ, "OPENAI_API_KEY": SECRET},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        state_file = batch.state_path(out)
        deadline = time.monotonic() + 30
        while not state_file.exists() and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read().decode()
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stderr.close()
        assert rows(out) == [], "killed before the batch finished"
        state = json.loads(state_file.read_text())
        assert len(state["batches"]) == 1 and state["batches"][0]["lines"] == 8

        stats, report = run(settings, problems, out, wait_s=15)
        assert report.merged == 8 and not report.submitted
        _, report3 = run(settings, problems, out, wait_s=15)
        assert report3.merged == 0 and not report3.submitted
        assert server.stats()["batches"] == 1, "no second batch for the same problems"
    assert sorted(r["unique_id"] for r in rows(out)) == sorted(p.unique_id for p in problems)


def test_a_merge_cut_short_is_finished_without_duplicates(tmp_path):
    problems = load_problems("both", 6)
    out = tmp_path / "results.jsonl"
    with BatchServer() as server:
        settings = batch_settings(server, tmp_path)
        run(settings, problems, out, wait_s=10)
        # As if killed after two rows were appended and before the batch was marked merged.
        kept = out.read_text().splitlines(keepends=True)[:2]
        out.write_text("".join(kept))
        state_file = batch.state_path(out)
        state = json.loads(state_file.read_text())
        state["batches"][0]["status"] = "in_progress"
        state_file.write_text(json.dumps(state))
        _, report = run(settings, problems, out, wait_s=10)
    assert report.merged == 4
    ids = [r["unique_id"] for r in rows(out)]
    assert len(ids) == len(set(ids)) == 6


def test_provider_that_rejects_n_gets_k_lines_next_time(tmp_path):
    problems = load_problems("math500", 3)
    out = tmp_path / "results.jsonl"
    with BatchServer(reject_n=True) as server:
        settings = batch_settings(server, tmp_path)
        first, report = run(settings, problems, out, wait_s=10)
        assert report.failed == 3 and report.merged == 0 and rows(out) == []
        errors = rows(store.errors_path(out))
        assert len(errors) == 3 and all("400" in e["error"] and e["counted"] for e in errors)
        assert json.loads(batch.state_path(out).read_text())["n_per_line"] is False
        second, report2 = run(settings, problems, out, wait_s=10)
        assert report2.merged == 3
    got = rows(out)
    assert all(r["attempts"] == 2 and len(r["responses"]) == 3 for r in got)
    seeds = [[x["full_response"].split("seed=")[1].split("]")[0] for x in r["responses"]]
             for r in got]
    assert all(sorted(s) == ["5", "6", "7"] for s in seeds)


def test_pending_batch_is_reported_and_not_resubmitted(tmp_path):
    problems = load_problems("both", 4)
    out = tmp_path / "results.jsonl"
    with BatchServer(complete_after=60) as server:
        settings = batch_settings(server, tmp_path)
        _, first = run(settings, problems, out)
        _, second = run(settings, problems, out)
        assert len(first.submitted) == 1 and second.submitted == []
        assert second.pending == first.submitted
        assert "run the same command later" in second.line()
        assert server.stats()["batches"] == 1


def test_a_batch_that_returns_too_few_responses_is_a_counted_failure(tmp_path):
    problems = load_problems("math500", 2)
    out = tmp_path / "results.jsonl"
    with BatchServer(max_choices=2) as server:
        _, report = run(batch_settings(server, tmp_path), problems, out, wait_s=10)
    assert report.failed == 2 and rows(out) == []
    errors = rows(store.errors_path(out))
    assert all(e["counted"] and "returned 2 of 3 responses" in e["error"] for e in errors)
    assert all(len(e["partial_responses"]) == 2 for e in errors)


def test_a_local_output_file_that_is_not_batch_output_is_refused_naming_the_line(tmp_path):
    settings = Settings(model="smollm2", api_mode="local", k_responses=2, output_dir=str(tmp_path))
    problems = load_problems("math500", 2)
    requests = tmp_path / "requests.jsonl"
    assert batch.write_requests_file(settings, problems, requests) == 2
    not_output = tmp_path / "not-output.jsonl"
    not_output.write_text(requests.read_text() + '{"id": "no custom_id"}\n')
    results = tmp_path / "results.jsonl"
    with pytest.raises(batch.BatchError, match=r"not-output.jsonl line 3 is not a batch output"):
        batch_merge.merge_output_file(settings, not_output, results, problems)
    with pytest.raises(batch.BatchError, match="cannot read batch output"):
        batch_merge.merge_output_file(settings, tmp_path / "missing.jsonl", results, problems)
    assert not results.exists()  # nothing written


def test_a_trickling_batch_api_is_cut_off_in_one_line(tmp_path):
    """28.5: an API answering one byte every 0.2 s (each read under the SDK's timeout) held
    --batch forever; each whole batch call is bounded by --request_timeout."""
    out = tmp_path / "r.jsonl"
    with BatchServer(trickle=0.2) as server:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "collectkit", "run", "--batch",
                               "--model", "gpt-4o-mini", "--api-mode", "remote", "--api-base",
                               server.base_url, "--api-key", SECRET, "--num-problems", "2",
                               "--k-responses", "2", "--max-retries", "0",
                               "--request-timeout", "1", "--output-file", str(out), "--quiet"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        assert server.stats()["trickled"] == 1
    error = done.stderr.strip()
    assert done.returncode == 2 and error.count("\n") == 0 and "Traceback" not in error, error
    assert (f"cut off: the batch API at {server.base_url} gave no complete answer to "
            "files.create within 1 s") in error
    assert took < 20 and SECRET not in error
    assert json.loads(store.manifest_path(out).read_text())["status"] == "failed"


def test_an_azure_batch_reply_naming_its_snapshot_merges(tmp_path):
    """24.4 for --batch: replies from a deployment name the model's snapshot; the batch API
    lists no models (404), so the first reply's model is the deployment's."""
    problems = load_problems("both", 2)
    out = tmp_path / "r.jsonl"
    with BatchServer(reply_model="gpt-4o-2024-08-06") as server:
        stats, report = run(batch_settings(server, tmp_path, model="prod-chat"), problems, out,
                            wait_s=30)
    assert report.merged == 2 and not rows(store.errors_path(out))
    assert stats.models["answered"] == {"gpt-4o-2024-08-06": 2}
