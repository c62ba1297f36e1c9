"""Answer extraction: pure functions over response text (grading is in grading.py).

Multiple choice (MMLU-Pro): `extract_official_letter` is the authors' cascade exactly (`**`
removed, then three regexes over A-J, first match; a letter beyond the question's options is kept,
and graded wrong); `extract_mcq_letter` is the same cascade restricted to the letters the problem
offers. Neither ever guesses: no letter found is None (unparsed). Open-ended answers (MATH-500):
the last `\\boxed{}`/`\\fbox{}`, then a "final answer" phrase; a JSON `"answer"` field comes first
only for protocols whose prompt asks for JSON.
"""
from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

MCQ_LETTERS = "ABCDEFGHIJ"
# The official MMLU-Pro cascade; {L} becomes the letters searched (A-J for the official protocol).
ANSWER_IS_TEMPLATE = r"answer is \(?([{L}])\)?"
# The official second step is `.*[aA]nswer:\s*([A-J])`; see _answer_colon_match for why this
# shorter pattern is run instead.
ANSWER_COLON_TEMPLATE = r"(?=[aA]nswer:\s*([{L}]))"  # zero-width: occurrences may overlap
STANDALONE_LETTER_TEMPLATE = r"\b[{L}]\b"

THINK_END = "</think>"
BOX_COMMAND = re.compile(r"\\(boxed|fbox)(?![A-Za-z])\s*")
BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)  # an escaped brace (`\{`) is not a group
BOX_TOKEN = re.compile(r"[^\s$]*")  # `\boxed 5`: the one token after the command
# An answer stated after a phrase is read from at most this many characters after it (linear
# time however many phrases a response repeats).
PHRASE_ANSWER_SPAN = 2000
JSON_ANSWER_FIELD = re.compile(
    r'"answer"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))', re.DOTALL
)
PLACEHOLDER = re.compile(r"[_.…\s]*|<[^<>]*>")
# Only JSON's own escapes are undone: a lone backslash is LaTeX (`\frac`), never `\f` + "rac".
JSON_ESCAPE = re.compile(r'\\(["\\/])|\\u([0-9a-fA-F]{4})')
# The word "answer" in the languages models most often answer in (a model asked in Russian
# writes "Ответ:").
ANSWER_WORD = r"(?<![^\W\d_])(?:answer|ответ|antwort|réponse|respuesta|resposta|risposta)"
# Phrases that introduce a final answer, markdown bold allowed around the words ("**Final
# Answer**:", "**Answer:**"); the one stated last in the response wins.
ANSWER_PHRASE = re.compile(ANSWER_WORD + r"[*\s]*(?:is\b[*\s]*:?|:)\**|答案\s*[:：]?",
                           re.IGNORECASE)
# Markdown around a whole answer (`**23**`, `` `60` ``) and quotes (`"60"`, `\"60\"` in code).
WRAPPED = re.compile(r'(\*\*|\*|`|\\?"|“)(.+?)(?:\1|”)', re.DOTALL)
MATH_DOLLAR = re.compile(r"(?<!\\)\$")  # `\$` is a dollar sign, not a delimiter
MATH_DELIMITED = re.compile(
    r"\$\$(.+?)(?<!\\)\$\$|\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL
)
# Normalization for the exact-match fast path and for grouping answers in maj@k: only rewrites
# that never change a value (spacing, delimiters, \left/\right, \dfrac → \frac, text fonts).
NORMALIZE_DROP = re.compile(r"\s+|\\[,;:! ]|\\left(?![a-z])|\\right(?![a-z])|\\?\$")
NORMALIZE_FRAC = re.compile(r"\\[dt]frac(?![a-z])")
NORMALIZE_TEXT = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox)\{([^{}]*)\}")


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
    """The chosen letter among the problem's options, or None when the response names none."""
    text = strip_thinking(text)
    return _cascade(text, n_options, match) if text else None


def extract_official_letter(text: str | None) -> str | None:
    """MMLU-Pro's `evaluate_from_apiX.py` exactly: `**` removed, cascade over A-J, first match."""
    return _cascade(text.replace("**", ""), len(MCQ_LETTERS), "first") if text else None


def _cascade(text: str, n_options: int, match: str) -> str | None:
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


def _group_ends(text: str) -> dict[int, int]:
    """{position of a `{`: position of the `}` closing it} for every closed group, in one pass
    (an unclosed `{` has no entry). One pass for all the groups keeps extraction linear: a
    response repeating `\\boxed{` thousands of times without closing them took > 30 s when each
    group was scanned to the end on its own."""
    ends: dict[int, int] = {}
    opened: list[int] = []
    for token in BRACE_TOKEN.finditer(text):
        if token.group() == "{":
            opened.append(token.start())
        elif token.group() == "}" and opened:
            ends[opened.pop()] = token.start()
    return ends


def extract_boxed(text: str | None) -> str | None:
    """Content of the last complete `\\boxed{…}` / `\\fbox{…}` (or `\\boxed 5`), else None."""
    if not text:
        return None
    ends: dict[int, int] | None = None
    for command in reversed(list(BOX_COMMAND.finditer(text))):
        after = command.end()
        if text.startswith("{", after):
            ends = _group_ends(text) if ends is None else ends
            close = ends.get(after)
            content = None if close is None else text[after + 1 : close]
        elif after > command.start() + len(command.group(1)) + 1:  # `\boxed 5`: one token
            content = BOX_TOKEN.match(text, after).group().rstrip(".,;")
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
    for _ in range(3):  # `**"60"**`: a few layers at most
        wrapped = WRAPPED.fullmatch(answer)
        if not wrapped or wrapped.group(1) in wrapped.group(2):  # `**5** and **6**`: not one
            break
        answer = wrapped.group(2).strip().rstrip(".,;").strip()
    if answer.endswith("**") and "**" not in answer[:-2]:  # `**Answer: 23**`: the bold's end
        answer = answer[:-2].rstrip()
    return answer or None


def _answer_after_phrase(text: str) -> str | None:
    """The answer stated after the last answer phrase that states one: the rest of its line,
    or the next line when the phrase ends its line (`**Final Answer:**` then `50`)."""
    for phrase in reversed(list(ANSWER_PHRASE.finditer(text))):
        tail = text[phrase.end() : phrase.end() + PHRASE_ANSWER_SPAN].lstrip(" *\t")
        if tail.startswith(("\n", "\r")):
            tail = tail.lstrip(" *\t\r\n")
        delimited = MATH_DELIMITED.match(tail)
        candidate = clean_answer(delimited.group(0) if delimited else tail.split("\n", 1)[0])
        if candidate:
            return candidate
    return None


def extract_math_answer(text: str | None, finish_reason: str | None = None,
                        json_field: bool = False) -> str | None:
    """The final answer of an open-ended response, or None (unparsed).

    Order: the JSON `"answer"` field (only with json_field, for prompts that ask for JSON), the
    last complete `\\boxed{}`, then a "final answer is" / "Answer:" phrase. A response cut off
    by the token limit only counts a complete box or field: a phrase at the cut may be cut too.
    """
    text = strip_thinking(text)
    if not text:
        return None
    answer = (json_field and extract_json_answer(text)) or extract_boxed(text)
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


SIMPLE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?|-?\d+/\d+|(-?)\\frac\{?(\d+)\}?\{?(\d+)\}?")


def answer_key(answer: str) -> Any:
    """A grouping key: the exact number if the answer is one, else the normalized string."""
    key = normalize_math_answer(answer) or ""
    number = SIMPLE_NUMBER.fullmatch(key)
    if number:
        sign, numerator, denominator = number.groups()
        if numerator is not None:
            key = f"{sign}{numerator}/{denominator}"
        try:
            return Fraction(key)
        except (ValueError, ZeroDivisionError):
            pass
    return key.upper() if len(key) == 1 else key


def normalize_text_answer(answer: str | None) -> str:
    """Exact-text grading's key: case, spacing, `\\text{}` and trailing punctuation ignored."""
    key = NORMALIZE_TEXT.sub(r"\1", str(answer or "")).replace("$", "")
    return " ".join(key.split()).rstrip(".").casefold()
