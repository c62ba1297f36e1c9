"""AIME 2024 and AIME 2025: 30 problems each, integer answers 0-999 (graded by value).

- AIME 2024: HuggingFaceH4/aime_2024 (split `train`; id, problem, solution, answer, url, year).
  The card states no license (its source, AI-MO/aimo-validation-aime, is Apache-2.0).
- AIME 2025: yentinglin/aime_2025 (split `train`; id, problem, answer, …). The card states no
  license.
Categories are the two contests, AIME I and AIME II, where a row's url or id says which.
"""
from __future__ import annotations

import re
from functools import partial

from collectkit.tasks.base import Benchmark, Problem, text

CONTEST = re.compile(r"AIME[_ -]?(II|I)(?![A-Za-z])", re.IGNORECASE)


def aime_problem(row: dict, name: str, year: int) -> Problem:
    answer = row["answer"]
    if isinstance(answer, bool) or not isinstance(answer, (int, str)) or not str(answer).strip():
        raise ValueError("field 'answer' must be a number or a non-empty string")
    identifier = row["id"]
    contest = CONTEST.search(f"{row.get('url') or ''} {identifier}")
    category = f"AIME {year} {contest.group(1).upper()}" if contest else f"AIME {year}"
    return Problem(
        unique_id=f"{name}/{identifier}", dataset=name, question=text(row, "problem"),
        choices=None, choice_index_correct=None, explanation_correct=row.get("solution"),
        answer_correct=str(answer).strip(), category=category, answer_kind="number")


AIME_2024 = Benchmark(
    name="aime_2024", label="AIME 2024", file_tag="AIME_2024", answer_kind="number",
    mapper=partial(aime_problem, name="aime_2024", year=2024),
    default_protocols={"open": "boxed"}, categories=("AIME 2024 I", "AIME 2024 II"),
    hub_id="HuggingFaceH4/aime_2024", revision="2fe88a2f1091d5048c0f36abc874fb997b3dd99a",
    split="train", size=30, license="not stated")

AIME_2025 = Benchmark(
    name="aime_2025", label="AIME 2025", file_tag="AIME_2025", answer_kind="number",
    mapper=partial(aime_problem, name="aime_2025", year=2025),
    default_protocols={"open": "boxed"}, categories=("AIME 2025 I", "AIME 2025 II"),
    hub_id="yentinglin/aime_2025", revision="6f71d77b0b89b9dabe07ab466c51df33f514df7f",
    split="train", size=30, license="not stated")
