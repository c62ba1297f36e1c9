"""Answer extraction and grading: pure functions over response text and results rows.

Multiple choice (MMLU-Pro) follows the official extraction cascade, restricted to the letters the
problem offers, and never guesses. Open-ended answers (MATH-500) are taken from the declared JSON
`"answer"` field, the last `\\boxed{}`/`\\fbox{}`, or a "final answer" phrase, and compared with the
gold answer by math-verify (`verify(gold, prediction)`, gold first) in worker processes, because
math-verify's timeouts use `signal.alarm`, which only works in a process's main thread.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

MCQ_LETTERS = "ABCDEFGHIJ"
MATCH_MODES = ("first", "last")
# The official MMLU-Pro cascade; {L} becomes the letters the problem actually offers.
ANSWER_IS_TEMPLATE = r"answer is \(?([{L}])\)?"
ANSWER_COLON_TEMPLATE = r".*[aA]nswer:\s*([{L}])"
STANDALONE_LETTER_TEMPLATE = r"\b[{L}]\b"

THINK_END = "</think>"
BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
JSON_ANSWER_FIELD = re.compile(
    r'"answer"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))', re.DOTALL
)
PLACEHOLDER = re.compile(r"[_.…\s]*|<[^<>]*>")
# Only JSON's own escapes are undone: a lone backslash is LaTeX (`\frac`), never `\f` + "rac".
JSON_ESCAPE = re.compile(r'\\(["\\/])|\\u([0-9a-fA-F]{4})')
# Phrases that introduce a final answer, strongest first; each one's LAST occurrence is used.
ANSWER_PHRASES = (
    re.compile(r"final answer is\s*:?", re.IGNORECASE),
    re.compile(r"(?<![A-Za-z])answer\s*:\**", re.IGNORECASE),
    re.compile(r"(?<![A-Za-z])answer is\s*:?", re.IGNORECASE),
)
MATH_DELIMITED = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
# Normalization used for the exact-match fast path and for grouping answers in maj@k: only
# rewrites that never change a value (spacing, delimiters, \left/\right, \dfrac → \frac).
NORMALIZE_DROP = re.compile(r"\s+|\\[,;:! ]|\\left(?![a-z])|\\right(?![a-z])|\$")
NORMALIZE_FRAC = re.compile(r"\\[dt]frac(?![a-z])")


@dataclass(frozen=True)
class GradingConfig:
    match: str = "first"  # multiple choice: which "answer is (X)" wins, the first or the last
    workers: int | None = None  # math-verify worker processes; None = os.cpu_count()
    timeout_s: int = 5  # math-verify's own per-step timeout (parse gold, parse pred, verify)

    def __post_init__(self) -> None:
        if self.match not in MATCH_MODES:
            raise ValueError(f"match must be one of {MATCH_MODES}, not {self.match!r}")
        if self.workers is not None and self.workers < 1:
            raise ValueError("workers must be >= 1")


# ---------------------------------------------------------------------------- multiple choice


@lru_cache(maxsize=None)
def _mcq_patterns(n_options: int) -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    letters = MCQ_LETTERS[: max(1, min(n_options, len(MCQ_LETTERS)))]
    span = f"A-{letters[-1]}"
    return (
        re.compile(ANSWER_IS_TEMPLATE.format(L=span)),
        re.compile(ANSWER_COLON_TEMPLATE.format(L=span)),
        re.compile(STANDALONE_LETTER_TEMPLATE.format(L=span)),
    )


def extract_mcq_letter(text: str | None, n_options: int = 10, match: str = "first") -> str | None:
    """The chosen letter, or None when the response names none (never a random guess)."""
    text = strip_thinking(text)
    if not text:
        return None
    answer_is, answer_colon, standalone = _mcq_patterns(n_options)
    if match == "last":
        found = answer_is.findall(text)
        if found:
            return found[-1]
    else:
        hit = answer_is.search(text)
        if hit:
            return hit.group(1)
    hit = answer_colon.search(text)
    if hit:
        return hit.group(1)
    # Same result as the official `\b[A-J]\b(?!.*\b[A-J]\b)` with DOTALL, without its quadratic scan.
    last = None
    for last in standalone.finditer(text):
        pass
    return last.group(0) if last else None


# ---------------------------------------------------------------------------- open-ended


def strip_thinking(text: str | None) -> str | None:
    """Drop a `<think>…</think>` block left in the answer text; an unclosed one has no answer."""
    if not text or "<think>" not in text and THINK_END not in text:
        return text
    if THINK_END not in text:
        return ""
    return text.rsplit(THINK_END, 1)[1]


def _balanced_group(text: str, open_at: int) -> str | None:
    """Content of the `{…}` group opening at text[open_at], or None if it never closes."""
    depth = 0
    for i in range(open_at, len(text)):
        char = text[i]
        if char == "\\":
            continue
        if char == "{" and text[i - 1] != "\\":
            depth += 1
        elif char == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def extract_boxed(text: str | None) -> str | None:
    """Content of the last complete `\\boxed{…}` / `\\fbox{…}` (or `\\boxed 5`), else None."""
    if not text:
        return None
    for command in reversed(list(BOX_COMMAND.finditer(text))):
        rest = command.end()
        stripped_at = rest + len(text[rest:]) - len(text[rest:].lstrip())
        if stripped_at < len(text) and text[stripped_at] == "{":
            content = _balanced_group(text, stripped_at)
        elif stripped_at > rest:  # `\boxed 5`: one whitespace-delimited token
            content = re.split(r"[\s$]", text[stripped_at:], maxsplit=1)[0]
        else:
            content = None
        if content is not None and content.strip():
            return extract_boxed(content) or content.strip()
    return None


def _decode_json_string(raw: str) -> str:
    return JSON_ESCAPE.sub(lambda m: m.group(1) or chr(int(m.group(2), 16)), raw)


def extract_json_answer(text: str | None) -> str | None:
    """The first real `"answer": …` field (string or number), its boxed content preferred.

    First, not last: models that keep generating after their JSON tend to invent a new question
    with its own answer, or echo the prompt's `"answer": "___"` template (skipped as a placeholder).
    """
    if not text or '"answer"' not in text:
        return None
    for field in JSON_ANSWER_FIELD.finditer(text):
        raw_string, number = field.groups()
        value = number if raw_string is None else _decode_json_string(raw_string)
        answer = extract_boxed(value) or clean_answer(value)
        if answer and not PLACEHOLDER.fullmatch(answer):
            return answer
    return None


def clean_answer(answer: str | None) -> str | None:
    """Trim math delimiters, surrounding space and a sentence's final period; None if empty."""
    if answer is None:
        return None
    answer = answer.strip()
    delimited = MATH_DELIMITED.match(answer)
    if delimited:
        answer = next(group for group in delimited.groups() if group is not None)
    answer = answer.strip().rstrip(".,;").strip().strip("$").strip()
    return answer or None


def _answer_after_phrase(text: str) -> str | None:
    for phrase in ANSWER_PHRASES:
        hits = list(phrase.finditer(text))
        if not hits:
            continue
        tail = text[hits[-1].end() :].lstrip(" *\t")
        delimited = MATH_DELIMITED.match(tail)
        candidate = delimited.group(0) if delimited else tail.split("\n", 1)[0]
        candidate = clean_answer(candidate)
        if candidate:
            return candidate
    return None


def extract_math_answer(text: str | None, finish_reason: str | None = None) -> str | None:
    """The final answer of an open-ended response, or None (unparsed).

    Order: declared JSON `"answer"` field, last complete `\\boxed{}`, then a "final answer is" /
    "Answer:" phrase. A response cut off by the token limit only counts a complete box or field:
    a phrase at the cut may itself be cut.
    """
    text = strip_thinking(text)
    if not text:
        return None
    answer = extract_json_answer(text) or extract_boxed(text)
    if answer is None and finish_reason != "length":
        answer = _answer_after_phrase(text)
    return answer


def normalize_math_answer(answer: str | None) -> str | None:
    """A spelling-insensitive key: equal keys mean the same LaTeX value."""
    if answer is None:
        return None
    key = NORMALIZE_FRAC.sub(r"\\frac", NORMALIZE_DROP.sub("", answer))
    return key.rstrip(".") or None


# ---------------------------------------------------------------------------- grading


def math_answers_equal(gold: str, prediction: str, timeout_s: int = 5) -> bool:
    """math-verify equivalence, gold first. Call in a main thread (it uses signal.alarm)."""
    from math_verify import parse, verify  # imported lazily: workers and MCQ-only runs

    gold_parsed = parse("\\boxed{" + gold + "}", parsing_timeout=timeout_s)
    pred_parsed = parse("\\boxed{" + prediction + "}", parsing_timeout=timeout_s)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout_s))


def _verify_batch(pairs: list[tuple[str, str]], timeout_s: int) -> list[bool]:
    results = []
    for gold, prediction in pairs:
        try:
            results.append(math_answers_equal(gold, prediction, timeout_s))
        except Exception:  # math-verify's TimeoutException is not an Exception subclass...
            results.append(False)
        except BaseException as exc:  # ...so catch it by name, and let KeyboardInterrupt through
            if type(exc).__name__ != "TimeoutException":
                raise
            results.append(False)
    return results


# Verdicts survive between calls so re-grading (notebooks, benchmarks) never re-verifies a pair.
_VERDICT_CACHE: dict[tuple[str, str], bool] = {}
VERDICT_CACHE_LIMIT = 200_000


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
    _VERDICT_CACHE.update(verdicts)
    return verdicts


def _verify_in_pool(todo: list[tuple[str, str]], config: GradingConfig) -> list[bool]:
    import math_verify  # noqa: F401  imported before forking so workers inherit it

    workers = max(1, min(config.workers or os.cpu_count() or 1, len(todo) // 8))
    chunk = max(1, min(64, len(todo) // (workers * 4)))
    batches = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(_verify_batch, batches, [config.timeout_s] * len(batches))
        return [verdict for part in parts for verdict in part]


def gold_letter(row: dict[str, Any]) -> str | None:
    index = row.get("choice_index_correct")
    if isinstance(index, int) and 0 <= index < len(MCQ_LETTERS):
        return MCQ_LETTERS[index]
    answer = str(row.get("answer_correct") or "").strip().upper()
    return answer if len(answer) == 1 and answer in MCQ_LETTERS else None


def extract_response_answer(row: dict[str, Any], response: dict[str, Any], match: str = "first"):
    text = response.get("full_response")
    if row.get("is_mcq"):
        return extract_mcq_letter(text, len(row.get("choices") or MCQ_LETTERS), match)
    return extract_math_answer(text, response.get("finish_reason"))


def grade_rows(
    rows: Iterable[dict[str, Any]], match: str = "first", workers: int | None = None,
    timeout_s: int = 5,
) -> list[dict[str, Any]]:
    """Copies of the results rows whose responses gain `extracted_answer` and `is_correct`."""
    config = GradingConfig(match=match, workers=workers, timeout_s=timeout_s)
    graded = []
    for row in rows:
        responses = [
            {**resp, "extracted_answer": extract_response_answer(row, resp, config.match)}
            for resp in row.get("responses") or []
        ]
        graded.append({**row, "responses": responses})
    pairs = [
        (str(row["answer_correct"]), resp["extracted_answer"])
        for row in graded if not row.get("is_mcq")
        for resp in row["responses"] if resp["extracted_answer"] is not None
    ]
    verdicts = verify_pairs(pairs, config) if pairs else {}
    for row in graded:
        gold = gold_letter(row) if row.get("is_mcq") else str(row.get("answer_correct"))
        for resp in row["responses"]:
            answer = resp["extracted_answer"]
            if answer is None:
                resp["is_correct"] = False
            elif row.get("is_mcq"):
                resp["is_correct"] = answer == gold
            else:
                resp["is_correct"] = verdicts[(gold, answer)]
    return graded
