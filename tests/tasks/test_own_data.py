"""Your own problems in the seed's Dataset Format: a JSONL mixing multiple-choice and open-ended
rows collected (stub server over a real socket), graded and plotted through the CLIs; CSV and
Parquet copies give the same results; every bad-data case is one line, exit 2, nothing written."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from stub_server import StubServer  # noqa: E402

from collectkit.cli import extract as answer_extraction
from collectkit.analyze import plots
from collectkit.tasks import protocols  # noqa: E402
from collectkit.analyze.metrics import accuracy_table  # noqa: E402
from collectkit.cli.run import main as run_main  # noqa: E402

# The stub answers every request with "The answer is (A). \boxed{42}".
ROWS = [
    {"unique_id": "q1", "question": "What is 6 times 7?", "choices": None,
     "choice_index_correct": None, "explanation_correct": "6*7=42", "answer_correct": "42",
     "category": "arithmetic"},
    {"unique_id": "q2", "question": "What is 2 plus 5?", "choices": None,
     "choice_index_correct": None, "explanation_correct": None, "answer_correct": "7",
     "category": "arithmetic"},
    {"unique_id": "q3", "question": "Which is prime?", "choices": ["7", "8", "9", "10"],
     "choice_index_correct": 0, "explanation_correct": "7 is prime", "answer_correct": "7",
     "category": "number theory"},
    {"unique_id": "q4", "question": "Which is even?", "choices": ["3", "4", "5"],
     "choice_index_correct": 1, "explanation_correct": None, "answer_correct": "B",
     "category": "number theory"},
    {"unique_id": "q5", "question": "How many sides have six heptagons?", "choices": None,
     "choice_index_correct": None, "explanation_correct": None, "answer_correct": "42.0",
     "category": "arithmetic", "answer_kind": "number"},
]
EXPECTED = {"q1": True, "q2": False, "q3": True, "q4": False, "q5": True}
STUB_MODEL = "stub-model"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else json.dumps(row[k])
                                 if k == "choices" else row[k]) for k in fields})
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    pq.write_table(pa.Table.from_pylist([{k: row.get(k) for k in fields} for row in rows]), path)
    return path


def collect(data: Path, out: Path, stub: StubServer, *extra: str) -> int:
    return run_main(["--dataset", str(data), "--model", stub.model, "--api_base", stub.base_url,
                     "--output_dir", str(out), "--k_responses", "2", "--max_tokens", "16",
                     "--max_retries", "0", "--quiet", *extra])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stub():
    with StubServer(completion_tokens=4, model=STUB_MODEL) as server:
        yield server


def verdicts(rows: list[dict]) -> dict[str, list]:
    return {row["unique_id"]: [(r["extracted_answer"], r["is_correct"]) for r in row["responses"]]
            for row in rows}


def test_own_jsonl_collected_graded_and_plotted(tmp_path, stub, capsys):
    data = write_jsonl(tmp_path / "my_problems.jsonl", ROWS)
    out = tmp_path / "out"
    assert collect(data, out, stub) == 0
    results = out / f"{STUB_MODEL}_my_problems.jsonl"  # the name follows the file's stem
    rows = read_jsonl(results)
    assert sorted(row["unique_id"] for row in rows) == list(EXPECTED)
    by_id = {row["unique_id"]: row for row in rows}
    assert by_id["q3"]["is_mcq"] and by_id["q3"]["answer_kind"] == "letter"
    assert by_id["q4"]["choices"] == ["3", "4", "5"] and by_id["q4"]["answer_correct"] == "B"
    assert by_id["q5"]["answer_kind"] == "number" and by_id["q1"]["answer_kind"] == "math"
    # MCQ rows were asked with the multiple-choice template, the others with the boxed one
    assert protocols.recorded_name(by_id["q3"]) == "multiple_choice"
    assert protocols.recorded_name(by_id["q1"]) == "boxed"
    assert by_id["q1"]["sampling"]["protocol_slots"] == (
        "my_problems/mcq=multiple_choice,my_problems/open=boxed")
    manifest = json.loads((out / f"{STUB_MODEL}_my_problems.manifest.json").read_text())
    [entry] = manifest["datasets"]
    assert entry["source"] == "file" and entry["path"] == str(data) and len(entry["sha256"]) == 64

    assert answer_extraction.main(["-i", str(results), "--by-category"]) == 0
    report = capsys.readouterr().out
    assert "number theory" in report and "arithmetic" in report
    graded = read_jsonl(out / f"{STUB_MODEL}_my_problems.processed.jsonl")
    assert {uid: [c for _, c in v] for uid, v in verdicts(graded).items()} == {
        uid: [ok, ok] for uid, ok in EXPECTED.items()}
    assert verdicts(graded)["q4"] == [("A", False)] * 2 and verdicts(graded)["q1"][0][0] == "42"
    table = accuracy_table(graded, by="category")
    assert table.loc[("my_problems", "number theory"), "accuracy"] == 0.5
    assert table.loc[("my_problems", "arithmetic"), "accuracy"] == pytest.approx(2 / 3)
    figure = plots.accuracy_by_category(table)
    assert [ax.get_title(loc="left") for ax in figure.axes] == ["my_problems"]
    assert plots.save_figure(figure, tmp_path / "fig.png").stat().st_size > 0

    requests = stub.stats()["total_requests"]
    assert collect(data, out, stub) == 0  # resumes: nothing left to ask
    assert stub.stats()["total_requests"] == requests and len(read_jsonl(results)) == len(ROWS)


def test_csv_and_parquet_copies_give_the_same_results(tmp_path, stub):
    outcomes = {}
    for writer, suffix in ((write_jsonl, "jsonl"), (write_csv, "csv"), (write_parquet, "parquet")):
        folder = tmp_path / suffix
        folder.mkdir()
        data = writer(folder / f"my_problems.{suffix}", ROWS)
        assert collect(data, folder / "out", stub) == 0
        results = folder / "out" / f"{STUB_MODEL}_my_problems.jsonl"
        assert answer_extraction.main(["-i", str(results)]) == 0
        graded = read_jsonl(results.with_name(results.stem + ".processed.jsonl"))
        fields = {row["unique_id"]: {k: v for k, v in row.items()
                                     if k not in ("responses", "attempts", "sampling")}
                  for row in graded}
        outcomes[suffix] = (fields, verdicts(graded))
    assert outcomes["csv"] == outcomes["jsonl"] == outcomes["parquet"]
    assert outcomes["jsonl"][0]["q3"]["choices"] == ["7", "8", "9", "10"]


def test_own_file_beside_a_bundled_benchmark_and_a_sample(tmp_path, stub):
    data = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    out = tmp_path / "out"
    assert collect(data, out, stub, "--dataset", f"math500,{data}", "--num_problems", "4") == 0
    rows = read_jsonl(out / f"{STUB_MODEL}_MATH_500_mine.jsonl")
    assert sorted(row["dataset"] for row in rows) == ["math500", "math500", "mine", "mine"]


# ---------------------------------------------------------------------------------- bad data

GOOD = ROWS[0]


def bad(rows: list[dict]):
    return lambda path: write_jsonl(path.with_suffix(".jsonl"), rows)


def raw(text: str, suffix: str):
    def write(path: Path) -> Path:
        target = path.with_suffix(suffix)
        target.write_text(text)
        return target
    return write


BAD_CASES = {
    "missing field": (bad([GOOD, {k: v for k, v in ROWS[1].items() if k != "question"}]),
                      "bad.jsonl line 2: missing field 'question'"),
    "mistyped field": (bad([{**ROWS[2], "choice_index_correct": "0"}]),
                       "bad.jsonl line 1: field 'choice_index_correct' must be an integer"),
    "empty question": (bad([GOOD, {**ROWS[1], "question": "  "}]),
                       "bad.jsonl line 2: field 'question' must be a non-empty string"),
    "duplicate id": (bad([GOOD, ROWS[1], {**ROWS[2], "unique_id": "q1"}]),
                     "bad.jsonl line 3: field 'unique_id' 'q1' repeats "),
    "index outside choices": (bad([{**ROWS[3], "choice_index_correct": 3}]),
                              "bad.jsonl line 1: field 'choice_index_correct' 3 is outside "
                              "choices (0 to 2)"),
    "answer disagrees": (bad([{**ROWS[3], "answer_correct": "C"}]),
                         "bad.jsonl line 1: field 'answer_correct' 'C' disagrees"),
    "open row without answer": (bad([{**ROWS[1], "answer_correct": None}]),
                                "bad.jsonl line 1: field 'answer_correct' must be a non-empty"),
    "not JSON": (raw(json.dumps(GOOD) + "\n{oops\n", ".jsonl"),
                 "bad.jsonl line 2: not valid JSON"),
    "JSON not a list": (raw(json.dumps(GOOD), ".json"),
                        "bad.json: expected a JSON list of problems, got dict"),
    "bad CSV choices": (raw("unique_id,question,choices,choice_index_correct,answer_correct\n"
                            "a,Q?,[1 2],0,\n", ".csv"),
                        "bad.csv line 2: field 'choices' must be a JSON list"),
    "bad CSV index": (raw("unique_id,question,choices,choice_index_correct,answer_correct\n"
                          'a,Q?,"[""x"", ""y""]",first,\n', ".csv"),
                      "bad.csv line 2: field 'choice_index_correct' must be an integer or "
                      "empty, not 'first'"),
    "unreadable parquet": (raw("not parquet at all", ".parquet"),
                           "bad.parquet: not a readable Parquet file"),
    "missing file": (lambda path: path.with_suffix(".jsonl"), "bad.jsonl: no such file"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_data_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, case):
    write, expected = BAD_CASES[case]
    data = write(tmp_path / "bad")
    out = tmp_path / "out"
    code = run_main(["--dataset", str(data), "--output_dir", str(out), "--quiet",
                     "--api_base", "http://127.0.0.1:9/v1"])  # nothing may be sent there
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {tmp_path / expected}"), err
    assert err.count("\n") == 1
    assert not out.exists()


def test_an_unknown_dataset_name_lists_the_known_ones(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_main(["--dataset", "math500,gsm9k", "--output_dir", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'gsm9k': choose from math500, mmlu_pro, aime_2024, aime_2025, gsm8k, "\
           "gpqa_diamond, both" in err
    assert err.count("\n") == 1 and not out.exists()


def test_bad_data_never_touches_results_already_collected(tmp_path, stub, capsys):
    data = write_jsonl(tmp_path / "my_problems.jsonl", ROWS)
    out = tmp_path / "out"
    assert collect(data, out, stub) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    write_jsonl(data, ROWS + [{**ROWS[0], "unique_id": "q9", "category": 7}])
    assert collect(data, out, stub) == 2
    assert "my_problems.jsonl line 6: field 'category' must be a non-empty string" in \
        capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# ------------------------------------------------------------------- outputs collected elsewhere

def test_extraction_protocol_reads_rows_that_record_none(tmp_path, capsys):
    """Another harness's JSON-answer outputs: no protocol recorded, no sampling signature."""
    rows = [{"unique_id": f"x{i}", "dataset": "elsewhere", "answer_correct": gold,
             "responses": [{"full_response": json.dumps({"reasoning": "…", "answer": said})}]}
            for i, (gold, said) in enumerate([("12", "12"), ("\\frac{1}{2}", "0.5"),
                                              ("3", "4")])]
    source = write_jsonl(tmp_path / "elsewhere.jsonl", rows)
    assert answer_extraction.main(["-i", str(source)]) == 0
    plain = read_jsonl(tmp_path / "elsewhere.processed.jsonl")
    assert [r["responses"][0]["extracted_answer"] for r in plain] == [None, None, None]
    assert answer_extraction.main(["-i", str(source), "--protocol", "json_answer"]) == 0
    read = read_jsonl(tmp_path / "elsewhere.processed.jsonl")
    assert [r["responses"][0]["extracted_answer"] for r in read] == ["12", "0.5", "4"]
    assert [r["responses"][0]["is_correct"] for r in read] == [True, True, False]
    capsys.readouterr()
    assert answer_extraction.main(["-i", str(source), "--protocol", "json_anwser"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown protocol 'json_anwser'")


# ---------------------------------------------------------------------------- hf: with a field map

def hub_folder(root: Path) -> Path:
    """A dataset folder where `load_dataset("org/thing")` finds it (offline: the local folder)."""
    folder = root / "org" / "thing"
    folder.mkdir(parents=True)
    schema = pa.schema([("problem", pa.string()), ("answer", pa.string()),
                        ("topic", pa.string()), ("A", pa.string()), ("B", pa.string()),
                        ("gold", pa.int64())])
    empty = {"A": None, "B": None, "gold": None}
    pq.write_table(pa.Table.from_pylist([
        {"problem": "6 times 7?", "answer": "42", "topic": "arithmetic", **empty},
        {"problem": "2 plus 5?", "answer": "7", "topic": "arithmetic", **empty}], schema),
        folder / "test.parquet")
    pq.write_table(pa.Table.from_pylist([
        {"problem": "Pick one", "answer": None, "topic": "choice", "A": "x", "B": "y",
         "gold": 0}], schema), folder / "train.parquet")
    return folder


def test_hub_spec_maps_its_columns(tmp_path, stub, monkeypatch):
    hub_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    fields = "question=problem,answer_correct=answer,category=topic"
    assert collect(Path("hf:org/thing"), out, stub, "--dataset_fields", fields) == 0
    rows = read_jsonl(out / f"{STUB_MODEL}_thing.jsonl")
    assert sorted((r["unique_id"], r["answer_correct"], r["category"]) for r in rows) == [
        ("1", "42", "arithmetic"), ("2", "7", "arithmetic")]
    out_mcq = tmp_path / "mcq"
    fields = "question=problem,choices=A|B,choice_index_correct=gold,category=topic,split=train"
    assert collect(Path("hf:org/thing"), out_mcq, stub, "--dataset_fields", fields) == 0
    [row] = read_jsonl(out_mcq / f"{STUB_MODEL}_thing.jsonl")
    assert row["choices"] == ["x", "y"] and row["answer_correct"] == "A"


def test_hub_spec_with_a_wrong_field_map_is_one_line(tmp_path, monkeypatch, capsys):
    hub_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    for fields, expected in (
            ("question=problme", "--dataset_fields: column 'problme' (for question) is not in "
                                 "the dataset"),
            ("questoin=problem", "--dataset_fields: unknown field 'questoin'"),
            ("question=problem", "hf:org/thing row 1: missing field 'answer_correct'")):
        code = run_main(["--dataset", "hf:org/thing", "--dataset_fields", fields,
                         "--output_dir", "out", "--quiet", "--api_base", "http://127.0.0.1:9/v1"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith(f"error: {expected}"), err
        assert err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_the_readme_example_file_loads(tmp_path):
    from collectkit.tasks.load import load_problems

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Your own problems"):]
    example = section[section.index("```json\n") + 8:]
    example = example[:example.index("```")]
    assert example.count("\n") == 3
    problems = load_problems(str(_write(tmp_path / "my_problems.jsonl", example)))
    assert sorted((p.unique_id, p.answer_kind, p.answer_correct) for p in problems) == [
        ("q1", "math", "42"), ("q2", "letter", "C"), ("q3", "math", "\\frac{1}{2}")]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_levels_plot_one_panel_per_benchmark_with_levels():
    def graded(uid, dataset, level, ok):
        return {"unique_id": uid, "dataset": dataset, "category": "c", "level": level,
                "answer_correct": "1", "responses": [{"extracted_answer": "1", "is_correct": ok,
                                                      "answer_group": 0}]}
    rows = [graded("a", "math500", 1, True), graded("b", "mine", 2, False),
            graded("c", "mmlu_pro", None, True)]
    figure = plots.accuracy_by_level(accuracy_table(rows, by="level"))
    assert [ax.get_title(loc="left") for ax in figure.axes] == ["MATH-500", "mine"]
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in figure.axes]
    assert ticks[0][0] == "Level 1\n(n=1)" and len(ticks[0]) == 5
    assert ticks[1] == ["Level 2\n(n=1)"]
