"""GSM8K (openai/gsm8k, config `main`, split `test`, MIT): 1,319 grade-school word problems.

Each row is `question` and `answer`, a worked solution ending in `#### <number>`; the number is
the gold answer (commas dropped), graded by value. Rows carry no id: a problem's id is a hash
of its question, so it survives reordering on the Hub.
"""
from __future__ import annotations

import hashlib

from collectkit.tasks.base import Benchmark, Problem, text

FINAL = "####"


def gsm8k_problem(row: dict) -> Problem:
    question, solution = text(row, "question"), text(row, "answer")
    if FINAL not in solution:
        raise ValueError("field 'answer' has no '#### <number>' final answer")
    worked, final = solution.rsplit(FINAL, 1)
    answer = final.strip().replace(",", "")
    if not answer:
        raise ValueError("field 'answer' has an empty final answer after '####'")
    digest = hashlib.sha256(question.encode()).hexdigest()[:12]
    return Problem(
        unique_id=f"gsm8k/{digest}", dataset="gsm8k", question=question, choices=None,
        choice_index_correct=None, explanation_correct=worked.strip() or None,
        answer_correct=answer, category="grade school math", answer_kind="number")


BENCHMARK = Benchmark(
    name="gsm8k", label="GSM8K", file_tag="GSM8K", answer_kind="number", mapper=gsm8k_problem,
    default_protocols={"open": "boxed"}, categories=("grade school math",),
    hub_id="openai/gsm8k", hub_config="main",
    revision="cc7b047b6e5bb11b4f1af84efc572db110a51b3c", split="test", size=1319,
    license="MIT")
