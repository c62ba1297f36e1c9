"""The letter a multiple-choice response commits to, read as a person would (`multiple_choice`).

The MMLU-Pro cascade (extraction.py) is kept for the MMLU-Pro protocols, as its authors run it.
Its second and third steps misread what models write elsewhere: `Answer:\\s*([A-D])` takes the
"A" of a next line's "Answer: D", or the "B" of "Based on…"; the last standalone capital anywhere
reads "A" from "N/A", a variable ("C = …") inside the chosen option's text, or a letter of an
unfinished calculation. This reader has three rules:

1. An answer statement — "answer" followed by ":" or "is" (bold allowed, "Final Answer:",
   "Ответ:", …), "the correct option is", or `\\boxed{` — states what follows it, on its line or, when the line ends there, on the next
   one. What it states is a letter when, past markup (`**`, `$`, `\\text{`, `(`, "option"), it
   begins with one of the options' letters standing alone: not a word's first letter ("Answer",
   "ABD"), not "N/A", not a variable being given a value ("A = …").
2. The last statement decides: naming one letter, that letter; naming several ("A, B and D"),
   none. A statement with a colon that names no letter ("Answer: N/A", "Answer: None of the
   above") is the response's final word: no statement before it counts. "… answer is …" prose naming none is passed
   over, as are statements before the one that decides.
3. Statements scoped to parts of the question ("for Reaction 1, the answer is: A) …", "for part
   (b), the answer is C") that name different letters answer each part, not the question: none.
4. Without a deciding statement, a last line that starts with an option's marker ("**B) 12**",
   "C) 6<2<4", "$$ D ) \\quad A = …") names that option. Nothing else is read: a response that
   commits to no letter is unparsed, never a guess.

Each statement is read from at most STATEMENT_SPAN characters: linear time.
"""
from __future__ import annotations

import re
from functools import lru_cache

from collectkit.tasks.extraction import ANSWER_WORD, MCQ_LETTERS, strip_thinking

SPACE = r"(?:[*\s]|\\ )*"  # spaces, bold, LaTeX's `\ `
STATEMENT = re.compile(
    rf"(?:{ANSWER_WORD}|(?<![^\W\d_])(?:correct|right|best|closest|final)\s+(?:option|choice))"
    rf"(?:{SPACE}(?:is\b{SPACE}(?P<is_colon>[:：])?|(?P<colon>[:：])))"
    r"|答案\s*(?:是|为|(?P<zh_colon>[:：]))|\\boxed\s*\{",
    re.IGNORECASE,
)
STATEMENT_SPAN = 300
# Markup before a letter: spaces and newlines, bold, math delimiters, brackets, \text{…}.
DECOR = r"(?:[\s*_$`(\[{}]|\\[(\[ ,;:!]|\\(?:text|textbf|textrm|mathbf|mathrm|boxed)\s*\{)"
# Words that may come between a statement and its letter ("Answer: Option B", "the answer is:
# the correct option is B", "Final answer:\nAnswer: D").
FILLER = (r"(?i:(?:the\s+)?(?:(?:correct|best|right|final)\s+)?(?:option|choice|letter|answer)"
          r"(?:\s+is)?[:：]?)")
# A letter stands alone: no word goes on from it, it is not "N/A" or "A/B", nor a variable given
# a value ("A = …"), nor the pronoun "I" ("I think").
ALONE = r"(?![\w/'’=-])(?!\s*=)(?<!I(?=\s+[a-z]))"
SEPARATOR = r"(?:[,;&+]|(?i:and|or|и|или)\b)"
# What comes before a statement scoped to one part ("So, for **Reaction 2**, the answer is").
PART_SCOPE = re.compile(r"\bfor\s+(?:the\s+)?\**(?:reaction|part|question|sub-?question|step|case|"
                        r"compound|product|problem)\s*\(?[\w.]{1,4}\)?\**\s*,?\s*(?:the\s+)?\**$",
                        re.IGNORECASE)
SCOPE_SPAN = 80


@lru_cache(maxsize=None)
def _patterns(n_options: int) -> tuple[re.Pattern, ...]:
    letters = "A-" + MCQ_LETTERS[max(1, min(n_options, len(MCQ_LETTERS))) - 1]
    lead = re.compile(rf"{DECOR}*(?:{FILLER}{DECOR}*)?(?P<letter>[{letters}]){ALONE}")
    # Another letter listed after the first: "A, B", "(A) and (C)", "A or B".
    more = re.compile(rf"(?:\s*[)\]}}*$]|\s*\\\))*\s*{SEPARATOR}\s*{DECOR}*[{letters}]{ALONE}")
    option_line = re.compile(rf"{DECOR}*(?i:option\s+)?(?P<letter>[{letters}])\s*"
                             rf"(?:[).:]|\*\*|\$|\}}|$)")
    # A line with a second marker ("A) HCl, B) propanal") labels parts, not a choice.
    second_marker = re.compile(rf"(?<![\w\\])[{letters}]\s*\)")
    return lead, more, option_line, second_marker


def extract_choice_letter(text: str | None, n_options: int = 4,
                          match: str = "first") -> str | None:
    """The letter the response commits to among the first n_options, or None (unparsed).
    match="first": the first statement naming a letter decides (as the official GPQA reader,
    simple-evals, takes the first "Answer: X"); "last": the last one does, and a final "Answer:
    N/A" ends the search."""
    text = strip_thinking(text)
    if not text:
        return None
    lead, more, option_line, second_marker = _patterns(n_options)
    statements = list(STATEMENT.finditer(text))
    if _answers_parts(text, statements, lead, more):
        return None
    for statement in statements if match == "first" else reversed(statements):
        content = text[statement.end() : statement.end() + STATEMENT_SPAN]
        names_letters, letter = _stated_letter(content, lead, more)
        if names_letters:
            return letter
        colon = statement.group("colon") or statement.group("is_colon") or statement.group(
            "zh_colon")
        if match != "first" and colon and content.strip(" \t\r\n*"):
            break  # "Answer: N/A": the final word names no letter
    last_line = text.rstrip().rsplit("\n", 1)[-1]
    marker = option_line.match(last_line)
    if marker and not second_marker.search(last_line, marker.end()):
        return marker.group("letter")
    return None


def _answers_parts(text: str, statements: list[re.Match], lead: re.Pattern,
                   more: re.Pattern) -> bool:
    """Whether statements scoped to parts of the question name different letters (rule 3)."""
    named = set()
    for statement in statements:
        start = statement.start()
        floor = max(0, start - SCOPE_SPAN)
        before = text[text.rfind("\n", floor, start) + 1 or floor:start]
        if not PART_SCOPE.search(before):
            continue
        _, letter = _stated_letter(text[statement.end() : statement.end() + STATEMENT_SPAN],
                                   lead, more)
        if letter:
            named.add(letter)
    return len(named) > 1


def _stated_letter(content: str, lead: re.Pattern, more: re.Pattern) -> tuple[bool, str | None]:
    """(whether what a statement states begins with letters, the one letter or None for several)."""
    letter = lead.match(content)
    if not letter:
        return False, None
    return True, None if more.match(content, letter.end()) else letter.group("letter")
