"""GPQA-Diamond (Idavidrein/gpqa, config `gpqa_diamond`, split `train`, CC BY 4.0, gated: log in
with a token that accepted its terms): 198 four-option science questions.

The source lists the correct answer first (`Correct Answer`, then `Incorrect Answer 1..3`), so the
options are shuffled — per question, with a random generator seeded by SHUFFLE_SEED and the row's
`Record ID` — and the seed is recorded in the run's manifest. The same seed always gives the same
order. Category: `High-level domain` (Biology, Chemistry, Physics); subject: `Subdomain`.
"""
from __future__ import annotations

import random

from collectkit.tasks.base import LETTERS, Benchmark, Problem, text

SHUFFLE_SEED = 0
INCORRECT = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def gpqa_problem(row: dict, seed: int = SHUFFLE_SEED) -> Problem:
    record_id = text(row, "Record ID").strip()
    correct = text(row, "Correct Answer").strip()
    options = [correct] + [text(row, key).strip() for key in INCORRECT]
    order = random.Random(f"{seed}/{record_id}").sample(range(4), 4)
    shuffled = tuple(options[i] for i in order)
    index = order.index(0)
    subdomain = row.get("Subdomain")
    return Problem(
        unique_id=f"gpqa_diamond/{record_id}", dataset="gpqa_diamond",
        question=text(row, "Question").strip(), choices=shuffled, choice_index_correct=index,
        explanation_correct=row.get("Explanation") or None, answer_correct=LETTERS[index],
        category=text(row, "High-level domain").strip(),
        subject=subdomain.strip() if isinstance(subdomain, str) else None, answer_kind="letter")


BENCHMARK = Benchmark(
    name="gpqa_diamond", label="GPQA-Diamond", file_tag="GPQA_Diamond", answer_kind="letter",
    mapper=gpqa_problem, default_protocols={"mcq": "multiple_choice"},
    categories=("Biology", "Chemistry", "Physics"), hub_id="Idavidrein/gpqa",
    hub_config="gpqa_diamond", revision="633f5ee89ab8ad4522a9f850766b73f62147ffdd",
    split="train", size=198, license="CC BY 4.0 (gated)", shuffle_seed=SHUFFLE_SEED)
