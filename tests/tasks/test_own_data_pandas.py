"""Own data as pandas writes it (issue 24 item 2) and text that is not text (issue 28 item 6).

A DataFrame of mixed multiple-choice and open rows stores `choice_index_correct` and `level` as
float64 (0.0, NaN); `to_parquet` keeps the floats, `to_csv` writes `0.0`, empty cells, the index
and list cells as Python reprs. Both run end to end through `python -m collectkit run` and
`extract` against the stub server and grade as the JSONL copy does. A lone surrogate in a
dataset's text is refused at load (one line naming file, line and field, exit 2, nothing sent)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from stub_server import StubServer  # noqa: E402
from test_own_data import (EXPECTED, ROWS, STUB_MODEL, read_jsonl, verdicts,  # noqa: E402
                           write_jsonl)

from collectkit.cli.run import main as run_main  # noqa: E402
from collectkit.tasks import seed_values  # noqa: E402
from collectkit.tasks.custom import seed_problem  # noqa: E402

LEVELS = {"q1": 1, "q3": 3, "q5": 2}  # the others have none: pandas makes the column float64


@pytest.fixture(scope="module")
def stub():
    with StubServer(completion_tokens=4, model=STUB_MODEL) as server:
        yield server


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collectkit", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=180)


def collect_and_extract(data: Path, stub: StubServer) -> tuple[dict, dict]:
    """`collectkit run` then `collectkit extract` on one file: (fields by id, verdicts by id)."""
    out = data.parent / "out"
    done = cli("run", "--dataset", data.name, "--model", stub.model, "--api-base", stub.base_url,
               "--output-dir", str(out), "--k-responses", "2", "--max-tokens", "16",
               "--max-retries", "0", "--quiet", cwd=data.parent)
    assert done.returncode == 0, done.stderr
    results = out / f"{STUB_MODEL}_my_problems.jsonl"
    done = cli("extract", "-i", str(results), cwd=data.parent)
    assert done.returncode == 0, done.stderr
    graded = read_jsonl(results.with_name(results.stem + ".processed.jsonl"))
    fields = {row["unique_id"]: {k: v for k, v in row.items()
                                 if k not in ("responses", "attempts", "sampling")}
              for row in graded}
    return fields, verdicts(graded)


def mixed_frame(numpy_choices: bool = False) -> pd.DataFrame:
    rows = [{**row, "level": LEVELS.get(row["unique_id"])} for row in ROWS]
    frame = pd.DataFrame(rows)
    if numpy_choices:  # as after pd.read_parquet: list cells are numpy arrays
        frame["choices"] = [None if c is None else np.array(c) for c in frame["choices"]]
    assert frame["choice_index_correct"].dtype == frame["level"].dtype == np.float64
    return frame


@pytest.fixture(scope="module")
def jsonl_outcome(tmp_path_factory, stub):
    folder = tmp_path_factory.mktemp("jsonl")
    rows = [{**row, "level": LEVELS.get(row["unique_id"])} for row in ROWS]
    return collect_and_extract(write_jsonl(folder / "my_problems.jsonl", rows), stub)


@pytest.mark.parametrize("numpy_choices", [False, True], ids=["lists", "numpy arrays"])
def test_a_parquet_written_by_pandas_runs_end_to_end(tmp_path, stub, jsonl_outcome,
                                                     numpy_choices):
    data = tmp_path / "my_problems.parquet"
    mixed_frame(numpy_choices).to_parquet(data)
    stored = pq.read_table(data)
    assert str(stored.schema.field("choice_index_correct").type) == "double"
    assert stored.column("choice_index_correct").to_pylist()[2:4] == [0.0, 1.0]
    fields, graded = collect_and_extract(data, stub)
    assert (fields, graded) == jsonl_outcome
    assert {uid: [ok for _, ok in v] for uid, v in graded.items()} == {
        uid: [ok, ok] for uid, ok in EXPECTED.items()}
    assert fields["q4"]["choices"] == ["3", "4", "5"] and fields["q4"]["answer_correct"] == "B"
    assert fields["q3"]["level"] == 3 and fields["q2"]["level"] is None


@pytest.mark.parametrize("source", ["lists", "read_parquet"])
def test_a_csv_written_by_pandas_runs_end_to_end(tmp_path, stub, jsonl_outcome, source):
    data = tmp_path / "my_problems.csv"
    if source == "lists":
        mixed_frame().to_csv(data)  # pandas' defaults: the index too, lists as Python reprs
    else:  # a Parquet read back by pandas, written as CSV: arrays print without commas
        mixed_frame().to_parquet(tmp_path / "p.parquet")
        pd.read_parquet(tmp_path / "p.parquet").to_csv(data)
    text = data.read_text()
    assert ",0.0," in text and ",1.0," in text and ",,," in text
    assert ("['7', '8', '9', '10']" if source == "lists" else "['7' '8' '9' '10']") in text
    assert collect_and_extract(data, stub) == jsonl_outcome


# --------------------------------------------------------------------------- refused, one line

def run_refused(data: Path, stub: StubServer) -> str:
    out = data.parent / "out"
    before = stub.stats()["total_requests"]
    done = cli("run", "--dataset", str(data), "--model", stub.model, "--api-base",
               stub.base_url, "--output-dir", str(out), "--quiet", cwd=data.parent)
    error = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in error and "Traceback" not in error, done.stderr
    assert stub.stats()["total_requests"] == before and not out.exists()
    return error


def test_a_lone_surrogate_in_a_question_is_refused_at_load(tmp_path, stub):
    data = tmp_path / "own.jsonl"
    data.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({**ROWS[1], "question": "\ud800 x"})
                    + "\n")
    assert "\\ud800" in data.read_text()  # the JSON escape: valid JSON, not valid text
    assert run_refused(data, stub) == (
        f"error: {data} line 2: field 'question' holds a lone surrogate U+D800 at character 1 "
        "(a \\ud800 escape without its pair), which is not text")


@pytest.mark.parametrize("suffix, row, where", [
    (".json", {**ROWS[3], "choices": ["3", "x\udfff", "5"]}, "item 2: field 'choices' option 2"),
    (".csv", None, "line 3: field 'choices' option 1"),
    (".jsonl", {**ROWS[0], "explanation_correct": "a\udc80"}, "line 2: field "
                                                              "'explanation_correct'"),
    (".jsonl", {**ROWS[0], "unique_id": "q\ud83d"}, "line 2: field 'unique_id'"),
])
def test_a_lone_surrogate_in_any_text_field_names_it(tmp_path, stub, suffix, row, where):
    data = tmp_path / f"own{suffix}"
    if suffix == ".json":
        data.write_text(json.dumps([ROWS[2], row]))
    elif suffix == ".csv":
        data.write_text('unique_id,question,choices,choice_index_correct\n'
                        'q3,Q?,"[""a"", ""b""]",0\nq4,Q?,"[""\\udc00"", ""b""]",0\n')
    else:
        data.write_text(json.dumps(ROWS[2]) + "\n" + json.dumps(row) + "\n")
    assert run_refused(data, stub).startswith(f"error: {data} {where} holds a lone surrogate")


def pandas_parquet(path: Path, indices: list, level: float = 1.0) -> Path:
    frame = mixed_frame()
    frame["choice_index_correct"] = pd.Series(indices, dtype=object)
    frame.loc[0, "level"] = level
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("indices, level, message", [
    ([None, None, 0.0, 2.5, None], 1.0, "row 4: field 'choice_index_correct' must be an integer "
                                        "for a row with choices, not 2.5"),
    ([None, None, True, False, None], 1.0, "row 3: field 'choice_index_correct' must be an "
                                           "integer for a row with choices, not True"),
    ([None, None, 0.0, math.nan, None], 1.0, "row 4: field 'choice_index_correct' must be an "
                                             "integer for a row with choices, not None"),
    ([None, None, 0.0, 1.0, None], 1.5, "row 1: field 'level' must be an integer or null, "
                                        "not 1.5"),
])
def test_a_non_integral_float_or_a_bool_is_still_refused(tmp_path, stub, indices, level,
                                                         message):
    data = pandas_parquet(tmp_path / "own.parquet", indices, level)
    assert run_refused(data, stub) == f"error: {data} {message}"


def test_a_non_integral_csv_index_is_refused(tmp_path, capsys):
    data = tmp_path / "own.csv"
    frame = mixed_frame()
    frame.loc[2, "choice_index_correct"] = 2.5
    frame.to_csv(data, index=False)
    assert run_main(["--dataset", str(data), "--output_dir", str(tmp_path / "out"), "--quiet",
                     "--api_base", "http://127.0.0.1:9/v1"]) == 2
    assert capsys.readouterr().err == (f"error: {data} line 4: field 'choice_index_correct' must "
                                       "be an integer or empty, not '2.5'\n")


# -------------------------------------------------------------------------- the rules, as tables

INTEGERS = [(0, 0), (2, 2), (0.0, 0), (2.0, 2), (-0.0, 0), (np.int64(1), 1), (np.float64(3.0), 3),
            (np.float32(2.0), 2), (np.int32(4), 4)]
NOT_INTEGERS = [2.5, math.nan, math.inf, True, False, np.bool_(True), "0", "2.0", None, [1]]


@pytest.mark.parametrize("value, expected", INTEGERS)
def test_an_integral_number_is_an_integer(value, expected):
    got = seed_values.integer(value, "choice_index_correct", "")
    assert got == expected and type(got) is int


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_a_fraction_a_bool_a_string_or_null_is_not_an_integer(value):
    with pytest.raises(ValueError, match="^field 'choice_index_correct' must be an integer"):
        seed_values.integer(value, "choice_index_correct", "")


@pytest.mark.parametrize("value, null", [(None, True), (math.nan, True), (np.float64("nan"), True),
                                         (np.float32("nan"), True), (0.0, False), (0, False),
                                         ("", False), ("nan", False), (math.inf, False)])
def test_nan_and_none_are_null(value, null):
    assert seed_values.is_null(value) is null


@pytest.mark.parametrize("cell, expected", [
    ("2", 2), ("2.0", 2), ("0.0", 0), ("-0.0", 0), (" 3 ", 3), ("1e0", 1)])
def test_csv_integers(cell, expected):
    assert seed_values.csv_integer(cell, "level") == expected


@pytest.mark.parametrize("cell", ["2.5", "two", "nan", "inf", "True", "0x1"])
def test_csv_non_integers(cell):
    with pytest.raises(ValueError, match=f"^field 'level' must be an integer or empty, not "
                                         f"{cell!r}$"):
        seed_values.csv_integer(cell, "level")


@pytest.mark.parametrize("cell, expected", [
    ('["7", "8"]', ["7", "8"]),                     # JSON (the kit's own contract)
    ("['7', '8', '9']", ["7", "8", "9"]),           # a list's repr (pandas' to_csv)
    ("['it\\'s', \"a \\\"b\\\"\"]", ["it's", 'a "b"']),
    ("['7' '8' '9']", ["7", "8", "9"]),             # a numpy array's print
    ("['a b' 'c'\n 'd']", ["a b", "c", "d"]),       # wrapped over lines
    ("[1, 2.5]", [1, 2.5]),
])
def test_csv_choices_read(cell, expected):
    assert seed_values.csv_choices(cell) == expected


@pytest.mark.parametrize("cell, message", [
    ("[1 2]", "must be a JSON list"), ("7|8", "must be a JSON list"), ("{'a': 1}", "must be a"),
    ("__import__('os')", "must be a JSON list"), ("['a' 'b', 'c']", "mixes options with and"),
    ('"7, 8"', "must be a JSON list"),
])
def test_csv_choices_refused(cell, message):
    with pytest.raises(ValueError, match=f"^field 'choices' {message}"):
        seed_values.csv_choices(cell)


MCQ = {"unique_id": "m", "question": "Q?", "choices": ["a", "b", "c"], "answer_correct": None}


@pytest.mark.parametrize("changes, index, level", [
    ({"choice_index_correct": 2.0}, 2, None),
    ({"choice_index_correct": np.int64(1), "level": 3.0}, 1, 3),
    ({"choice_index_correct": 0.0, "choices": np.array(["a", "b"]), "level": math.nan}, 0, None),
    ({"choice_index_correct": 0, "explanation_correct": math.nan, "category": math.nan}, 0, None),
])
def test_a_pandas_row_is_read_as_meant(changes, index, level):
    problem = seed_problem({**MCQ, **changes}, "mine")
    assert (problem.choice_index_correct, problem.level) == (index, level)
    assert problem.category == "uncategorized" and problem.explanation_correct is None
    assert all(type(c) is str for c in problem.choices)


def test_an_open_row_from_pandas_reads_nan_as_null_and_42_0_as_42():
    problem = seed_problem({"unique_id": 7, "question": "Q?", "choices": math.nan,
                            "choice_index_correct": math.nan, "answer_correct": 42.0}, "mine")
    assert problem.choices is None and problem.answer_correct == "42"
    with pytest.raises(ValueError, match="'choice_index_correct' is set but 'choices' is null"):
        seed_problem({"unique_id": 7, "question": "Q?", "choices": math.nan,
                      "choice_index_correct": 1.0, "answer_correct": "x"}, "mine")
