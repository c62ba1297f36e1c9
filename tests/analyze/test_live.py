"""Live grading while collecting and --target-halfwidth (issue 27), through the real CLI against
the stub server over a real socket: the run stops before the last problem once the interval is
narrow enough, says why, and a smaller target extends the same file."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from stub_server import StubServer

from collection_support import REPO, manifest
from collectkit.analyze.sequences import confidence_sequence, interval_name
from collectkit.analyze import live as live_module
from collectkit.collect.run import run_collection
from collectkit.collect.settings import Settings
from collectkit.grade.grading import grade_rows
from collectkit.tasks.load import load_problems

PROBLEMS = 400


def run_cli(server: StubServer, out: Path, *args: str, dataset: str = "mmlu_pro",
            problems: int = PROBLEMS) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "collectkit", "run", "--model", server.model,
               "--api-base", server.base_url, "--dataset", dataset, "--num-problems",
               str(problems), "--k-responses", "2", "--max-tokens", "16", "--batch-size", "8",
               "--max-retries", "0", "--output-file", str(out), "--quiet", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def slow_stub():
    """~8 problems per 20 ms: fast, but not faster than grading keeps up with."""
    with StubServer(completion_tokens=8, delay=0.02) as server:
        yield server


def test_a_target_stops_the_run_early_says_why_and_a_smaller_one_extends_the_file(
        slow_stub, tmp_path):
    out = tmp_path / "r.jsonl"
    first = run_cli(slow_stub, out, "--target-halfwidth", "0.15")
    assert first.returncode == 0, first.stderr
    collected = rows(out)
    assert 0 < len(collected) < PROBLEMS  # stopped before the last problem
    recorded = manifest(out)
    assert recorded["status"] == "finished"
    assert recorded["reason"].startswith("target_halfwidth reached"), recorded["reason"]
    live = recorded["runs"][-1]["live"]
    figures = live["benchmarks"]["mmlu_pro"]
    assert live["interval"] == interval_name() and live["target_halfwidth"] == 0.15
    assert figures["halfwidth"] < 0.15 and figures["high"] - figures["low"] < 0.3
    assert recorded["runs"][-1]["not_needed"] == PROBLEMS - len(collected)
    assert "stopped: target_halfwidth 0.15 reached" in first.stdout
    assert (f"mmlu_pro: accuracy {figures['accuracy']:.3f} [{figures['low']:.3f}, "
            f"{figures['high']:.3f}]") in first.stdout
    assert "95% betting confidence sequence, valid under peeking" in first.stdout

    # the problems behind the interval are the first ones of the seeded order, and its numbers
    # are the sequence's over their scores in that order
    order = [p.unique_id for p in load_problems("mmlu_pro", PROBLEMS)]
    used = order[:figures["problems"]]
    assert figures["last_problem"] == used[-1] and not figures["skipped"]
    by_id = {row["unique_id"]: row for row in collected}
    assert set(used) <= set(by_id)
    graded = {row["unique_id"]: row for row in grade_rows([by_id[uid] for uid in used])}
    scores = [sum(r["is_correct"] for r in graded[uid]["responses"]) / 2 for uid in used]
    _, low, high = confidence_sequence(scores)
    assert (round(low[-1], 6), round(high[-1], 6)) == (figures["low"], figures["high"])

    second = run_cli(slow_stub, out, "--target-halfwidth", "0.08")
    assert second.returncode == 0, second.stderr
    extended = rows(out)
    assert len(collected) < len(extended) < PROBLEMS
    assert [row["unique_id"] for row in extended[:len(collected)]] == list(by_id)  # appended
    again = manifest(out)["runs"][-1]["live"]["benchmarks"]["mmlu_pro"]
    assert again["halfwidth"] < 0.08 and again["problems"] > figures["problems"]
    assert again["low"] >= figures["low"] - 1e-9 or again["high"] <= figures["high"] + 1e-9


def test_without_a_target_the_whole_selection_is_collected_and_graded_as_extract_grades(
        tmp_path):
    data = tmp_path / "halves.jsonl"  # answers math-verify must judge (in a worker's main thread)
    problems = [{"unique_id": f"h{i}", "question": f"What is {i}/{2 * i}?",
                 "answer_correct": "\\frac{1}{2}" if i % 3 else "\\frac{1}{3}"}
                for i in range(1, 13)]
    data.write_text("".join(json.dumps(p) + "\n" for p in problems))
    out = tmp_path / "h.jsonl"
    with StubServer(completion_tokens=4, answer_text="So \\boxed{0.5}") as server:
        done = run_cli(server, out, dataset=str(data), problems=12)
    assert done.returncode == 0, done.stderr
    assert len(rows(out)) == 12
    figures = manifest(out)["runs"][-1]["live"]["benchmarks"]["halves"]
    assert figures["problems"] == 12 and figures["accuracy"] == pytest.approx(8 / 12)
    extract = subprocess.run([sys.executable, "-m", "collectkit", "extract", "--input", str(out)],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    assert extract.returncode == 0, extract.stderr
    summary = json.loads(out.with_name("h.summary.json").read_text())
    extracted = summary["by_dataset"]["halves"]
    assert extracted["accuracy"] == pytest.approx(figures["accuracy"], abs=1e-6)
    assert extracted["unparsed_rate"] == figures["unparsed"] == 0.0
    assert "stopped:" not in done.stdout
    assert "halves: accuracy 0.667" in done.stdout


def test_no_live_grading_and_its_conflicts(slow_stub, tmp_path):
    out = tmp_path / "n.jsonl"
    plain = run_cli(slow_stub, out, "--no-live-grading", problems=6)
    assert plain.returncode == 0, plain.stderr
    assert manifest(out)["runs"][-1]["live"] is None and "accuracy" not in plain.stdout
    both = run_cli(slow_stub, out, "--no-live-grading", "--target-halfwidth", "0.1")
    assert both.returncode == 2 and both.stderr.count("\n") == 1
    assert "target_halfwidth needs live grading" in both.stderr
    batch = run_cli(slow_stub, tmp_path / "b.jsonl", "--batch", "--target-halfwidth", "0.1")
    assert batch.returncode == 2 and "drop --batch or them" in batch.stderr
    for bad in ("0.5", "-0.1", "nan"):
        refused = run_cli(slow_stub, out, "--target-halfwidth", bad)
        assert refused.returncode == 2 and "invalid value for target_halfwidth" in refused.stderr


def test_the_bar_and_the_periodic_line_show_each_benchmarks_figures(
        slow_stub, tmp_path, capsys, caplog, monkeypatch):
    monkeypatch.setattr(live_module, "LOG_INTERVAL_S", 0.0)
    settings = Settings(model=slow_stub.model, api_base=slow_stub.base_url,
                        output_dir=str(tmp_path), k_responses=2, max_tokens=16, max_retries=0,
                        batch_size=4, target_halfwidth=0.3)
    with caplog.at_level(logging.INFO, logger=live_module.LIVE_LOGGER):
        stats = run_collection(settings, load_problems("both", 1000), progress=True,
                               output_path=tmp_path / "both.jsonl",
                               live=live_module.LiveGrader())
    assert stats.target_reached and stats.done < 1000
    logged = [r.getMessage() for r in caplog.records if r.name == live_module.LIVE_LOGGER]
    assert any("math500 accuracy" in line and "mmlu_pro accuracy" in line for line in logged)
    bar = capsys.readouterr().err
    assert "math500=0.000±" in bar and "mmlu_pro=" in bar and "unp 0%" in bar
    assert set(stats.live["benchmarks"]) == {"math500", "mmlu_pro"}
    assert all(b["halfwidth"] < 0.3 for b in stats.live["benchmarks"].values())


def test_with_a_target_collection_waits_for_grading_that_falls_behind(tmp_path):
    """The stub at full speed outruns math-verify on MATH-500 (~6 ms a problem): without the
    wait the whole selection was collected before the first grades came back."""
    out = tmp_path / "m.jsonl"
    with StubServer(completion_tokens=8) as server:
        done = run_cli(server, out, "--target-halfwidth", "0.05", dataset="math500",
                       problems=500)
    assert done.returncode == 0, done.stderr
    figures = manifest(out)["runs"][-1]["live"]["benchmarks"]["math500"]
    assert figures["halfwidth"] < 0.05 and len(rows(out)) < 500


def test_compare_with_collects_the_same_problems_until_the_difference_is_settled(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with StubServer(completion_tokens=8, delay=0.02) as server:  # (A): right on ~1 in 10
        assert run_cli(server, first, problems=500).returncode == 0
    with StubServer(completion_tokens=8, delay=0.02, answer_text="no idea") as server:
        done = run_cli(server, second, "--compare-with", str(first), "--target-difference",
                       "0.02", problems=600)  # asks for more problems than the first run has
    assert done.returncode == 0, done.stderr
    recorded = manifest(second)
    assert recorded["reason"].startswith("target_difference reached"), recorded["reason"]
    figures = recorded["runs"][-1]["live"]["benchmarks"]["mmlu_pro"]
    difference = figures["difference"]
    assert difference["high"] < 0 < difference["high"] - difference["low"]  # settled: worse
    assert figures["selection"] == 500 and len(rows(second)) < 500  # the first run's problems
    assert {r["unique_id"] for r in rows(second)} <= {r["unique_id"] for r in rows(first)}
    assert f"mmlu_pro: difference to {first} {difference['mean']:+.3f}" in done.stdout
    assert "target_difference 0.02 reached (every difference interval excludes 0" in done.stdout
    lone = run_cli(server, tmp_path / "c.jsonl", "--target-difference", "0.02")
    assert lone.returncode == 2 and "target_difference needs compare_with" in lone.stderr
