"""`python -m collectkit.answer_extraction` end to end on small results files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collectkit.cli.extract import grade_file, main

REPO = Path(__file__).resolve().parents[2]


def response(text, finish_reason="stop"):
    return {"full_response": text, "finish_reason": finish_reason, "reasoning_content": None,
            "usage": {"prompt_tokens": 50, "completion_tokens": 20}}


MATH_ROW = {
    "unique_id": "test/algebra/1.json", "dataset": "math500", "problem": "2+3?", "is_mcq": False,
    "choices": None, "choice_index_correct": None, "explanation_correct": "2+3=5",
    "answer_correct": "5", "category": "Algebra", "level": 1, "subject": "Algebra",
    "responses": [response(r"So \boxed{5}."), response(r"\boxed{6}"),
                  response("Let me think about", "length")],
    "attempts": 1, "status": "ok", "model": "tiny",
}
MCQ_ROW = {
    "unique_id": "mmlu_pro/70", "dataset": "mmlu_pro", "problem": "Pick one.", "is_mcq": True,
    "choices": ["w", "x", "y", "z"], "choice_index_correct": 2, "explanation_correct": "",
    "answer_correct": "C", "category": "law", "level": None, "subject": None,
    "responses": [response("The answer is (C). No wait, the answer is (A)."),
                  response("The answer is (C)."), response("No idea.")],
    "attempts": 1, "status": "ok", "model": "tiny",
}


def write_results(path: Path, rows=(MATH_ROW, MCQ_ROW)) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_file_input_writes_processed_and_summary_beside_it(tmp_path, capsys):
    results = write_results(tmp_path / "tiny_MATH_500_MMLU_Pro.jsonl")
    assert main(["-i", str(results), "--by-category", "--by-level"]) == 0
    processed = read_jsonl(tmp_path / "tiny_MATH_500_MMLU_Pro.processed.jsonl")
    math_row, mcq_row = processed
    assert [r["extracted_answer"] for r in math_row["responses"]] == ["5", "6", None]
    assert [r["is_correct"] for r in math_row["responses"]] == [True, False, False]
    assert [r["extracted_answer"] for r in mcq_row["responses"]] == ["C", "C", None]
    assert [r["is_correct"] for r in mcq_row["responses"]] == [True, True, False]
    assert math_row["problem"] == "2+3?" and math_row["responses"][0]["usage"]  # rows kept whole
    summary = json.loads((tmp_path / "tiny_MATH_500_MMLU_Pro.summary.json").read_text())
    assert summary["by_dataset"]["math500"]["accuracy"] == pytest.approx(1 / 3)
    assert summary["by_dataset"]["mmlu_pro"]["pass@k"] == 1.0
    assert summary["by_dataset"]["math500"]["unparsed_rate"] == pytest.approx(1 / 3)
    assert summary["by_category"]["mmlu_pro"]["law"]["n_responses"] == 3
    assert summary["by_level"]["math500"]["1"]["n_problems"] == 1
    printed = capsys.readouterr().out
    assert "math500" in printed and "mmlu_pro" in printed
    assert "Algebra" in printed and "law" in printed  # --by-category table


def test_match_last(tmp_path):
    results = write_results(tmp_path / "r.jsonl", [MCQ_ROW])
    assert main(["-i", str(results), "--match", "last"]) == 0
    mcq_row = read_jsonl(tmp_path / "r.processed.jsonl")[0]
    assert [r["extracted_answer"] for r in mcq_row["responses"]] == ["A", "C", None]
    assert json.loads((tmp_path / "r.summary.json").read_text())["match"] == "last"


def test_directory_input_skips_outputs_and_error_logs(tmp_path):
    write_results(tmp_path / "a.jsonl", [MATH_ROW])
    write_results(tmp_path / "b.jsonl", [MCQ_ROW])
    (tmp_path / "a.errors.jsonl").write_text('{"unique_id": "x", "error": "boom"}\n')
    out = tmp_path / "out"
    assert main(["-i", str(tmp_path), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a.processed.jsonl", "a.summary.json", "b.processed.jsonl", "b.summary.json"]
    assert main(["-i", str(out)]) == 2  # outputs alone are no results files
    # runs beside the inputs never treat a.processed.jsonl as a results file
    assert main(["-i", str(tmp_path)]) == 0
    assert main(["-i", str(tmp_path)]) == 0
    assert not (tmp_path / "a.processed.processed.jsonl").exists()
    assert (tmp_path / "b.summary.json").exists()


def test_output_file_name(tmp_path):
    results = write_results(tmp_path / "r.jsonl")
    target = tmp_path / "graded" / "mine.processed.jsonl"
    assert main(["-i", str(results), "-o", str(target)]) == 0
    assert len(read_jsonl(target)) == 2
    assert (tmp_path / "graded" / "mine.summary.json").exists()


def test_malformed_line_fails_without_overwriting(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps(MATH_ROW) + "\n{not json\n", encoding="utf-8")
    previous = tmp_path / "r.processed.jsonl"
    previous.write_text("earlier output\n")
    assert main(["-i", str(results)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(results) in error and "line 2" in error
    assert previous.read_text() == "earlier output\n"
    assert not (tmp_path / "r.summary.json").exists()


def test_bad_file_in_a_directory_stops_every_output(tmp_path, capsys):
    write_results(tmp_path / "a.jsonl", [MATH_ROW])
    (tmp_path / "b.jsonl").write_text(json.dumps({"unique_id": "q"}) + "\n")
    assert main(["-i", str(tmp_path)]) == 2
    assert "b.jsonl line 1" in capsys.readouterr().err
    assert not (tmp_path / "a.processed.jsonl").exists()


def test_refuses_to_overwrite_the_input(tmp_path, capsys):
    results = write_results(tmp_path / "r.jsonl")
    before = results.read_text()
    assert main(["-i", str(results), "-o", str(results)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert results.read_text() == before


def test_missing_input(tmp_path, capsys):
    assert main(["-i", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_grade_file(tmp_path):
    rows = grade_file(write_results(tmp_path / "r.jsonl"))
    assert [r["is_correct"] for r in rows[0]["responses"]] == [True, False, False]


def test_module_entry_point_never_loads_a_client(tmp_path):
    results = write_results(tmp_path / "r.jsonl")
    script = ("import sys; from collectkit.answer_extraction import main; "
              f"code = main(['-i', {str(results)!r}, '--workers', '1']); "
              "clients = ('openai', 'collectkit.collect.client'); "
              "print('LOADED', sorted(m for m in clients if m in sys.modules)); "
              "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1, 2]\n")
    done = subprocess.run([sys.executable, "-m", "collectkit.answer_extraction", "-i", str(bad)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip() == f"error: {bad} line 1: expected a JSON object"
