"""The public entry to problems: `load_problems`, `Problem`, `dataset_names`, `file_tag`.

The benchmarks themselves live in collectkit/tasks/ (one module each, and a registry); this
module picks them from a `--dataset` value — registry names, `both`, files in the seed's
format and `hf:` specs, comma-separated — and samples them.
"""
from __future__ import annotations

import random
from itertools import chain, zip_longest
from typing import Iterator

from collectkit.tasks.base import LETTERS, Problem, ProblemError, read_bundled
from collectkit.tasks.base import mapped as _mapped  # noqa: F401  (kept importable for existing callers)
from collectkit.tasks.math500 import math_problem as _math_problem  # noqa: F401
from collectkit.tasks.mmlu_pro import mmlu_problem as _mmlu_problem  # noqa: F401
from collectkit.tasks.registry import BOTH, REGISTRY, benchmarks

__all__ = ["DATASETS", "LETTERS", "Problem", "ProblemError", "dataset_names", "file_tag",
           "load_problems"]

DATASETS = BOTH  # what `both` means
DEFAULT_SUBSET_SEED = 0


def dataset_names(dataset: str, fields: str = "") -> tuple[str, ...]:
    """`both` → ("math500", "mmlu_pro"); "gsm8k,my.jsonl" → ("gsm8k", "my"); unknown: error."""
    return tuple(b.name for b in benchmarks(dataset, fields))


def file_tag(dataset: str, fields: str = "") -> str:
    """The results file's dataset part: "MATH_500_MMLU_Pro", "GSM8K", a file's stem…"""
    return "_".join(b.file_tag for b in benchmarks(dataset, fields))


def load_problems(dataset: str = "both", num_problems: int | None = None,
                  source: str = "bundled", seed: int = DEFAULT_SUBSET_SEED,
                  fields: str = "") -> list[Problem]:
    """Problems of the named datasets; with a limit, a seeded stratified random sample.

    Each dataset is put in a seeded random order that is stratified at every length: first one
    problem of each category (categories in random order), then the categories in proportion to
    their sizes. The datasets are interleaved and the first N taken, so N is split evenly between
    them, the same (N, seed) always gives the same problems, and a larger N extends a smaller one.
    Every dataset is read and checked before any problem is returned (a bad row: ProblemError).
    """
    per_dataset = []
    owners: dict[str, str] = {}
    for benchmark in benchmarks(dataset, fields):
        problems = benchmark.problems(benchmark.rows(source))
        for problem in problems:
            other = owners.setdefault(problem.unique_id, benchmark.name)
            if other != benchmark.name:
                raise ProblemError(f"{benchmark.name}: field 'unique_id' {problem.unique_id!r} "
                                   f"is also in {other}; ids must be unique across a run")
        per_dataset.append(_stratified_order(problems, random.Random(f"{seed}/{benchmark.name}")))
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
    return read_bundled(name, REGISTRY[name].bundled or "")
