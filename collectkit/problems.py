"""MATH-500 and MMLU-Pro as one schema of Problem rows, from the bundled copies or the HF Hub."""
from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from importlib import resources
from itertools import chain, zip_longest
from typing import Any, Iterable, Iterator

DATASETS = ("math500", "mmlu_pro")
HUB_IDS = {"math500": "HuggingFaceH4/MATH-500", "mmlu_pro": "TIGER-Lab/MMLU-Pro"}
BUNDLED_FILES = {"math500": "math500.jsonl.gz", "mmlu_pro": "mmlu_pro_test.jsonl.gz"}
FILE_TAGS = {"math500": "MATH_500", "mmlu_pro": "MMLU_Pro"}
LETTERS = "ABCDEFGHIJ"
DEFAULT_SUBSET_SEED = 0


class ProblemError(ValueError):
    """A dataset row is missing a field or has one of the wrong type."""


@dataclass(frozen=True)
class Problem:
    unique_id: str
    dataset: str
    question: str
    choices: tuple[str, ...] | None
    choice_index_correct: int | None
    explanation_correct: str | None
    answer_correct: str
    category: str
    level: int | None = None
    subject: str | None = None

    @property
    def is_mcq(self) -> bool:
        return self.choices is not None

    def record(self) -> dict[str, Any]:
        """The problem's fields as they appear in a results line (unique_id first)."""
        return {"unique_id": self.unique_id, "dataset": self.dataset, "problem": self.question,
                "is_mcq": self.is_mcq,
                "choices": list(self.choices) if self.choices is not None else None,
                "choice_index_correct": self.choice_index_correct,
                "explanation_correct": self.explanation_correct,
                "answer_correct": self.answer_correct, "category": self.category,
                "level": self.level, "subject": self.subject}


def dataset_names(dataset: str) -> tuple[str, ...]:
    """`both` → both names; a single name → itself."""
    if dataset == "both":
        return DATASETS
    if dataset not in DATASETS:
        raise ProblemError(f"unknown dataset {dataset!r}: choose math500, mmlu_pro or both")
    return (dataset,)


def file_tag(dataset: str) -> str:
    return "_".join(FILE_TAGS[name] for name in dataset_names(dataset))


def load_problems(dataset: str = "both", num_problems: int | None = None,
                  source: str = "bundled", seed: int = DEFAULT_SUBSET_SEED) -> list[Problem]:
    """Problems of one or both datasets; with a limit, a seeded stratified random sample.

    Each dataset is put in a seeded random order that is stratified at every length: first one
    problem of each category (categories in random order), then the categories in proportion to
    their sizes. The datasets are interleaved and the first N taken, so N is split evenly between
    them, the same (N, seed) always gives the same problems, and a larger N extends a smaller one.
    """
    per_dataset = []
    for name in dataset_names(dataset):
        rows = _read_bundled(name) if source == "bundled" else _read_hub(name)
        mapper = _math_problem if name == "math500" else _mmlu_problem
        problems = [_mapped(mapper, row, name, i) for i, row in enumerate(rows, 1)]
        per_dataset.append(_stratified_order(problems, random.Random(f"{seed}/{name}")))
    ordered = [p for p in chain.from_iterable(zip_longest(*per_dataset)) if p is not None]
    return ordered if num_problems is None else ordered[:num_problems]


def _stratified_order(problems: list[Problem], rng: random.Random) -> list[Problem]:
    by_category: dict[str, list[Problem]] = {}
    for problem in problems:
        by_category.setdefault(problem.category, []).append(problem)
    keyed = []
    for category in sorted(by_category):
        members = rng.sample(by_category[category], len(by_category[category]))
        # The i-th of a category's n problems sits at i/n: a prefix holds each category in
        # proportion to its size, and all the firsts (at 0) come before any second.
        keyed += [(i / len(members), rng.random(), problem) for i, problem in enumerate(members)]
    return [problem for _, _, problem in sorted(keyed, key=lambda item: item[:2])]


def _read_bundled(name: str) -> Iterator[dict]:
    path = resources.files("collectkit") / "data" / BUNDLED_FILES[name]
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProblemError(f"{name} line {number}: not valid JSON ({exc.msg})") from None


def _read_hub(name: str) -> Iterable[dict]:
    from datasets import load_dataset  # heavy; only when the Hub is asked for

    return load_dataset(HUB_IDS[name], split="test")


def _mapped(mapper, row: Any, name: str, number: int) -> Problem:
    if not isinstance(row, dict):
        raise ProblemError(f"{name} row {number}: expected an object, got {type(row).__name__}")
    try:
        return mapper(row)
    except KeyError as exc:
        raise ProblemError(f"{name} row {number}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ProblemError(f"{name} row {number}: {exc}") from None


def _text(row: dict, key: str) -> str:
    value = row[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {key!r} must be a non-empty string")
    return value


def _math_problem(row: dict) -> Problem:
    level = row["level"]
    if not isinstance(level, int):
        raise ValueError("field 'level' must be an integer")
    return Problem(
        unique_id=_text(row, "unique_id"), dataset="math500", question=_text(row, "problem"),
        choices=None, choice_index_correct=None, explanation_correct=row.get("solution"),
        answer_correct=_text(row, "answer"), category=_text(row, "subject"),
        level=level, subject=row["subject"])


def _mmlu_problem(row: dict) -> Problem:
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
        question=_text(row, "question"), choices=tuple(str(o) for o in options),
        choice_index_correct=index, explanation_correct=row.get("cot_content") or None,
        answer_correct=row["answer"], category=_text(row, "category"))
