"""`collectkit extract` grades a row at a time (grade/stream.py): the same processed file and summary,
byte for byte, as reading every row and grading them together (grade_rows + write_graded), and a
peak memory that does not grow with the file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collectkit.cli.extract import main
from collectkit.grade.grading import grade_rows
from collectkit.analyze.summary import write_graded
from collectkit.store.results import read_results

REPO = Path(__file__).resolve().parents[2]


def response(text: str, finish_reason: str = "stop", usage: bool = True) -> dict:
    return {"full_response": text, "finish_reason": finish_reason, "reasoning_content": None,
            "usage": {"prompt_tokens": 50, "completion_tokens": 20} if usage else None,
            "model": "tiny", "system_fingerprint": None}


def math_row(uid: str, gold: str, texts: list[str], **extra) -> dict:
    return {"unique_id": uid, "dataset": "math500", "problem": f"what is {gold}?",
            "is_mcq": False, "choices": None, "choice_index_correct": None,
            "explanation_correct": "", "answer_correct": gold, "category": "Algebra", "level": 2,
            "subject": "Algebra", "responses": [response(t) for t in texts], "attempts": 1,
            "model": "tiny", "status": "ok", **extra}


def mcq_row(uid: str, texts: list[str]) -> dict:
    return {"unique_id": uid, "dataset": "mmlu_pro", "problem": "Pick one.", "is_mcq": True,
            "choices": ["w", "x", "y", "z"], "choice_index_correct": 2, "explanation_correct": "",
            "answer_correct": "C", "category": "law", "level": None, "subject": None,
            "responses": [response(t, usage=False) for t in texts], "attempts": 1,
            "model": "tiny", "status": "ok"}


ROWS = [
    math_row("m/1", r"\frac{1}{2}", [r"so \boxed{0.5}", r"\boxed{\frac12}", r"\boxed{2}",
                                      r"\boxed{4/2}", "no answer – ünïcödé ✓"]),
    mcq_row("p/1", ["The answer is (C).", "the answer is (A)", "The answer is (B)", "hm"]),
    math_row("m/2", "3", ["first try \\boxed{7}"]),  # replaced by the later row of m/2
    math_row("m/3", "x^2", [r"\boxed{x^{2}}", r"\boxed{x \cdot x}", "cut off", r"\boxed{y}"]),
    math_row("m/2", "3", [r"\boxed{3}", r"\boxed{3.0}", r"\boxed{three}"]),
]


def test_streamed_extract_writes_what_grading_all_rows_at_once_writes(tmp_path, capsys):
    results = tmp_path / "run.jsonl"
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ROWS)
    results.write_text(text + '{"unique_id": "m/9", "respo', encoding="utf-8")  # torn last line
    old = tmp_path / "old"
    old.mkdir()
    summary = write_graded(results, grade_rows(read_results(results), workers=1),
                           old / "run.processed.jsonl", old / "run.summary.json", "first")

    assert main(["-i", str(results), "--workers", "1"]) == 0
    assert "skipped 1 incomplete last line" in capsys.readouterr().err
    processed = (tmp_path / "run.processed.jsonl").read_bytes()
    assert processed == (old / "run.processed.jsonl").read_bytes()
    assert json.loads((tmp_path / "run.summary.json").read_text()) == summary
    rows = [json.loads(line) for line in processed.splitlines()]
    assert [row["unique_id"] for row in rows] == ["m/1", "p/1", "m/3", "m/2"]  # later row wins
    assert [r["is_correct"] for r in rows[0]["responses"]] == [True, True, False, False, False]
    assert rows[0]["responses"][0]["answer_group"] == rows[0]["responses"][1]["answer_group"]


def test_a_bad_line_in_a_later_input_writes_nothing(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps(ROWS[1]) + "\nnot json\n" + json.dumps(ROWS[3])
                                      + "\n")
    assert main(["-i", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path / 'b.jsonl'} line 2: malformed "
                                               "JSON (Expecting value: line 1 column 1 (char 0))")
    assert not list(tmp_path.glob("*.processed.jsonl"))


def write_large(path: Path, problems: int, kb: int) -> int:
    filler = "tok " * (kb * 256)
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(problems):
            handle.write(json.dumps(math_row(f"m/{number}", str(number % 7), [
                f"{filler} \\boxed{{{(number + i) % 7}}}" for i in range(4)])) + "\n")
    return path.stat().st_size


def peak_rss_mb(results: Path) -> float:
    process = subprocess.Popen([sys.executable, "-m", "collectkit", "extract", "-i", str(results),
                                "--workers", "1"], cwd=results.parent,
                               env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, process.stderr.read()
    process.stderr.close()
    return usage.ru_maxrss / 1024


@pytest.mark.slow
def test_extract_memory_does_not_grow_with_the_file(tmp_path):
    small = write_large(tmp_path / "small.jsonl", 40, 4) / 1e6  # 0.7 MB
    large = write_large(tmp_path / "large.jsonl", 160, 64) / 1e6  # 42 MB
    base, peak = peak_rss_mb(tmp_path / "small.jsonl"), peak_rss_mb(tmp_path / "large.jsonl")
    # reading every row at once took about 5 × the file (~200 MB more here); a row at a time,
    # a few rows' worth and the per-response records
    assert peak - base < 0.5 * (large - small), (base, peak, large)
