"""MATH-500 (HuggingFaceH4/MATH-500, MIT): 500 open-ended competition problems, `\\boxed{}`."""
from __future__ import annotations

from collectkit.tasks.base import Benchmark, Problem, text

SUBJECTS = ("Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra",
            "Number Theory", "Prealgebra", "Precalculus")


def math_problem(row: dict) -> Problem:
    level = row["level"]
    if not isinstance(level, int):
        raise ValueError("field 'level' must be an integer")
    return Problem(
        unique_id=text(row, "unique_id"), dataset="math500", question=text(row, "problem"),
        choices=None, choice_index_correct=None, explanation_correct=row.get("solution"),
        answer_correct=text(row, "answer"), category=text(row, "subject"),
        level=level, subject=row["subject"], answer_kind="math")


BENCHMARK = Benchmark(
    name="math500", label="MATH-500", file_tag="MATH_500", answer_kind="math",
    mapper=math_problem, default_protocols={"open": "boxed"}, categories=SUBJECTS,
    levels=(1, 2, 3, 4, 5), hub_id="HuggingFaceH4/MATH-500",
    revision="6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be", split="test",
    bundled="math500.jsonl.gz", size=500, license="MIT")
