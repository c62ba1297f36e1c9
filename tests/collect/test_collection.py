"""Collection against the fault-injecting stub server over real sockets, and the real engine."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collectkit.store import append as store
from collectkit.collect.settings import Settings
from collectkit.collect.run import CollectionError, run_collection
from collectkit.tasks.load import load_problems
from collectkit.collect.manifest import ConfigMismatch
from collection_support import REPO, SECRET, lines, stub_settings, wait_for_lines
from stub_server import StubServer


@pytest.fixture
def stub():
    with StubServer(completion_tokens=16) as server:
        yield server


def results_path(tmp_path: Path) -> Path:
    return tmp_path / "results.jsonl"


def test_collects_k_responses_in_one_request_each(stub, tmp_path):
    settings = stub_settings(stub, tmp_path)
    stats = run_collection(settings, load_problems("both", 10), output_path=results_path(tmp_path),
                           progress=False)
    rows = lines(results_path(tmp_path))
    assert stats.done == 10 and stats.failed == 0
    assert sorted(r["unique_id"] for r in rows) == sorted(p.unique_id for p in
                                                         load_problems("both", 10))
    assert all(len(r["responses"]) == 3 and r["attempts"] == 1 for r in rows)
    assert {r["dataset"] for r in rows} == {"math500", "mmlu_pro"}
    assert all(resp["full_response"].endswith(r"\boxed{42}") for r in rows
               for resp in r["responses"])
    assert stub.stats()["n_values"] == {"3": 10} or set(stub.stats()["n_values"]) == {"3"}
    manifest = json.loads(store.manifest_path(results_path(tmp_path)).read_text())
    assert manifest["status"] == "finished" and manifest["totals"]["done"] == 10
    assert manifest["signature"]["k_responses"] == 3


def test_api_key_never_reaches_files(stub, tmp_path):
    settings = stub_settings(stub, tmp_path)
    run_collection(settings, load_problems("both", 2), output_path=results_path(tmp_path),
                   progress=False)
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text(), path
    assert SECRET not in repr(settings)


def test_rejected_n_falls_back_to_separate_requests_with_distinct_seeds(stub, tmp_path):
    stub.set_mode("reject_n")
    settings = stub_settings(stub, tmp_path, seed=7, batch_size=1)
    stats = run_collection(settings, load_problems("both", 3), output_path=results_path(tmp_path),
                           progress=False)
    rows = lines(results_path(tmp_path))
    assert stats.done == 3 and stats.n_per_request is False
    assert all(len(r["responses"]) == 3 for r in rows)
    seen = stub.stats()
    assert {int(s) for s in seen["seeds"]} >= {7, 8, 9}
    # Only the first problem tried n=3; after that the run remembered.
    n3 = dict(seen["n_values"]).get("3", 0)
    assert n3 == 1, seen["n_values"]
    assert all(len({resp["full_response"] for resp in r["responses"]}) == 3 for r in rows)


def test_fewer_choices_than_n_are_topped_up(stub, tmp_path):
    stub.set_faults([{"kind": "few_choices"}])
    settings = stub_settings(stub, tmp_path, batch_size=1)
    run_collection(settings, load_problems("math500", 2), output_path=results_path(tmp_path),
                   progress=False)
    assert all(len(r["responses"]) == 3 for r in lines(results_path(tmp_path)))


def test_429_with_retry_after_is_retried_by_the_sdk(stub, tmp_path):
    stub.set_faults([{"kind": "429", "retry_after": 0.2}, {"kind": "503"}])
    settings = stub_settings(stub, tmp_path, max_retries=2, batch_size=1)
    stats = run_collection(settings, load_problems("both", 2), output_path=results_path(tmp_path),
                           progress=False)
    assert stats.done == 2 and stats.failed == 0
    counts = stub.stats()["status_counts"]
    assert counts.get("429") == 1 and counts.get("503") == 1
    assert all(r["attempts"] == 1 for r in lines(results_path(tmp_path)))


def test_server_errors_count_attempts_until_the_budget(stub, tmp_path):
    stub.set_mode("500")
    settings = stub_settings(stub, tmp_path, max_attempts=2)
    problems = load_problems("both", 4)
    out = results_path(tmp_path)
    first = run_collection(settings, problems, output_path=out, progress=False)
    # Within the run, the failed problems were tried again in a second round.
    assert (first.failed, first.rounds, first.unfinished) == (8, 2, 4)
    again = run_collection(settings, problems, output_path=out, progress=False)
    assert (again.planned, again.skipped_exhausted, again.unfinished) == (0, 4, 4)
    errors = lines(store.errors_path(out))
    assert len(errors) == 8 and all(e["counted"] for e in errors)
    assert sorted({e["attempt"] for e in errors}) == [1, 2]
    assert "500" in errors[0]["error"]
    assert out.read_text() == ""
    # A larger budget lets them through, with their attempts counted.
    stub.set_mode("ok")
    fourth = run_collection(settings.replace(max_attempts=3), problems, output_path=out,
                            progress=False)
    assert fourth.done == 4 and all(r["attempts"] == 3 for r in lines(out))


def test_retry_failed_only_retries_failed_problems(stub, tmp_path):
    out = results_path(tmp_path)
    problems = load_problems("both", 6)
    # A 400 on n=3 makes the client try 3 separate requests; all four fail.
    stub.set_faults([{"kind": "400", "message": "bad"}] * 4)
    settings = stub_settings(stub, tmp_path, batch_size=1, max_attempts=1)
    run_collection(settings, problems[:3], output_path=out, progress=False)
    settings = settings.replace(max_attempts=2)
    assert len(lines(out)) == 2
    stats = run_collection(settings, problems, output_path=out, retry_failed=True, progress=False)
    assert stats.planned == 1 and stats.done == 1
    rows = lines(out)
    assert len(rows) == 3 and max(r["attempts"] for r in rows) == 2


def test_unreachable_attempts_are_not_counted(stub, tmp_path):
    stub.set_mode({"kind": "reset"})
    out = results_path(tmp_path)
    settings = stub_settings(stub, tmp_path, request_timeout=0.5, max_attempts=1)
    problems = load_problems("both", 3)
    stats = run_collection(settings, problems, output_path=out, progress=False)
    assert stats.failed == 3 and stats.unreachable == 3
    assert not any(e["counted"] for e in lines(store.errors_path(out)))
    stub.set_mode("ok")
    again = run_collection(settings, problems, output_path=out, progress=False)
    assert again.done == 3 and all(r["attempts"] == 1 for r in lines(out))


def test_no_server_gives_the_command_to_start_one(tmp_path):
    settings = Settings(server_port=9, output_dir=str(tmp_path))
    with pytest.raises(CollectionError, match="python -m collectkit.serve_llm"):
        run_collection(settings, load_problems("both", 2), progress=False)
    cli = subprocess.run([sys.executable, "-m", "collectkit.run_inference", "--server_port", "9",
                          "--output_dir", str(tmp_path), "--num_problems", "2"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 2
    assert cli.stderr.strip().count("\n") == 0 and "serve_llm" in cli.stderr
    assert not list(tmp_path.glob("*.jsonl"))
    elsewhere = subprocess.run([sys.executable, "-m", "collectkit.run_inference", "--api_base",
                                "http://127.0.0.1:7/v1", "--output_dir", str(tmp_path),
                                "--num_problems", "2"], capture_output=True, text=True,
                               cwd=tmp_path)
    assert elsewhere.returncode == 2 and elsewhere.stderr.strip().endswith("--port 7")


def test_server_going_away_mid_run_consumes_no_attempts(tmp_path):
    out = results_path(tmp_path)
    with StubServer(completion_tokens=8, delay=0.05) as server:
        port = server.port
        settings = stub_settings(server, tmp_path, batch_size=2, max_concurrent=2,
                                 max_attempts=1)
        run = subprocess.Popen(cli_args(settings, out, 40), cwd=REPO, stderr=subprocess.PIPE)
        wait_for_lines(out, 5)
        server.kill()
        run.wait(timeout=60)
    rows, errors = lines(out), lines(store.errors_path(out))
    assert 5 <= len(rows) < 40 and errors and not any(e["counted"] for e in errors)
    with StubServer(completion_tokens=8, port=port):
        finished = subprocess.run(cli_args(settings, out, 40), cwd=REPO, capture_output=True)
    assert finished.returncode == 0, finished.stderr
    rows = lines(out)
    assert len(rows) == 40 and len({r["unique_id"] for r in rows}) == 40
    assert all(r["attempts"] == 1 for r in rows)


def test_sigkill_mid_run_then_rerun_gives_every_problem_once(tmp_path):
    out = results_path(tmp_path)
    with StubServer(completion_tokens=8, delay=0.02) as server:
        settings = stub_settings(server, tmp_path, k_responses=4, batch_size=16,
                                 max_concurrent=16)
        run = subprocess.Popen(cli_args(settings, out, 300), cwd=REPO)
        wait_for_lines(out, 60)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        with open(out, "a") as handle:  # what a kill mid-write leaves behind
            handle.write('{"unique_id": "torn')
        interrupted = len(out.read_text().splitlines())
        assert 60 <= interrupted - 1 < 300
        finished = subprocess.run(cli_args(settings, out, 300), cwd=REPO, capture_output=True,
                                  text=True)
    assert finished.returncode == 0, finished.stderr
    rows = lines(out)
    assert len(rows) == 300 and len({r["unique_id"] for r in rows}) == 300
    assert all(len(r["responses"]) == 4 and r["attempts"] == 1 for r in rows)
    assert f"{interrupted - 1} already done" in finished.stdout


def test_changed_sampling_settings_are_refused(stub, tmp_path):
    out = results_path(tmp_path)
    settings = stub_settings(stub, tmp_path)
    run_collection(settings, load_problems("both", 2), output_path=out, progress=False)
    with pytest.raises(ConfigMismatch, match="temperature"):
        run_collection(settings.replace(temperature=0.2), load_problems("both", 3),
                       output_path=out, progress=False)
    stats = run_collection(settings.replace(temperature=0.2), load_problems("both", 3),
                           output_path=out, allow_config_change=True, progress=False)
    assert stats.done == 1 and len(lines(out)) == 3


def test_remote_models_get_only_standard_parameters(stub, tmp_path, caplog):
    settings = stub_settings(stub, tmp_path, api_mode="remote", repetition_penalty=1.1,
                             stop=("a", "b", "c", "d", "e"), batch_size=1)
    with caplog.at_level("WARNING", logger="collectkit"):
        run_collection(settings, load_problems("math500", 1), output_path=results_path(tmp_path),
                       progress=False)
    sent = stub.stats()["last_request"]
    assert "repetition_penalty" not in sent and sent["stop"] == ["a", "b", "c", "d"]
    assert sent["temperature"] == 0.7 and sent["max_tokens"] == 64 and sent["n"] == 3
    assert "repetition_penalty" in caplog.text and "stop[4:]" in caplog.text
    assert caplog.text.count("parameters not sent") == 1


def test_local_models_get_engine_parameters_in_the_body(stub, tmp_path):
    settings = stub_settings(stub, tmp_path, repetition_penalty=1.1, batch_size=1)
    run_collection(settings, load_problems("math500", 1), output_path=results_path(tmp_path),
                   progress=False)
    sent = stub.stats()["last_request"]
    assert sent["repetition_penalty"] == 1.1 and sent["stop"] == ["<end_of_turn>", "<|im_end|>"]


def test_reasoning_content_is_kept_apart(tmp_path):
    with StubServer(completion_tokens=8, extra_args=("--reasoning",)) as server:
        settings = stub_settings(server, tmp_path, k_responses=2)
        run_collection(settings, load_problems("math500", 1), output_path=results_path(tmp_path),
                       progress=False)
    response = lines(results_path(tmp_path))[0]["responses"][0]
    assert response["reasoning_content"] and response["reasoning_content"] not in \
        response["full_response"]


def test_real_engine_collects_k_responses(embedded_server, tmp_path):
    settings = Settings(model=embedded_server.model_id, api_base=embedded_server.base_url,
                        output_dir=str(tmp_path), k_responses=2, max_tokens=24, batch_size=4)
    stats = run_collection(settings, load_problems("both", 3), progress=False)
    rows = lines(Path(stats.output_path))
    assert stats.done == 3 and len(rows) == 3
    assert all(len(r["responses"]) == 2 and r["responses"][0]["full_response"].strip()
               for r in rows)
    assert all(resp["finish_reason"] in ("stop", "length") for r in rows for resp in r["responses"])


def cli_args(settings: Settings, out: Path, num_problems: int) -> list[str]:
    return [sys.executable, "-m", "collectkit.run_inference", "--model", settings.model,
            "--api_base", settings.base_url, "--output_file", str(out), "--quiet",
            "--num_problems", str(num_problems), "--k_responses", str(settings.k_responses),
            "--max_tokens", str(settings.max_tokens), "--batch_size", str(settings.batch_size),
            "--max_concurrent", str(settings.max_concurrent), "--max_retries", "0",
            "--max_attempts", str(settings.max_attempts), "--request_timeout", "2"]
