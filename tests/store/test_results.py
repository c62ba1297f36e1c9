"""collectkit.store.results: the one reader of results files, one rule for a torn last line, and no
library module importing a command-line module."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from collectkit.cli import extract as answer_extraction
from collectkit.analyze import compare
from collectkit.workflow import files as notebook_support
from collectkit.analyze import summary
from collectkit.grade import grading
from collectkit.store import results
from collectkit.store import append as store

ROOT = Path(__file__).resolve().parents[2]
# Command-line front-ends only (compare.py, like explore.py, is a library with a main at its end).
CLI_MODULES = {"answer_extraction", "run_inference", "serve_llm", "cli"}


def row(uid: str) -> dict:
    return {"unique_id": uid, "answer_correct": "5", "is_mcq": False, "dataset": "math500",
            "responses": [{"full_response": r"\boxed{5}", "finish_reason": "stop"}]}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def lines(*rows: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_a_torn_last_line_is_skipped_and_counted_by_every_reader(tmp_path):
    path = write(tmp_path / "r.jsonl", lines(row("a"), row("b")) + '{"unique_id": "c", "ans')
    assert [r["unique_id"] for r in results.read_results(path)] == ["a", "b"]
    assert results.read_results_counting(path)[1] == 1
    assert [r["unique_id"] for r in results.load_results(path)] == ["a", "b"]
    assert [r["unique_id"] for r in answer_extraction.read_results(path)] == ["a", "b"]
    runs = compare.load_runs([path])
    assert [r["unique_id"] for r in next(iter(runs.values()))] == ["a", "b"]


def test_a_whole_last_row_without_its_newline_is_kept(tmp_path):
    path = write(tmp_path / "r.jsonl", lines(row("a")) + json.dumps(row("b")))
    assert [r["unique_id"] for r in results.load_results(path)] == ["a", "b"]
    assert results.read_results_counting(path)[1] == 0


def test_a_bad_line_elsewhere_is_one_error_naming_file_and_line(tmp_path):
    path = write(tmp_path / "r.jsonl", lines(row("a")) + "{oops\n" + lines(row("b")))
    with pytest.raises(results.InputError, match=r"r\.jsonl line 2: malformed JSON"):
        results.load_results(path)
    missing = write(tmp_path / "m.jsonl", json.dumps({"unique_id": "x"}) + "\n")
    with pytest.raises(results.InputError, match="line 1: missing field"):
        results.read_results(missing)
    assert issubclass(results.InputError, store.StoreError)  # old catchers still catch it


def test_empty_files_and_repeated_ids(tmp_path):
    empty = write(tmp_path / "e.jsonl", "")
    assert results.load_results(empty) == []  # a run that has not finished a problem yet
    with pytest.raises(results.InputError, match="no results rows"):
        results.read_results(empty)  # nothing to grade: extract says so
    twice = write(tmp_path / "t.jsonl", lines(row("a"), {**row("a"), "answer_correct": "6"}))
    assert [r["answer_correct"] for r in results.load_results(twice)] == ["6"]


def test_the_old_names_are_the_same_objects():
    for name in ("InputError", "read_results", "read_results_counting", "results_files",
                 "output_paths", "PROCESSED_SUFFIX"):
        assert getattr(answer_extraction, name) is getattr(results, name)
    assert answer_extraction.grade_file is grading.grade_file
    assert notebook_support.write_graded is answer_extraction.write_graded is summary.write_graded
    assert not hasattr(store, "load_results")  # one reader, not two


def test_no_library_module_imports_a_command_line_module():
    offenders = []
    for path in (ROOT / "collectkit").rglob("*.py"):
        module = path.relative_to(ROOT / "collectkit").with_suffix("").parts
        if module[0] in CLI_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom):
                base = (node.module or "").split(".")
                names = [base + [alias.name] for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name.split(".") for alias in node.names]
            for parts in names:
                parts = [p for p in parts if p and p != "collectkit"]
                if parts and parts[0] in CLI_MODULES - {"cli"}:
                    offenders.append(f"{'/'.join(module)} imports {'.'.join(parts)}")
    assert offenders == []
