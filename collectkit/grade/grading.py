"""Grading: is each extracted answer right, and which answers of one problem are the same answer.

Each row's protocol (protocols.for_row) decides how its answers are extracted; its answer kind
(tasks: letter, math, number, exact) how they are graded, never its benchmark's name. Multiple
choice is right when the letter is the gold one; numbers when their values are equal ("1,000" =
"1000"); exact text when its normalized spelling is. Math answers are compared with the gold
answer by math-verify (`verify(gold, prediction)`, gold first) in worker processes, because math-verify's
timeouts use `signal.alarm`, which only works in a process's main thread. A prediction spelled like
the gold answer up to value-preserving rewrites (extraction.NORMALIZE_*) is right without
math-verify, and verdicts are cached per (gold, prediction). Every comparison is bounded in time
(math-verify's timeout per step); one that runs out is not a verdict: its response is counted
unparsed (`grading_timeout`). The workers die with their parent (workers.py).

`answer_group` numbers the distinct answers of one problem in order of appearance (None:
unparsed). Right answers are one group (each is equivalent to the gold answer); wrong answers
merge by the same test — equal spelling or number, else math-verify — so maj@k treats them alike.

Notebook API: grade_rows(rows, match="first", workers=None, timeout_s=5, protocol=None,
unrecorded_protocol=None) -> graded copies.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable

from collectkit.store.results import read_results
from collectkit.tasks import protocols
from collectkit.tasks.extraction import MCQ_LETTERS, answer_key, normalize_math_answer, normalize_text_answer
from collectkit.tasks.number_answers import number_value, strict_number
from collectkit.tasks.registry import answer_kind_of
from collectkit.grade.workers import die_with_parent

MATCH_MODES = ("first", "last")
# Wrong answers of one problem compared pairwise by math-verify at most this many (else by key).
MAX_WRONG_ANSWERS_COMPARED = 12


@dataclass(frozen=True)
class GradingConfig:
    match: str = "first"  # multiple choice: which "answer is (X)" / "Answer: X" wins
    # math-verify worker processes; None = os.cpu_count(); 0 = in this process, which must then be
    # running in its main thread (a worker of its own, as analyze.live's)
    workers: int | None = None
    timeout_s: int = 5  # math-verify's own per-step timeout (parse gold, parse pred, verify)

    def __post_init__(self) -> None:
        if self.match not in MATCH_MODES:
            raise ValueError(f"match must be one of {MATCH_MODES}, not {self.match!r}")
        if self.workers is not None and self.workers < 0:
            raise ValueError("workers must be >= 0")


@lru_cache(maxsize=4096)
def _parse_boxed(answer: str, timeout_s: int, raise_timeouts: bool = False) -> tuple:
    from math_verify import parse  # imported lazily: MCQ-only runs never load sympy

    # Wrapping in \boxed{} makes math-verify read the whole string as one LaTeX answer.
    return tuple(parse("\\boxed{" + answer + "}", parsing_timeout=timeout_s,
                       raise_on_error=raise_timeouts))


def math_answers_equal(gold: str, prediction: str, timeout_s: int = 5,
                       raise_timeouts: bool = False) -> bool:
    """math-verify equivalence, gold first. Call in a main thread (it uses signal.alarm). With
    raise_timeouts, a step that runs out of time raises math_verify's TimeoutException (and
    other errors raise too) instead of answering False."""
    from math_verify import verify

    gold_parsed = _parse_boxed(gold, timeout_s, raise_timeouts)
    pred_parsed = _parse_boxed(prediction, timeout_s, raise_timeouts)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(list(gold_parsed), list(pred_parsed), timeout_seconds=timeout_s,
                       raise_on_error=raise_timeouts))


def _verify_batch(pairs: list[tuple[str, str]], timeout_s: int) -> list[bool | None]:
    """Verdicts; None where math-verify ran out of time (not a verdict)."""
    from math_verify.errors import TimeoutException  # a BaseException, not an Exception

    results: list[bool | None] = []
    for gold, prediction in pairs:
        try:
            results.append(math_answers_equal(gold, prediction, timeout_s, raise_timeouts=True))
        except TimeoutException:
            results.append(None)
        except Exception:
            results.append(False)
    return results


# Verdicts survive between calls so re-grading (notebooks, benchmarks) never re-verifies a pair.
_VERDICT_CACHE: dict[tuple[str, str], bool] = {}
VERDICT_CACHE_LIMIT = 200_000


def clear_grading_cache() -> None:
    _VERDICT_CACHE.clear()
    _parse_boxed.cache_clear()


def verify_pairs(pairs: Iterable[tuple[str, str]], config: GradingConfig = GradingConfig()) -> dict:
    """{(gold, prediction): bool} for every pair; only uncached, non-identical ones reach
    math-verify, in a process pool (none is started when there is nothing to verify)."""
    verdicts: dict[tuple[str, str], bool] = {}
    todo = []
    for pair in set(pairs):
        if pair in _VERDICT_CACHE:
            verdicts[pair] = _VERDICT_CACHE[pair]
        elif normalize_math_answer(pair[0]) == normalize_math_answer(pair[1]):
            verdicts[pair] = True
        else:
            todo.append(pair)
    todo.sort()
    results = _verify_in_pool(todo, config) if todo else []
    for pair, verdict in zip(todo, results):
        verdicts[pair] = verdict
    if len(_VERDICT_CACHE) + len(verdicts) > VERDICT_CACHE_LIMIT:
        _VERDICT_CACHE.clear()
    _VERDICT_CACHE.update((pair, v) for pair, v in verdicts.items() if v is not None)
    return verdicts


def _verify_in_pool(todo: list[tuple[str, str]], config: GradingConfig) -> list[bool]:
    if config.workers == 0:
        return _verify_batch(todo, config.timeout_s)
    import math_verify  # noqa: F401  imported before forking so workers inherit it

    workers = max(1, min(config.workers or os.cpu_count() or 1, len(todo) // 8))
    chunk = max(1, min(64, len(todo) // (workers * 4)))
    batches = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    with cf.ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent,
                                initargs=(os.getpid(),)) as pool:
        parts = pool.map(_verify_batch, batches, [config.timeout_s] * len(batches))
        return [verdict for part in parts for verdict in part]


def is_mcq(row: dict[str, Any]) -> bool:
    return answer_kind_of(row) == "letter"


def _settled(kind: str, gold: str, answer: str) -> bool | None:
    """A verdict that needs no math-verify, or None: numbers compare by value, the answer's
    value read through units and words ("310 ounces"; number_answers.py; an answer stating no
    single number goes on to math-verify), exact text by its normalized spelling."""
    if kind == "exact":
        return normalize_text_answer(answer) == normalize_text_answer(gold)
    if kind == "number":
        gold_value, value = strict_number(gold), number_value(answer)
        if gold_value is not None and value is not None:
            return gold_value == value
    return None


def gold_letter(row: dict[str, Any]) -> str | None:
    index = row.get("choice_index_correct")
    if isinstance(index, int) and 0 <= index < len(MCQ_LETTERS):
        return MCQ_LETTERS[index]
    answer = str(row.get("answer_correct") or "").strip().upper()
    return answer if len(answer) == 1 and answer in MCQ_LETTERS else None


def extract_response_answer(row: dict[str, Any], response: dict[str, Any], match: str = "first",
                            protocol: protocols.Protocol | None = None) -> str | None:
    protocol = protocol or protocols.for_row(row)
    return protocol.extract(response.get("full_response"), len(row.get("choices") or MCQ_LETTERS),
                            response.get("finish_reason"), match)


def grade_rows(
    rows: Iterable[dict[str, Any]], match: str = "first", workers: int | None = None,
    timeout_s: int = 5, protocol: str | None = None, unrecorded_protocol: str | None = None,
) -> list[dict[str, Any]]:
    """Copies of the results rows whose responses gain `extracted_answer`, `is_correct` and
    `answer_group`. `protocol` overrides the protocol each row records (a name from
    protocols.PROTOCOLS); `unrecorded_protocol` names the protocol(s), one per family and
    comma-separated, for rows that record none (outputs collected elsewhere; default: the
    legacy zero-shot prompts); `match` chooses the first or last "answer is (X)" for the
    zero-shot multiple-choice protocols (the official one always takes the first, as its
    authors do)."""
    config = GradingConfig(match=match, workers=workers, timeout_s=timeout_s)
    extract = Extractor(config.match, protocol, unrecorded_protocol)
    return grade_extracted([extract(row) for row in rows], config)


class Extractor:
    """row → a copy whose responses gain `extracted_answer` (the first step of grade_rows).
    With texts=False the copy's responses hold nothing else: what grading needs of a row,
    without its texts (grade/stream.py grades files that way, a row at a time)."""

    def __init__(self, match: str = "first", protocol: str | None = None,
                 unrecorded_protocol: str | None = None, texts: bool = True) -> None:
        self.match, self.texts = match, texts
        self.chosen = protocols.get(protocol) if protocol else None
        self.fallback = protocols.by_family(unrecorded_protocol)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        row_protocol = self.chosen or protocols.for_row(row, self.fallback)
        responses = row.get("responses") or []
        answers = [extract_response_answer(row, resp, self.match, row_protocol)
                   for resp in responses]
        if not self.texts:
            return {**{k: v for k, v in row.items() if k != "responses"},
                    "responses": [{"extracted_answer": answer} for answer in answers]}
        return {**row, "responses": [{**resp, "extracted_answer": answer}
                                     for resp, answer in zip(responses, answers)]}


def grade_extracted(graded: list[dict[str, Any]], config: GradingConfig = GradingConfig()
                    ) -> list[dict[str, Any]]:
    """Grade rows whose responses hold `extracted_answer` (Extractor's), in place: each
    response gains `is_correct` and `answer_group`; returns the rows."""
    kinds = [answer_kind_of(row) for row in graded]
    pairs = [(str(row["answer_correct"]), resp["extracted_answer"])
             for row, kind in zip(graded, kinds) if kind != "letter"
             for resp in row["responses"] if resp["extracted_answer"] is not None
             and _settled(kind, str(row["answer_correct"]), resp["extracted_answer"]) is None]
    verdicts = verify_pairs(pairs, config) if pairs else {}
    for row, kind in zip(graded, kinds):
        gold = gold_letter(row) if kind == "letter" else str(row.get("answer_correct"))
        for resp in row["responses"]:
            answer = resp["extracted_answer"]
            if answer is None:
                resp["is_correct"] = False
            elif kind == "letter":
                resp["is_correct"] = answer == gold
            else:
                settled = _settled(kind, gold, answer)
                verdict = verdicts[(gold, answer)] if settled is None else settled
                if verdict is None:  # grading ran out of time: unparsed, and counted as such
                    resp["extracted_answer"], resp["grading_timeout"] = None, True
                    resp["unverified_answer"] = answer
                resp["is_correct"] = bool(verdict)
    _assign_answer_groups(graded, config)
    return graded


def _group_key(kind: str, answer: str) -> Any:
    """Answers with equal keys are one answer: a number row's by value ("310 ounces" = "310")."""
    value = number_value(answer) if kind == "number" else None
    return answer_key(answer) if value is None else value


def _wrong_answers(row: dict[str, Any], kind: str) -> dict[Any, str]:
    """Distinct wrong answers of an open-ended row: key -> first spelling seen."""
    found: dict[Any, str] = {}
    for resp in row["responses"]:
        if resp["extracted_answer"] is not None and not resp["is_correct"]:
            found.setdefault(_group_key(kind, resp["extracted_answer"]), resp["extracted_answer"])
    return found


def _assign_answer_groups(graded: list[dict[str, Any]], config: GradingConfig) -> None:
    kinds = {id(row): answer_kind_of(row) for row in graded}
    wrong = {id(row): _wrong_answers(row, kinds[id(row)]) for row in graded if not is_mcq(row)}
    # Two different values are two answers: only pairs not both read as numbers need math-verify.
    pairs = [(a, b) for found in wrong.values() if len(found) <= MAX_WRONG_ANSWERS_COMPARED
             for (key_a, a), (key_b, b) in combinations(found.items(), 2)
             if normalize_math_answer(a) != normalize_math_answer(b)
             and not (isinstance(key_a, Fraction) and isinstance(key_b, Fraction))]
    same = verify_pairs(pairs, config) if pairs else {}
    for row in graded:
        merged: dict[Any, Any] = {}  # answer key -> the key of the group it joined
        if not is_mcq(row):
            spellings = list(wrong[id(row)].items())
            for position, (key, spelling) in enumerate(spellings):
                merged[key] = next((merged[earlier] for earlier, first in spellings[:position]
                                    if same.get((first, spelling))), key)
        groups: dict[Any, int] = {}
        for resp in row["responses"]:
            answer = resp["extracted_answer"]
            if answer is None:
                resp["answer_group"] = None
                continue
            if resp["is_correct"]:
                key: Any = ("correct",)
            else:
                key = answer if is_mcq(row) else merged[_group_key(kinds[id(row)], answer)]
            resp["answer_group"] = groups.setdefault(key, len(groups))


def grade_file(path: str | Path, match: str = "first", workers: int | None = None,
               timeout_s: int = 5, protocol: str | None = None) -> list[dict[str, Any]]:
    """Read one results file and return its rows graded (see grade_rows); `protocol`
    reads the rows that record none (outputs collected elsewhere)."""
    return grade_rows(read_results(Path(path)), match=match, workers=workers, timeout_s=timeout_s,
                      unrecorded_protocol=protocol)
