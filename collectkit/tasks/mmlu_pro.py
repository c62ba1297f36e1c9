"""MMLU-Pro (TIGER-Lab/MMLU-Pro, MIT): 12,032 multiple-choice questions, up to 10 options (A-J),
14 categories; asked by default with its authors' 5-shot chain-of-thought prompt."""
from __future__ import annotations

from collectkit.tasks.base import LETTERS, Benchmark, Problem, text

CATEGORIES = ("biology", "business", "chemistry", "computer science", "economics",
              "engineering", "health", "history", "law", "math", "other", "philosophy",
              "physics", "psychology")


def mmlu_problem(row: dict) -> Problem:
    options = row["options"]
    if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
        raise ValueError("field 'options' must be a list of 2 to 10 strings")
    index = row["answer_index"]
    if not isinstance(index, int) or not 0 <= index < len(options):
        raise ValueError(f"field 'answer_index' {index!r} is not an index into the options")
    if row["answer"] != LETTERS[index]:
        raise ValueError(f"field 'answer' {row['answer']!r} disagrees with answer_index {index}")
    return Problem(
        unique_id=f"mmlu_pro/{row['question_id']}", dataset="mmlu_pro",
        question=text(row, "question"), choices=tuple(str(o) for o in options),
        choice_index_correct=index, explanation_correct=row.get("cot_content") or None,
        answer_correct=row["answer"], category=text(row, "category"), answer_kind="letter")


BENCHMARK = Benchmark(
    name="mmlu_pro", label="MMLU-Pro", file_tag="MMLU_Pro", answer_kind="letter",
    mapper=mmlu_problem, default_protocols={"mcq": "mmlu_pro_official"},
    categories=CATEGORIES, hub_id="TIGER-Lab/MMLU-Pro",
    revision="b189ec765aa7ed75c8acfea42df31fdae71f97be", split="test",
    bundled="mmlu_pro_test.jsonl.gz", size=12032, license="MIT")
