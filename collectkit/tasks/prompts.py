"""Prompt builders, one per protocol (see protocols.py for the registry that names them).

- MMLU-Pro as its authors run it (TIGER-AI-Lab/MMLU-Pro `evaluate_from_apiX.py`): one user message,
  a header naming the category, the 5 chain-of-thought validation examples of that category, then
  the question ending "Answer: Let's think step by step.\\n\\n"; "N/A" options dropped.
- MMLU-Pro zero-shot (the kit's earlier prompt): options as "(A) …", ask for "The answer is (X)".
- MATH: `boxed` (the kit's), `qwen_boxed` (Qwen2.5-Math's system prompt), `r1` (DeepSeek-R1's
  advice: no system prompt, the instruction in the user turn), `json_answer` (ZeroEval's format).
"""
from __future__ import annotations

import gzip
import hashlib
import json
from functools import lru_cache
from importlib import resources

from collectkit.store import jsonl
from collectkit.tasks.load import LETTERS, Problem

OPEN_ENDED_TEMPLATE = (
    "Solve the following math problem. Reason step by step, then give the final answer "
    "in \\boxed{{}}.\n\n"
    "Problem: {question}"
)

MCQ_TEMPLATE = (
    "The following is a multiple choice question. Think step by step, then finish your answer "
    'with "The answer is (X)" where X is the letter of the correct option ({letters}).\n\n'
    "Question: {question}\n"
    "Options:\n{options}"
)

OFFICIAL_HEADER = (
    "The following are multiple choice questions (with answers) about {category}. Think step by"
    ' step and then output the answer in the format of "The answer is (X)" at the end.\n\n'
)
OFFICIAL_QUESTION = "Question: {question}\nOptions: {options}Answer: {answer}\n\n"
OFFICIAL_OPTION = "{letter}. {option}\n"
OFFICIAL_OPEN_ANSWER = "Let's think step by step."
OFFICIAL_TEMPLATE = (OFFICIAL_HEADER + "{5 validation examples of the category, each as: "
                     + OFFICIAL_QUESTION.replace("{answer}", "{cot_content without 'A: '}")
                     + "}" + OFFICIAL_QUESTION.replace("{answer}", OFFICIAL_OPEN_ANSWER))
VALIDATION_FILE = "mmlu_pro_validation.jsonl.gz"

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
R1_TEMPLATE = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
JSON_TEMPLATE = (
    "Solve the following math problem. Reason step by step, then reply with a JSON object "
    '{{"reasoning": "<your steps>", "answer": "<the final answer only>"}}.\n\n'
    "Problem: {question}"
)


def format_options(choices: tuple[str, ...] | list[str]) -> str:
    return "\n".join(f"({LETTERS[i]}) {choice}" for i, choice in enumerate(choices))


def build_prompt(problem: Problem) -> str:
    """The zero-shot prompt (`boxed` for MATH, `mmlu_pro_zero_shot` for multiple choice)."""
    if problem.choices is None:
        return OPEN_ENDED_TEMPLATE.format(question=problem.question)
    letters = f"A-{LETTERS[len(problem.choices) - 1]}"
    return MCQ_TEMPLATE.format(question=problem.question, letters=letters,
                               options=format_options(problem.choices))


def build_messages(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": build_prompt(problem)}]


def official_question(question: str, options: list[str] | tuple[str, ...],
                      cot_content: str = "") -> str:
    """One question block in the authors' `format_example` layout ("N/A" options dropped)."""
    kept = [option for option in options if option != "N/A"]
    answer = cot_content.removeprefix("A: ") if cot_content else OFFICIAL_OPEN_ANSWER
    listed = "".join(OFFICIAL_OPTION.format(letter=LETTERS[i], option=option)
                     for i, option in enumerate(kept))
    return OFFICIAL_QUESTION.format(question=question, options=listed, answer=answer)


@lru_cache(maxsize=1)
def validation_examples() -> dict[str, tuple[dict, ...]]:
    """The bundled MMLU-Pro validation rows, per category, in file order."""
    path = resources.files("collectkit") / "data" / VALIDATION_FILE
    by_category: dict[str, list[dict]] = {}
    with path.open("rb") as raw, gzip.open(raw, "rb") as lines:
        for _, line in jsonl.decoded_lines(lines):
            row = json.loads(line)
            by_category.setdefault(row["category"], []).append(row)
    return {category: tuple(rows) for category, rows in by_category.items()}


def validation_digest() -> str:
    """A hash of the few-shot examples, so a changed validation file changes the protocol hash."""
    path = resources.files("collectkit") / "data" / VALIDATION_FILE
    with path.open("rb") as raw, gzip.open(raw, "rb") as data:
        return hashlib.sha256(data.read()).hexdigest()


def official_prompt(problem: Problem) -> str:
    examples = validation_examples().get(problem.category)
    if not examples:
        raise ValueError(f"{problem.unique_id}: no MMLU-Pro validation examples for category "
                         f"{problem.category!r}")
    shots = "".join(official_question(e["question"], e["options"], e["cot_content"])
                    for e in examples)
    return (OFFICIAL_HEADER.format(category=problem.category) + shots
            + official_question(problem.question, problem.choices or ()))


def mmlu_pro_official_messages(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": official_prompt(problem)}]


def qwen_boxed_messages(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "system", "content": QWEN_SYSTEM}, {"role": "user", "content": problem.question}]


def r1_messages(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": R1_TEMPLATE.format(question=problem.question)}]


def json_answer_messages(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": JSON_TEMPLATE.format(question=problem.question)}]
