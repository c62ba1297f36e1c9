"""Real processed files for the explorer's tests (tests/test_explore*.py, tests/browser).

`labeled_runs` turns the real labeled model outputs in tests/data into two results files over the
bundled problems — ZeroEval's MATH-500 responses (json_answer protocol, 8 models per problem: the
first 4 are run "a", the next 4 run "b") and MMLU-Pro responses of two models per question — and
grades them with the real `answer_extraction` CLI. `stub_run` collects a run through the fault stub
server with the real `run_inference` CLI: a 500 on its first request (that problem's attempts
become 2) and `max_tokens` below the stub's length (every response cut off), then grades it.
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from collectkit.tasks.load import load_problems

DATA = Path(__file__).resolve().parent / "data"
REPO = DATA.parents[1]


def _labeled(name: str) -> list[dict]:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def grade(results: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "collectkit.answer_extraction", "-i",
                           str(results)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return results.with_name(results.name.removesuffix(".jsonl") + ".processed.jsonl")


def labeled_runs(folder: Path) -> tuple[Path, Path]:
    """Two processed runs ("a", "b") of real responses over the same 21 MATH-500 and 120
    MMLU-Pro problems."""
    math = {p.unique_id: p for p in load_problems("math500")}
    mmlu = {p.unique_id: p for p in load_problems("mmlu_pro")}
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for item in _labeled("math_labeled.jsonl.gz"):
        if item["unique_id"] in math:
            by_problem[item["unique_id"]].append(item)
    for item in _labeled("mmlu_pro_labeled.jsonl.gz"):
        uid = f"mmlu_pro/{item['question_id']}"
        if uid in mmlu:
            by_problem[uid].append(item)
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    mmlu_kept = 0
    for uid, items in by_problem.items():
        is_math = uid in math
        k = 4 if is_math else 1
        if len(items) < 2 * k or (not is_math and mmlu_kept == 120):
            continue
        mmlu_kept += not is_math
        problem = math.get(uid) or mmlu[uid]
        for run, part in (("a", items[:k]), ("b", items[k:2 * k])):
            responses = [{"full_response": item["response"], "finish_reason": "stop",
                          "reasoning_content": None, "model": item["model"],
                          "usage": {"prompt_tokens": 100,
                                    "completion_tokens": len(item["response"].split())}}
                         for item in part]
            runs[run].append({**problem.record(), "responses": responses, "attempts": 1,
                              "model": "labeled-" + run, "status": "ok",
                              "protocol": "json_answer" if is_math else "mmlu_pro_official"})
    paths = []
    for run, rows in runs.items():
        results = folder / f"{run}.jsonl"
        results.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        paths.append(grade(results))
    return paths[0], paths[1]


def stub_run(folder: Path, problems: int = 4) -> Path:
    """A processed run collected from the fault stub: one retried problem, every response cut."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stub_server import StubServer

    import urllib.request

    with StubServer(completion_tokens=64) as server:
        request = urllib.request.Request(
            server.root_url + "/control/faults", method="POST",
            data=json.dumps({"faults": [{"kind": "500"}]}).encode(),
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()
        done = subprocess.run(
            [sys.executable, "-m", "collectkit.run_inference", "--model", server.model,
             "--api_base", server.base_url, "--num_problems", str(problems), "--k_responses", "2",
             "--max_tokens", "16", "--max_retries", "0", "--request_timeout", "5",
             "--retry_backoff_s", "0.05", "--max_concurrent", "1", "--quiet",
             "--output_dir", str(folder)],
            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = next(p for p in folder.glob("*.jsonl") if not p.name.endswith(".errors.jsonl"))
    return grade(results)
