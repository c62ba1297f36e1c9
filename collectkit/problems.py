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

    N is split evenly between the datasets; inside each, every category gets one problem (when N
    allows) and the rest are shared in proportion to the categories' sizes, drawn at random with
    `seed`. The same (N, seed) always gives the same problems. Rows come interleaved (datasets,
    then categories round-robin), so any prefix still spreads over both.
    """
    per_dataset = []
    for name in dataset_names(dataset):
        rows = _read_bundled(name) if source == "bundled" else _read_hub(name)
        mapper = _math_problem if name == "math500" else _mmlu_problem
        per_dataset.append([_mapped(mapper, row, name, i) for i, row in enumerate(rows, 1)])
    if num_problems is not None:
        shares = _split(num_problems, [len(problems) for problems in per_dataset])
        per_dataset = [_stratified_sample(problems, share, random.Random(f"{seed}/{name}"))
                       for problems, share, name in zip(per_dataset, shares, dataset_names(dataset))]
    ordered = [_spread_over_categories(problems) for problems in per_dataset]
    return [p for p in chain.from_iterable(zip_longest(*ordered)) if p is not None]


def _split(total: int, sizes: list[int]) -> list[int]:
    """`total` shared as evenly as the sizes allow (the first ones take any odd one)."""
    shares = [0] * len(sizes)
    while total > 0 and any(share < size for share, size in zip(shares, sizes)):
        for i, size in enumerate(sizes):
            if total > 0 and shares[i] < size:
                shares[i] += 1
                total -= 1
    return shares


def _stratified_sample(problems: list[Problem], n: int, rng: random.Random) -> list[Problem]:
    by_category: dict[str, list[Problem]] = {}
    for problem in problems:
        by_category.setdefault(problem.category, []).append(problem)
    categories = sorted(by_category)
    if n >= len(problems):
        return problems
    if n < len(categories):
        return [rng.choice(by_category[c]) for c in sorted(rng.sample(categories, n))]
    # One per category, the rest by largest remainder of the proportional quota.
    spare = {c: len(by_category[c]) - 1 for c in categories}
    quotas = {c: (n - len(categories)) * spare[c] / sum(spare.values()) for c in categories}
    counts = {c: 1 + int(quotas[c]) for c in categories}
    by_remainder = sorted(categories, key=lambda c: (-(quotas[c] - int(quotas[c])), c))
    for c in by_remainder[: n - sum(counts.values())]:
        counts[c] += 1
    return [p for c in categories for p in rng.sample(by_category[c], counts[c])]


def _spread_over_categories(problems: list[Problem]) -> list[Problem]:
    by_category: dict[str, list[Problem]] = {}
    for problem in problems:
        by_category.setdefault(problem.category, []).append(problem)
    rounds = zip_longest(*(by_category[c] for c in sorted(by_category)))
    return [p for p in chain.from_iterable(rounds) if p is not None]


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
