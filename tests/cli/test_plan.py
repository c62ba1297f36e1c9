"""collectkit plan and run --dry_run with a target (issue 27.5): problems × k to reach a
half-width, from a stated accuracy or a pilot run, checked against simulation and a real stop."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from stub_server import StubServer

from collection_support import REPO
from collectkit.analyze.planning import plan_problems, problems_for


def plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collectkit", "plan", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def median_problems(text: str, benchmark: str) -> int:
    found = re.search(rf"^{benchmark}: about ([\d,]+) problems", text, re.MULTILINE)
    assert found, text
    return int(found.group(1).replace(",", ""))


def test_a_stated_accuracy_gives_problems_responses_and_the_cost_line():
    done = plan("--target-halfwidth", "0.05", "--accuracy", "0.1", "--dataset", "mmlu_pro",
                "--k-responses", "4", "--model", "gpt-4o-mini")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "plan for ±0.05 (95% betting confidence sequence, valid under peeking):"
    needed = median_problems(done.stdout, "mmlu_pro")
    assert 50 < needed < 1000 and f"k=4 = {needed * 4:,} responses" in lines[1]
    assert lines[2].startswith("dry run: ") and "(prices of gpt-4o-mini)" in lines[2]
    assert "90% of the simulated runs stop by then" in lines[2]


def test_a_harder_middle_needs_more_problems_and_an_unreachable_target_says_so():
    easy = plan_problems("b", 0.05, 4, 5000, accuracy=0.1, runs=40)
    middle = plan_problems("b", 0.05, 4, 5000, accuracy=0.5, runs=40)
    assert easy.median < middle.median <= middle.likely
    short = plan_problems("b", 0.02, 4, 200, accuracy=0.5, runs=20)
    assert short.reached == 0 and "by only 0%" in short.line()
    with pytest.raises(ValueError, match="accuracy"):
        plan_problems("b", 0.05, 4, 100)


def test_problems_for_walks_the_interleaved_selection():
    order = ["a", "b", "a", "b", "a", "a"]
    assert problems_for(order, {"a": 2, "b": 1}) == 3
    assert problems_for(order, {"a": 4, "b": 5}) == 6  # b runs out after two


def test_a_pilot_plans_what_a_stopped_run_then_takes(tmp_path):
    """The stub answers (A) everywhere: MMLU-Pro's share of A answers is the accuracy."""
    out = tmp_path / "p.jsonl"
    run = [sys.executable, "-m", "collectkit", "run", "--dataset", "mmlu_pro",
           "--num-problems", "400", "--k-responses", "2", "--max-tokens", "16",
           "--batch-size", "8", "--output-file", str(out), "--quiet"]
    with StubServer(completion_tokens=8, delay=0.02) as server:
        run += ["--model", server.model, "--api-base", server.base_url]
        stopped = subprocess.run(run + ["--target-halfwidth", "0.1"], cwd=REPO,
                                 capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0, stopped.stderr
    manifest = json.loads(out.with_name("p.manifest.json").read_text())
    used = manifest["runs"][-1]["live"]["benchmarks"]["mmlu_pro"]["problems"]
    planned = plan("--target-halfwidth", "0.1", "--pilot", str(out), "--dataset", "mmlu_pro",
                   "--num-problems", "400", "--k-responses", "2")
    assert planned.returncode == 0, planned.stderr
    assert "pass rates of the pilot's" in planned.stdout
    assert used / 2.5 < median_problems(planned.stdout, "mmlu_pro") < used * 2.5
    dry = subprocess.run(run + ["--model", "stub-model", "--dry-run", "--target-halfwidth",
                                "0.05"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("dry run: ") and "plan for ±0.05" in dry.stdout


def test_plan_errors_are_one_line():
    for args, says in ((("--target-halfwidth", "0.1"), "one of the arguments"),
                       (("--target-halfwidth", "0.7", "--accuracy", "0.5"), "(0, 0.5)"),
                       (("--target-halfwidth", "0.1", "--pilot", "nowhere.jsonl"), "nowhere")):
        done = plan(*args)
        assert done.returncode == 2 and says in done.stderr
        assert done.stderr.strip().count("\n") == 0, done.stderr
