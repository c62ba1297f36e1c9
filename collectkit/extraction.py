"""Answer extraction and grading: pure functions over response text and results rows.

Multiple choice (MMLU-Pro) follows the official extraction cascade, restricted to the letters the
problem offers, and never guesses. Open-ended answers (MATH-500) are taken from the declared JSON
`"answer"` field, the last `\\boxed{}`/`\\fbox{}`, or a "final answer" phrase, and compared with the
gold answer by math-verify (`verify(gold, prediction)`, gold first) in worker processes, because
math-verify's timeouts use `signal.alarm`, which only works in a process's main thread. A
prediction spelled like the gold answer up to value-preserving rewrites (see NORMALIZE_*) is
correct without math-verify, and verdicts are cached per (gold, prediction).

Notebook API: grade_rows(rows, match="first", workers=None, timeout_s=5) -> graded copies.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

MCQ_LETTERS = "ABCDEFGHIJ"
MATCH_MODES = ("first", "last")
# The official MMLU-Pro cascade; {L} becomes the letters the problem actually offers.
ANSWER_IS_TEMPLATE = r"answer is \(?([{L}])\)?"
# The official second step is `.*[aA]nswer:\s*([A-J])`; see _answer_colon_match for why this
# shorter pattern is run instead.
ANSWER_COLON_TEMPLATE = r"(?=[aA]nswer:\s*([{L}]))"  # zero-width: occurrences may overlap
STANDALONE_LETTER_TEMPLATE = r"\b[{L}]\b"

THINK_END = "</think>"
BOX_COMMAND = re.compile(r"\\(boxed|fbox)(?![A-Za-z])\s*")
BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)  # an escaped brace (`\{`) is not a group
JSON_ANSWER_FIELD = re.compile(
    r'"answer"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))', re.DOTALL
)
PLACEHOLDER = re.compile(r"[_.…\s]*|<[^<>]*>")
# Only JSON's own escapes are undone: a lone backslash is LaTeX (`\frac`), never `\f` + "rac".
JSON_ESCAPE = re.compile(r'\\(["\\/])|\\u([0-9a-fA-F]{4})')
# Phrases that introduce a final answer; the one stated last in the response wins.
ANSWER_PHRASE = re.compile(
    r"final answer is\s*:?|(?<![A-Za-z])answer\s*(?:is\s*)?:\**|(?<![A-Za-z])answer is",
    re.IGNORECASE,
)
MATH_DOLLAR = re.compile(r"(?<!\\)\$")  # `\$` is a dollar sign, not a delimiter
MATH_DELIMITED = re.compile(
    r"\$\$(.+?)(?<!\\)\$\$|\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL
)
# Normalization for the exact-match fast path and for grouping answers in maj@k: only rewrites
# that never change a value (spacing, delimiters, \left/\right, \dfrac → \frac, text fonts).
NORMALIZE_DROP = re.compile(r"\s+|\\[,;:! ]|\\left(?![a-z])|\\right(?![a-z])|\\?\$")
NORMALIZE_FRAC = re.compile(r"\\[dt]frac(?![a-z])")
NORMALIZE_TEXT = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox)\{([^{}]*)\}")


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


@lru_cache(maxsize=None)
def _mcq_patterns(n_options: int) -> tuple[re.Pattern, ...]:
    span = "A-" + MCQ_LETTERS[max(1, min(n_options, len(MCQ_LETTERS))) - 1]
    templates = (ANSWER_IS_TEMPLATE, ANSWER_COLON_TEMPLATE, STANDALONE_LETTER_TEMPLATE)
    return tuple(re.compile(template.format(L=span)) for template in templates)


def _answer_colon_match(pattern: re.Pattern, text: str) -> str | None:
    r"""What `re.search(r".*[aA]nswer:\s*(X)", text)` returns, in linear time: `.*` stops at a
    newline, so the official pattern picks the LAST occurrence on the first line having one."""
    chosen, line_end = None, -1
    for hit in pattern.finditer(text):
        if chosen is None:
            line_end = text.find("\n", hit.start())
        elif line_end != -1 and hit.start() > line_end:
            break
        chosen = hit
    return chosen.group(1) if chosen else None


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
    hit = _answer_colon_match(answer_colon, text)
    if hit:
        return hit
    # The official `\b[A-J]\b(?!.*\b[A-J]\b)` (DOTALL) finds the last one, in quadratic time.
    last = None
    for last in standalone.finditer(text):
        pass
    return last.group(0) if last else None


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
    for token in BRACE_TOKEN.finditer(text, open_at):
        if token.group() == "{":
            depth += 1
        elif token.group() == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : token.start()]
    return None


def extract_boxed(text: str | None) -> str | None:
    """Content of the last complete `\\boxed{…}` / `\\fbox{…}` (or `\\boxed 5`), else None."""
    if not text:
        return None
    for command in reversed(list(BOX_COMMAND.finditer(text))):
        after = command.end()
        if text.startswith("{", after):
            content = _balanced_group(text, after)
        elif after > command.start() + len(command.group(1)) + 1:  # `\boxed 5`: one token
            content = re.split(r"[\s$]", text[after:], maxsplit=1)[0].rstrip(".,;")
        else:
            content = None
        if content is not None and content.strip():
            return extract_boxed(content) or content.strip()
    return None


def extract_json_answer(text: str | None) -> str | None:
    """The first real `"answer": …` field (string or number), its boxed content preferred.

    First, not last: models that keep generating after their JSON tend to invent a new question
    with its own answer, or echo the prompt's `"answer": "___"` template (skipped as a placeholder).
    """
    if not text or '"answer"' not in text:
        return None
    for field in JSON_ANSWER_FIELD.finditer(text):
        raw_string, number = field.groups()
        value = number if raw_string is None else JSON_ESCAPE.sub(
            lambda m: m.group(1) or chr(int(m.group(2), 16)), raw_string)
        answer = extract_boxed(value) or clean_answer(value)
        if answer and not PLACEHOLDER.fullmatch(answer):
            return answer
    return None


def clean_answer(answer: str | None) -> str | None:
    """Trim math delimiters, surrounding space and a sentence's final period; None if empty."""
    if answer is None:
        return None
    answer = answer.strip().rstrip(".,;").strip()
    delimited = MATH_DELIMITED.fullmatch(answer)
    if delimited:
        answer = next(group for group in delimited.groups() if group is not None)
    answer = MATH_DOLLAR.sub("", answer).strip().rstrip(".,;").strip()
    return answer or None


def _answer_after_phrase(text: str) -> str | None:
    for phrase in reversed(list(ANSWER_PHRASE.finditer(text))):
        tail = text[phrase.end() :].lstrip(" *\t")
        delimited = MATH_DELIMITED.match(tail)
        candidate = clean_answer(delimited.group(0) if delimited else tail.split("\n", 1)[0])
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
    key = NORMALIZE_TEXT.sub(r"\1", key)
    return key.rstrip(".") or None


@lru_cache(maxsize=4096)
def _parse_boxed(answer: str, timeout_s: int) -> tuple:
    from math_verify import parse  # imported lazily: MCQ-only runs never load sympy

    # Wrapping in \boxed{} makes math-verify read the whole string as one LaTeX answer.
    return tuple(parse("\\boxed{" + answer + "}", parsing_timeout=timeout_s))


def math_answers_equal(gold: str, prediction: str, timeout_s: int = 5) -> bool:
    """math-verify equivalence, gold first. Call in a main thread (it uses signal.alarm)."""
    from math_verify import verify

    gold_parsed, pred_parsed = _parse_boxed(gold, timeout_s), _parse_boxed(prediction, timeout_s)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(list(gold_parsed), list(pred_parsed), timeout_seconds=timeout_s))


def _verify_batch(pairs: list[tuple[str, str]], timeout_s: int) -> list[bool]:
    from math_verify.errors import TimeoutException  # a BaseException, not an Exception

    results = []
    for gold, prediction in pairs:
        try:
            results.append(math_answers_equal(gold, prediction, timeout_s))
        except (Exception, TimeoutException):
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


def is_mcq(row: dict[str, Any]) -> bool:
    return bool(row.get("is_mcq", row.get("dataset") == "mmlu_pro"))


def gold_letter(row: dict[str, Any]) -> str | None:
    index = row.get("choice_index_correct")
    if isinstance(index, int) and 0 <= index < len(MCQ_LETTERS):
        return MCQ_LETTERS[index]
    answer = str(row.get("answer_correct") or "").strip().upper()
    return answer if len(answer) == 1 and answer in MCQ_LETTERS else None


def extract_response_answer(row: dict[str, Any], response: dict[str, Any], match: str = "first"):
    text = response.get("full_response")
    if is_mcq(row):
        return extract_mcq_letter(text, len(row.get("choices") or MCQ_LETTERS), match)
    return extract_math_answer(text, response.get("finish_reason"))


def grade_rows(
    rows: Iterable[dict[str, Any]], match: str = "first", workers: int | None = None,
    timeout_s: int = 5,
) -> list[dict[str, Any]]:
    """Copies of the results rows whose responses gain `extracted_answer` and `is_correct`."""
    config = GradingConfig(match=match, workers=workers, timeout_s=timeout_s)
    graded = [{**row, "responses": [
        {**resp, "extracted_answer": extract_response_answer(row, resp, config.match)}
        for resp in row.get("responses") or []
    ]} for row in rows]
    pairs = [(str(row["answer_correct"]), resp["extracted_answer"])
             for row in graded if not is_mcq(row)
             for resp in row["responses"] if resp["extracted_answer"] is not None]
    verdicts = verify_pairs(pairs, config) if pairs else {}
    for row in graded:
        gold = gold_letter(row) if is_mcq(row) else str(row.get("answer_correct"))
        for resp in row["responses"]:
            answer = resp["extracted_answer"]
            resp["is_correct"] = answer is not None and (
                answer == gold if is_mcq(row) else verdicts[(gold, answer)])
    return graded
