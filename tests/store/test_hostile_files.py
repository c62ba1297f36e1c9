"""Hostile bytes and odd files (issue 18), through the real CLIs: linear extraction, bounded
grading, no worker outliving a killed `answer_extraction`, hand-edited rows, symlinks, names too
long, and batch output with bad lines or any terminal status."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from collectkit.store import append as store
from collectkit.cli.extract import main as extraction_main
from collectkit.tasks.extraction import extract_math_answer
from collectkit.cli.run import main as run_main
from batch_server import BatchServer
from collection_support import SECRET, lines, one_line_error, run_cli
from stub_server import StubServer


@pytest.fixture(scope="module")
def stub():
    with StubServer(completion_tokens=8) as server:
        yield server


def math_row(unique_id: str, texts: list[str], gold: str = "1") -> dict:
    return {"unique_id": unique_id, "dataset": "math500", "problem": "?", "is_mcq": False,
            "choices": None, "choice_index_correct": None, "explanation_correct": "",
            "answer_correct": gold, "category": "Algebra", "level": 1, "subject": "Algebra",
            "responses": [{"full_response": t, "finish_reason": "stop"} for t in texts],
            "attempts": 1, "status": "ok", "model": "m"}


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_63_kb_repetition_loop_is_extracted_in_linear_time(tmp_path, capsys):
    loop = "\\boxed{" * 9000  # 63 KB: took ~30 s when each group was scanned to the end
    started = time.perf_counter()
    assert extract_math_answer(loop) is None
    assert extract_math_answer(loop + "7}") == "7"
    assert time.perf_counter() - started < 2  # linear: ~0.1 s; quadratic: tens of seconds
    results = write_rows(tmp_path / "r.jsonl", [math_row("a", [loop, "answer: " * 8000])])
    started = time.perf_counter()
    assert extraction_main(["-i", str(results), "--workers", "1"]) == 0
    assert time.perf_counter() - started < 10


def test_a_response_that_grades_too_long_is_counted_unparsed(tmp_path, capsys):
    slow = "\\boxed{\\prod_{k=1}^{900} (x+k)}"  # math-verify needs far more than 1 s
    results = write_rows(tmp_path / "r.jsonl", [math_row("a", [slow, "\\boxed{1}"])])
    assert extraction_main(["-i", str(results), "--workers", "1", "--timeout", "1"]) == 0
    graded = lines(tmp_path / "r.processed.jsonl")[0]["responses"]
    assert graded[0]["extracted_answer"] is None and graded[0]["grading_timeout"] is True
    assert graded[0]["is_correct"] is False and graded[1]["is_correct"] is True
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["grading_timeouts"] == 1 and summary["overall"]["unparsed_rate"] == 0.5
    assert "1 response(s) took longer than --timeout 1 s" in capsys.readouterr().err


@pytest.mark.parametrize("sent", [signal.SIGKILL, signal.SIGTERM])
def test_killing_answer_extraction_leaves_no_worker_alive(tmp_path, sent):
    rows = [math_row(f"p{i}", [f"\\boxed{{\\prod_{{k=1}}^{{{300 + 7 * i + j}}} (x+k)}}"
                               for j in range(4)]) for i in range(40)]
    results = write_rows(tmp_path / "r.jsonl", rows)
    child = subprocess.Popen([sys.executable, "-m", "collectkit.answer_extraction", "-i",
                              str(results), "--workers", "2", "--timeout", "5"], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(child.pid)
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = parent.children(recursive=True)
        time.sleep(0.05)
    assert len(workers) >= 2, "the pool's workers never started"
    time.sleep(0.5)  # the workers are busy grading
    os.kill(child.pid, sent)
    child.wait(10)
    _, alive = psutil.wait_procs(workers, timeout=10)
    running = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    for leftover in alive:  # never leak them, even when the test fails
        leftover.kill()
    assert not running, running


def test_a_row_with_fewer_than_k_responses_is_not_done_on_resume(stub, tmp_path):
    out = tmp_path / "r.jsonl"
    assert run_cli(stub, "--output_file", str(out), cwd=tmp_path).returncode == 0
    rows = lines(out)
    rows[1]["responses"] = rows[1]["responses"][:2]  # edited by hand; its tail is unchanged
    write_rows(out, rows)
    done = run_cli(stub, "--output_file", str(out), cwd=tmp_path)
    assert done.returncode == 0 and "2 already done" in done.stdout, done.stderr
    assert "has 2 of 3 responses" in done.stderr
    latest = {row["unique_id"]: row for row in lines(out)}
    assert len(lines(out)) == 4 and all(len(r["responses"]) == 3 for r in latest.values())
    assert extraction_main(["-i", str(out)]) == 0  # readers keep the later, whole row
    assert all(len(r["responses"]) == 3 for r in lines(tmp_path / "r.processed.jsonl"))


def test_repair_through_a_symlink_repairs_the_target_and_keeps_link_and_mode(stub, tmp_path):
    target = tmp_path / "store" / "real.jsonl"
    target.parent.mkdir()
    link = tmp_path / "r.jsonl"
    link.symlink_to(target)
    assert run_cli(stub, "--output_file", str(link), problems=4, cwd=tmp_path).returncode == 0
    rows = target.read_bytes().splitlines(keepends=True)
    rows[1] = rows[1][: len(rows[1]) // 2] + rows[2]  # a torn row glued to the next one
    target.write_bytes(b"".join(rows))
    target.chmod(0o640)
    done = run_cli(stub, "--output_file", str(link), "--repair", problems=4, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert len(lines(target)) == 4 and sorted(store.completed_ids(target)) == sorted(
        r["unique_id"] for r in lines(target))
    assert len((tmp_path / "r.corrupt.jsonl").read_bytes().splitlines()) == 1


@pytest.mark.parametrize("length", [300, 240])
def test_a_file_name_too_long_is_one_line_and_exit_2(stub, tmp_path, length):
    name = "x" * (length - len(".jsonl")) + ".jsonl"
    done = run_cli(stub, "--output_file", str(tmp_path / name), cwd=tmp_path)
    assert done.returncode == 2 and "file name too long" in one_line_error(done)
    assert list(tmp_path.iterdir()) == []


def batch_cli(server: BatchServer, tmp_path: Path, *args: str) -> int:
    return run_main(["--model", "gpt-4o-mini", "--api_mode", "remote", "--api_base",
                     server.base_url, "--api_key", SECRET, "--num_problems", "4",
                     "--dataset", "math500", "--k_responses", "2", "--max_retries", "0",
                     "--output_file", str(tmp_path / "b.jsonl"), "--batch", "--batch_wait",
                     "10", "--quiet", *args])


def test_batch_output_with_bad_lines_merges_the_good_ones(tmp_path, capsys):
    with BatchServer(bad_lines=True) as server:
        assert batch_cli(server, tmp_path) == 1  # one problem's line was bad
    out = tmp_path / "b.jsonl"
    assert len(lines(out)) == 3 and all(len(r["responses"]) == 2 for r in lines(out))
    errors = lines(store.errors_path(out))
    assert len(errors) == 1 and errors[0]["counted"]
    assert "batch output line 1" in errors[0]["error"] and "content" in errors[0]["error"]
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("status", ["expired", "cancelled"])
def test_an_expired_or_cancelled_batch_keeps_what_it_finished(tmp_path, status):
    with BatchServer(end_status=status) as server:
        assert batch_cli(server, tmp_path) == 1
    out = tmp_path / "b.jsonl"
    assert len(lines(out)) == 2  # the half it finished
    errors = lines(store.errors_path(out))
    assert len(errors) == 2 and not any(e["counted"] for e in errors)
    assert all(f"{status} before answering it" in e["error"] for e in errors)


def test_a_failed_batch_counts_an_attempt_and_stops_at_max_attempts(tmp_path, capsys):
    with BatchServer(end_status="failed") as server:
        for _ in range(3):
            assert batch_cli(server, tmp_path, "--max_attempts", "2") == 1
        assert server.stats()["batches"] == 2  # not resubmitted once out of attempts
    errors = lines(store.errors_path(tmp_path / "b.jsonl"))
    assert len(errors) == 8 and all(e["counted"] for e in errors)
    assert all("failed (stub: the input file failed validation)" in e["error"] for e in errors)


def test_an_output_name_too_long_for_extraction_is_one_line_and_exit_2(tmp_path, capsys):
    results = write_rows(tmp_path / ("y" * 240 + ".jsonl"), [math_row("a", ["\\boxed{1}"])])
    assert extraction_main(["-i", str(results)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error: cannot write")
    assert "File name too long" in error and sorted(tmp_path.iterdir()) == [results]
