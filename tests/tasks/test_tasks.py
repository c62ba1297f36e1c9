"""The benchmark registry and each Hub loader, on small files in the Hub's format written here
(read back through `datasets.load_dataset`, as the Hub's own files would be); grading by kind."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from collectkit.grade.grading import grade_rows
from collectkit.tasks.load import load_problems
from collectkit.cli.run import main as run_main
from collectkit.tasks import REGISTRY, ProblemError
from collectkit.tasks.registry import answer_kind_of, benchmarks, manifest_entries

ROOT = Path(__file__).resolve().parents[2]


def parquet(tmp_path: Path, rows: list[dict], name: str = "data.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def hub_copy(kind: str, path: Path):
    return load_dataset(kind, data_files=str(path), split="train")


# ----------------------------------------------------------------------------------- registry

def test_registry_names_kinds_and_pinned_revisions():
    assert list(REGISTRY) == ["math500", "mmlu_pro", "aime_2024", "aime_2025", "gsm8k",
                              "gpqa_diamond"]
    kinds = {name: b.answer_kind for name, b in REGISTRY.items()}
    assert kinds == {"math500": "math", "mmlu_pro": "letter", "aime_2024": "number",
                     "aime_2025": "number", "gsm8k": "number", "gpqa_diamond": "letter"}
    for benchmark in REGISTRY.values():
        assert re.fullmatch(r"[0-9a-f]{40}", benchmark.revision), benchmark.name
        assert benchmark.hub_id and benchmark.size and benchmark.default_protocols
    assert [b.name for b in REGISTRY.values() if b.bundled] == ["math500", "mmlu_pro"]


def test_list_datasets_prints_sizes_kinds_and_sources(capsys):
    assert run_main(["--list_datasets"]) == 0
    out = capsys.readouterr().out.splitlines()
    gsm = next(line for line in out if line.startswith("gsm8k"))
    assert gsm.split()[:4] == ["gsm8k", "1319", "Hub", "number"] and "openai/gsm8k" in gsm
    math = next(line for line in out if line.startswith("math500"))
    assert math.split()[:4] == ["math500", "500", "bundled", "math"]
    assert any("hf:ORG/NAME" in line for line in out)


def test_dataset_values_mix_names_files_and_hub_specs():
    names = [b.name for b in benchmarks("both, gsm8k,data/My Set.csv,hf:org/thing:cfg@abc")]
    assert names == ["math500", "mmlu_pro", "gsm8k", "My_Set", "thing"]
    with pytest.raises(ProblemError, match=r"unknown dataset 'gsm9k': choose from math500, "
                                           r"mmlu_pro, aime_2024, aime_2025, gsm8k"):
        benchmarks("math500,gsm9k")
    with pytest.raises(ProblemError, match="two datasets named 'a'"):
        benchmarks("x/a.jsonl,y/a.csv")


def test_old_rows_keep_their_answer_kind():
    assert answer_kind_of({"dataset": "mmlu_pro"}) == "letter"
    assert answer_kind_of({"dataset": "math500"}) == "math"
    assert answer_kind_of({"is_mcq": True, "dataset": "mine"}) == "letter"
    assert answer_kind_of({"answer_kind": "number", "dataset": "mine"}) == "number"


# ------------------------------------------------------------------------- loaders on Hub files

def test_math500_and_mmlu_pro_hub_format(tmp_path):
    math_row = {"problem": "1+1?", "solution": "2", "answer": "2", "subject": "Algebra",
                "level": 1, "unique_id": "test/algebra/1.json"}
    (tmp_path / "math.jsonl").write_text(json.dumps(math_row) + "\n")
    [problem] = REGISTRY["math500"].problems(hub_copy("json", tmp_path / "math.jsonl"))
    assert (problem.unique_id, problem.answer_kind, problem.level) == (
        "test/algebra/1.json", "math", 1)
    mmlu_row = {"question_id": 7, "question": "Pick B", "options": ["a", "b", "c"],
                "answer": "B", "answer_index": 1, "cot_content": "", "category": "law",
                "src": "x"}
    [mcq] = REGISTRY["mmlu_pro"].problems(hub_copy("parquet", parquet(tmp_path, [mmlu_row])))
    assert (mcq.unique_id, mcq.choices, mcq.answer_correct) == ("mmlu_pro/7", ("a", "b", "c"), "B")


def test_aime_hub_format(tmp_path):
    rows_2024 = [{"id": 60, "problem": "Aya walks…", "solution": "…", "answer": "204",
                  "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_I_Problems/"
                  "Problem_1", "year": "2024"},
                 {"id": 84, "problem": "Find it.", "solution": "…", "answer": "033",
                  "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_II_Problems/"
                  "Problem_4", "year": "2024"}]
    problems = REGISTRY["aime_2024"].problems(hub_copy("parquet", parquet(tmp_path, rows_2024)))
    assert [(p.unique_id, p.category, p.answer_correct, p.answer_kind) for p in problems] == [
        ("aime_2024/60", "AIME 2024 I", "204", "number"),
        ("aime_2024/84", "AIME 2024 II", "033", "number")]
    rows_2025 = [{"id": 0, "problem": "Find the sum…", "answer": "70"}]
    [problem] = REGISTRY["aime_2025"].problems(
        hub_copy("parquet", parquet(tmp_path, rows_2025, "2025.parquet")))
    assert (problem.unique_id, problem.category) == ("aime_2025/0", "AIME 2025")


def test_gsm8k_hub_format(tmp_path):
    rows = [{"question": "Tom has 1,200 apples…", "answer": "He has 1,200.\n#### 1,200"},
            {"question": "Two?", "answer": "1+1=2\n#### 2"}]
    problems = REGISTRY["gsm8k"].problems(hub_copy("parquet", parquet(tmp_path, rows)))
    assert [p.answer_correct for p in problems] == ["1200", "2"]
    assert problems[0].explanation_correct == "He has 1,200."
    assert problems[0].unique_id.startswith("gsm8k/") and len({p.unique_id for p in problems}) == 2
    with pytest.raises(ProblemError, match=r"^gsm8k row 1: field 'answer' has no '#### "):
        REGISTRY["gsm8k"].problems([{"question": "q", "answer": "no final line"}])


GPQA_COLUMNS = ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                "Incorrect Answer 3", "Explanation", "Subdomain", "Record ID", "High-level domain"]


def gpqa_csv(tmp_path: Path, count: int = 12) -> Path:
    path = tmp_path / "gpqa_diamond.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(GPQA_COLUMNS)
        for i in range(count):
            writer.writerow([f"Question {i}?", f"right {i} ", f"wrong {i}a", f"wrong {i}b",
                             f"wrong {i}c", "because", "Organic Chemistry", f"rec{i:03d}",
                             "Chemistry"])
    return path


def test_gpqa_options_are_shuffled_with_the_recorded_seed(tmp_path):
    benchmark = REGISTRY["gpqa_diamond"]
    rows = hub_copy("csv", gpqa_csv(tmp_path))
    problems = benchmark.problems(rows)
    assert all(p.choices[p.choice_index_correct] == f"right {i}" for i, p in enumerate(problems))
    assert all("ABCD"[p.choice_index_correct] == p.answer_correct for p in problems)
    positions = [p.choice_index_correct for p in problems]
    assert len(set(positions)) > 1  # the correct answer is not always first any more
    assert [p.choice_index_correct for p in benchmark.problems(rows)] == positions  # seeded
    from collectkit.tasks.gpqa import gpqa_problem

    other = [gpqa_problem(dict(row), seed=1).choice_index_correct for row in rows]
    assert other != positions
    assert problems[0].category == "Chemistry" and problems[0].subject == "Organic Chemistry"
    assert problems[0].unique_id == "gpqa_diamond/rec000"
    entry = manifest_entries("gpqa_diamond")[0]
    assert entry["shuffle_seed"] == 0 and entry["revision"] == benchmark.revision


# --------------------------------------------------------------------------- Hub, no network

def test_a_hub_benchmark_offline_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ProblemError) as caught:
        load_problems("aime_2025")
    message = str(caught.value)
    assert message.startswith("aime_2025: cannot load yentinglin/aime_2025@6f71d77b0b89")
    assert "\n" not in message


def test_the_cli_without_network_is_one_line_and_writes_nothing(tmp_path):
    """No HF_HUB_OFFLINE, a Hub endpoint nothing answers: one connection attempt, one line."""
    env = {key: value for key, value in __import__("os").environ.items()
           if key not in ("HF_HUB_OFFLINE",)}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9",
               PYTHONPATH=str(ROOT))
    out = tmp_path / "out"
    for args in (["--dataset", "gsm8k"], ["--dataset", "math500", "--dataset_source", "hub"]):
        done = subprocess.run([sys.executable, "-m", "collectkit.run_inference", *args,
                               "--output_dir", str(out), "--quiet"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert "cannot reach 127.0.0.1:9" in done.stderr and "HF_HUB_OFFLINE=1" in done.stderr
        assert not out.exists()


# ------------------------------------------------------------------------------ grading by kind

def row(kind: str, gold: str, *answers: str) -> dict:
    return {"unique_id": f"{kind}/{gold}", "dataset": "mine", "answer_kind": kind,
            "is_mcq": False, "answer_correct": gold, "choices": None,
            "responses": [{"full_response": f"\\boxed{{{a}}}"} for a in answers]}


@pytest.mark.parametrize("kind, gold, answer, expected", [
    ("number", "025", "25", True),
    ("number", "1200", "1,200", True),
    ("number", "70", "71", False),
    ("number", "0.5", "\\frac{1}{2}", True),
    ("exact", "Paris", "paris.", True),
    ("exact", "Paris", "Lyon", False),
    ("math", "\\frac{1}{2}", "0.5", True),
])
def test_grading_switches_on_the_answer_kind(kind, gold, answer, expected):
    [graded] = grade_rows([row(kind, gold, answer)], workers=1)
    assert graded["responses"][0]["is_correct"] is expected
