"""A results or processed file from another tool, with a wrong-typed field or a lone surrogate
(`\\ud800`, valid JSON but half a character, which no UTF-8 file can hold), is one line naming
the file, the line and the field, and a non-zero exit, in extract, explore and export; never a
traceback (issue 28, item 6)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from collection_support import one_line_error  # noqa: E402

from collectkit.store import results  # noqa: E402
from collectkit.store.row_schema import row_problem  # noqa: E402

GOOD = {"unique_id": "p1", "dataset": "math500", "problem": "What is 1+1?", "choices": None,
        "answer_correct": "2", "category": "Algebra", "level": 1, "attempts": 1,
        "model": "m", "sampling": {"temperature": 0.7}, "status": "ok",
        "responses": [{"full_response": "half \\ud800 kept as text; so \\boxed{2}",
                       "finish_reason": "stop", "usage": {"completion_tokens": 9},
                       "extracted_answer": "2", "is_correct": True, "answer_group": 0}]}
COMMANDS = {"extract": ["extract", "-i", "{file}", "-o", "{dir}/out.processed.jsonl"],
            "explore": ["explore", "{file}", "--html", "{dir}/x.html"],
            "export": ["export", "{file}", "--out", "{dir}/export", "--format", "responses"]}


def bad_row(path: str, value) -> dict:
    row = json.loads(json.dumps(GOOD))
    *parents, last = path.replace("[0]", ".0").split(".")
    target = row
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return row


def write(tmp_path: Path, second_line: str) -> Path:
    """A processed file: a good row, then the line under test (line 2)."""
    path = tmp_path / "other_tool.processed.jsonl"
    path.write_text(json.dumps(dict(GOOD, unique_id="p0")) + "\n" + second_line + "\n",
                    encoding="utf-8")
    return path


def run(command: str, path: Path) -> subprocess.CompletedProcess:
    args = [a.format(file=path, dir=path.parent) for a in COMMANDS[command]]
    return subprocess.run([sys.executable, "-m", "collectkit", *args], cwd=path.parent,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", COMMANDS)
def test_good_rows_from_another_tool_pass(tmp_path, command):
    """The baseline: the same file with a right row (an unknown field, and the text
    `\\ud800` that the kit writes for a lone surrogate a server sent, included) is read."""
    path = write(tmp_path, json.dumps(dict(GOOD, k="x")))
    done = run(command, path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("field, value, expected", [
    ("responses", 5, "'responses' must be a list"),
    ("problem", 3, "field 'problem' must be a string, not int 3"),
    ("question", 3, "field 'question' must be a string, not int 3"),
    ("level", "x", "field 'level' must be an integer, not str 'x'"),
    ("category", ["a"], "field 'category' must be a string"),
    ("responses[0].usage", 5, "field 'responses[0].usage' must be an object, not int 5"),
    ("responses[0].answer_group", [1], "field 'responses[0].answer_group' must be an integer"),
])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_wrong_typed_field_is_one_line_naming_file_line_and_field(tmp_path, command, field,
                                                                    value, expected):
    path = write(tmp_path, json.dumps(bad_row(field, value)))
    done = run(command, path)
    error = one_line_error(done)
    assert done.returncode == 2
    assert f"{path} line 2: " in error and expected in error, error


@pytest.mark.parametrize("line, field", [
    (json.dumps(GOOD).replace("half \\\\ud800", "half \\ud800"), "responses[0].full_response"),
    (json.dumps(GOOD).replace('"What is', '"\\udc00 What is'), "problem"),
    (json.dumps(dict(GOOD, **{"\udbff": 1}), ensure_ascii=True), "(a key)"),
])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_lone_surrogate_is_refused_in_one_line(tmp_path, command, line, field):
    assert "\\ud" in line  # the JSON escape another tool writes
    path = write(tmp_path, line)
    done = run(command, path)
    error = one_line_error(done)
    assert done.returncode == 2
    assert f"{path} line 2: " in error and field in error and "lone surrogate" in error, error


def test_a_surrogate_pair_is_a_character_not_a_lone_surrogate(tmp_path):
    path = write(tmp_path, json.dumps(bad_row("problem", "smile \U0001F600"), ensure_ascii=True))
    assert "\\ud83d\\ude00" in path.read_text()
    rows = results.read_results(path)
    assert rows[1]["problem"] == "smile \U0001F600"


@pytest.mark.parametrize("field, value, problem", [
    ("unique_id", [1], "field 'unique_id' must be a string or an integer, not list [1]"),
    ("unique_id", True, "field 'unique_id' must be a string or an integer, not bool True"),
    ("answer_correct", {"a": 1}, "field 'answer_correct' must be a string or a number"),
    ("choices", 5, "field 'choices' must be a list, not int 5"),
    ("choices", ["a", {"b": 1}], "field 'choices[1]' must be a string or a number"),
    ("choice_index_correct", "0", "field 'choice_index_correct' must be an integer"),
    ("attempts", "x", "field 'attempts' must be an integer, not str 'x'"),
    ("sampling", 5, "field 'sampling' must be an object, not int 5"),
    ("is_mcq", "yes", "field 'is_mcq' must be true or false"),
    ("responses[0].full_response", 5, "field 'responses[0].full_response' must be a string"),
    ("responses[0].is_correct", 1, "field 'responses[0].is_correct' must be true or false"),
    ("responses[0].usage.completion_tokens", "9",
     "field 'responses[0].usage.completion_tokens' must be an integer, not str '9'"),
    ("responses[0].extracted_answer", [2], "field 'responses[0].extracted_answer' must be"),
    ("responses[0].logprobs", 5, "field 'responses[0].logprobs' must be an object"),
    ("responses[0].reasoning_content", 5, "field 'responses[0].reasoning_content' must be a"),
])
def test_field_types_table(field, value, problem):
    assert row_problem(bad_row(field, value)).startswith(problem)


@pytest.mark.parametrize("field, value", [
    ("level", None), ("choices", ["1", 2, 3.5]), ("answer_correct", 2), ("unique_id", 7),
    ("responses[0].extracted_answer", None), ("responses[0].usage", None), ("k", "x"),
])
def test_null_numbers_and_unknown_fields_are_right(field, value):
    assert row_problem(bad_row(field, value)) is None


def test_numbers_and_text_in_one_export_column_are_one_line(tmp_path):
    """An extracted answer 2 (a number, as another tool may write it) in one row and "2" in the
    next both pass the read check, but one Parquet column cannot hold both: export says which
    field in one line (was: pyarrow's ArrowTypeError traceback); explore --html (was: a
    TypeError placing the answer in the text) and extract read it."""
    path = write(tmp_path, json.dumps(bad_row("responses[0].extracted_answer", 2)))
    for command in ("explore", "extract"):
        assert run(command, path).returncode == 0
    done = run("export", path)
    error = one_line_error(done)
    assert done.returncode == 2
    assert "field 'extracted_answer' holds values of different types (int, str)" in error, error
