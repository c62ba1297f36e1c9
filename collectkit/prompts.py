"""Prompt templates: open-ended (answer in \\boxed{}) and multiple choice (options (A)…(J))."""
from __future__ import annotations

from .problems import LETTERS, Problem

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


def format_options(choices: tuple[str, ...] | list[str]) -> str:
    return "\n".join(f"({LETTERS[i]}) {choice}" for i, choice in enumerate(choices))


def build_prompt(problem: Problem) -> str:
    if problem.choices is None:
        return OPEN_ENDED_TEMPLATE.format(question=problem.question)
    letters = f"A-{LETTERS[len(problem.choices) - 1]}"
    return MCQ_TEMPLATE.format(question=problem.question, letters=letters,
                               options=format_options(problem.choices))


def build_messages(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": build_prompt(problem)}]
