"""Bundled MATH-500 and MMLU-Pro as unified Problem rows, the selection of N, and the prompts."""
from __future__ import annotations

import copy
from collections import Counter

import pytest

from collectkit.tasks import load as problems_module
from collectkit.tasks.load import (LETTERS, Problem, ProblemError, _mapped, _math_problem,
                                 _mmlu_problem, dataset_names, file_tag, load_problems)
from collectkit.tasks.prompts import build_messages, build_prompt, format_options

MATH_SUBJECTS = {"Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra",
                 "Number Theory", "Prealgebra", "Precalculus"}
RECORD_FIELDS = {"unique_id", "dataset", "problem", "choices", "choice_index_correct",
                 "explanation_correct", "answer_correct", "category", "level", "subject", "is_mcq",
                 "answer_kind"}


@pytest.fixture(scope="module")
def everything() -> list[Problem]:
    return load_problems("both")


@pytest.fixture(scope="module")
def math(everything):
    return [p for p in everything if p.dataset == "math500"]


@pytest.fixture(scope="module")
def mmlu(everything):
    return [p for p in everything if p.dataset == "mmlu_pro"]


# ------------------------------------------------------------------------------- bundled counts

def test_bundled_counts(everything, math, mmlu):
    assert len(math) == 500
    assert len(mmlu) == 12_032
    assert len(everything) == 12_532
    assert len({p.category for p in mmlu}) == 14
    assert {p.category for p in math} == MATH_SUBJECTS


def test_single_dataset_loads_match_the_combined_one(math, mmlu):
    assert load_problems("math500") == math  # interleaving keeps each dataset's own order
    assert load_problems("mmlu_pro") == mmlu


def test_unique_ids_are_unique(everything):
    ids = [p.unique_id for p in everything]
    assert len(set(ids)) == len(ids)


# ------------------------------------------------------------------------------- unified schema

def test_math_rows(math):
    for p in math:
        assert p.choices is None and p.choice_index_correct is None and not p.is_mcq
        assert isinstance(p.level, int) and 1 <= p.level <= 5
        assert p.subject == p.category
        assert p.question.strip() and p.answer_correct.strip()
        assert p.explanation_correct  # MATH solutions are all present
    first = math[0]
    assert first.unique_id.startswith("test/") and first.unique_id.endswith(".json")


def test_mmlu_rows_answer_letter_matches_choice_index(mmlu):
    for p in mmlu:
        assert p.is_mcq and 2 <= len(p.choices) <= 10
        assert 0 <= p.choice_index_correct < len(p.choices)
        assert p.answer_correct == LETTERS[p.choice_index_correct]
        assert p.unique_id.startswith("mmlu_pro/")
        assert p.level is None and p.subject is None
        assert all(isinstance(choice, str) for choice in p.choices)
    assert Counter(len(p.choices) for p in mmlu)[10] > 9_000  # mostly 10 options A–J
    # The test split's cot_content is empty: an empty string becomes None, not "".
    assert all(p.explanation_correct is None or p.explanation_correct.strip() for p in mmlu)


def test_record_fields(math, mmlu):
    math_record, mmlu_record = math[0].record(), mmlu[0].record()
    assert set(math_record) == RECORD_FIELDS == set(mmlu_record)
    assert "question" not in math_record
    assert math_record["problem"] == math[0].question
    assert math_record["choices"] is None and math_record["is_mcq"] is False
    assert (math_record["level"], math_record["subject"]) == (math[0].level, math[0].subject)
    assert mmlu_record["choices"] == list(mmlu[0].choices)  # a list, ready for JSON
    assert mmlu_record["is_mcq"] is True and mmlu_record["dataset"] == "mmlu_pro"
    assert mmlu_record["answer_correct"] == LETTERS[mmlu_record["choice_index_correct"]]


# ---------------------------------------------------------------------------- choosing N problems

def test_small_n_covers_both_datasets_and_several_categories():
    chosen = load_problems("both", 20)
    assert len(chosen) == 20
    by_dataset = Counter(p.dataset for p in chosen)
    assert by_dataset == {"math500": 10, "mmlu_pro": 10}  # interleaved
    assert len({p.category for p in chosen if p.dataset == "mmlu_pro"}) == 10
    assert len({p.category for p in chosen if p.dataset == "math500"}) == 7
    assert len({p.unique_id for p in chosen}) == 20


def test_selection_is_seeded_random_and_deterministic(everything):
    first, second = load_problems("both", 50), load_problems("both", 50)
    assert [p.unique_id for p in first] == [p.unique_id for p in second]
    head = [row["unique_id"] for _, row in zip(range(25), problems_module._read_bundled("math500"))]
    assert {p.unique_id for p in first if p.dataset == "math500"} != set(head)  # not file order
    assert first == everything[:50]
    other_seed = load_problems("both", 50, seed=1)
    assert {p.unique_id for p in other_seed} != {p.unique_id for p in first}
    assert {p.unique_id for p in everything} >= {p.unique_id for p in first}


def test_sample_is_stratified_in_proportion_to_category_sizes(mmlu):
    sizes = Counter(p.category for p in mmlu)
    chosen = Counter(p.category for p in load_problems("mmlu_pro", 1203))
    assert sum(chosen.values()) == 1203
    for category, size in sizes.items():  # a tenth of each, to within one problem
        assert abs(chosen[category] - 1203 * size / len(mmlu)) <= 1.5, category


def test_a_larger_sample_extends_a_smaller_one():
    small, large = load_problems("both", 30, seed=5), load_problems("both", 31, seed=5)
    assert large[:30] == small


def test_fewer_problems_than_categories_take_distinct_categories():
    chosen = load_problems("mmlu_pro", 5, seed=3)
    assert len(chosen) == 5 and len({p.category for p in chosen}) == 5


def test_single_dataset_selection():
    chosen = load_problems("mmlu_pro", 14)
    assert {p.dataset for p in chosen} == {"mmlu_pro"}
    assert len({p.category for p in chosen}) == 14  # one of each category first
    math_only = load_problems("math500", 3)
    assert len(math_only) == 3 and {p.dataset for p in math_only} == {"math500"}


def test_n_larger_than_the_dataset_returns_everything():
    assert len(load_problems("math500", 10_000)) == 500


def test_unknown_dataset_is_an_error():
    with pytest.raises(ProblemError, match="gsm8"):
        load_problems("gsm8")
    with pytest.raises(ProblemError, match="choose from math500, mmlu_pro, aime_2024"):
        dataset_names("MATH")


def test_dataset_names_and_file_tags():
    assert dataset_names("both") == ("math500", "mmlu_pro")
    assert dataset_names("mmlu_pro") == ("mmlu_pro",)
    assert file_tag("math500") == "MATH_500"
    assert file_tag("mmlu_pro") == "MMLU_Pro"
    assert file_tag("both") == "MATH_500_MMLU_Pro"


# ------------------------------------------------------------------------------ malformed rows

@pytest.fixture(scope="module")
def raw_rows():
    math_row = next(iter(problems_module._read_bundled("math500")))
    mmlu_row = next(iter(problems_module._read_bundled("mmlu_pro")))
    return {"math500": math_row, "mmlu_pro": mmlu_row}


def mutate(row: dict, change: dict) -> dict:
    row = copy.deepcopy(row)
    for key, value in change.items():
        if value is DELETE:
            del row[key]
        else:
            row[key] = value
    return row


DELETE = object()
MAPPERS = {"math500": _math_problem, "mmlu_pro": _mmlu_problem}


def test_good_raw_rows_map(raw_rows):
    assert _mapped(_math_problem, raw_rows["math500"], "math500", 1).dataset == "math500"
    mapped = _mapped(_mmlu_problem, raw_rows["mmlu_pro"], "mmlu_pro", 1)
    assert mapped.unique_id == f"mmlu_pro/{raw_rows['mmlu_pro']['question_id']}"


@pytest.mark.parametrize("dataset, change, expected", [
    ("math500", {"problem": DELETE}, "missing field 'problem'"),
    ("math500", {"answer": DELETE}, "missing field 'answer'"),
    ("math500", {"unique_id": DELETE}, "missing field 'unique_id'"),
    ("math500", {"level": "Level 3"}, "'level' must be an integer"),
    ("math500", {"problem": "   "}, "'problem' must be a non-empty string"),
    ("math500", {"answer": 42}, "'answer' must be a non-empty string"),
    ("mmlu_pro", {"answer_index": DELETE}, "missing field 'answer_index'"),
    ("mmlu_pro", {"question_id": DELETE}, "missing field 'question_id'"),
    ("mmlu_pro", {"options": DELETE}, "missing field 'options'"),
    ("mmlu_pro", {"answer_index": 10, "options": [str(i) for i in range(10)]},
     "'answer_index' 10 is not an index"),
    ("mmlu_pro", {"answer_index": -1}, "'answer_index' -1 is not an index"),
    ("mmlu_pro", {"answer_index": "1"}, "'answer_index' '1' is not an index"),
    ("mmlu_pro", {"answer_index": 0, "answer": "B"}, "disagrees with answer_index 0"),
    ("mmlu_pro", {"options": "A or B"}, "'options' must be a list"),
    ("mmlu_pro", {"options": ["only one"], "answer_index": 0, "answer": "A"},
     "'options' must be a list of 2 to 10"),
    ("mmlu_pro", {"options": [str(i) for i in range(11)]}, "'options' must be a list of 2 to 10"),
    ("mmlu_pro", {"question": ""}, "'question' must be a non-empty string"),
    ("mmlu_pro", {"category": None}, "'category' must be a non-empty string"),
])
def test_malformed_rows_name_dataset_and_row(raw_rows, dataset, change, expected):
    row = mutate(raw_rows[dataset], change)
    with pytest.raises(ProblemError) as caught:
        _mapped(MAPPERS[dataset], row, dataset, 42)
    message = str(caught.value)
    assert message.startswith(f"{dataset} row 42: ")
    assert expected in message


@pytest.mark.parametrize("row", [["a", "list"], "a string", None])
def test_a_row_that_is_not_an_object(row):
    with pytest.raises(ProblemError, match=r"^mmlu_pro row 7: expected an object"):
        _mapped(_mmlu_problem, row, "mmlu_pro", 7)


def test_problem_error_is_a_value_error():
    assert issubclass(ProblemError, ValueError)


# ------------------------------------------------------------------------------------- prompts

def mcq(choices) -> Problem:
    return Problem(unique_id="t/1", dataset="mmlu_pro", question="Which one?",
                   choices=tuple(choices), choice_index_correct=0, explanation_correct=None,
                   answer_correct="A", category="test")


def test_mcq_prompt_lists_options_up_to_the_last_letter():
    prompt = build_prompt(mcq(["red", "green", "blue", "cyan"]))
    assert "Which one?" in prompt
    assert "(A) red\n(B) green\n(C) blue\n(D) cyan" in prompt
    assert "(E)" not in prompt
    assert "(A-D)" in prompt
    assert 'The answer is (X)' in prompt
    assert "\\boxed" not in prompt


def test_mcq_prompt_with_ten_options(mmlu):
    problem = next(p for p in mmlu if len(p.choices) == 10)
    prompt = build_prompt(problem)
    for letter, choice in zip(LETTERS, problem.choices):
        assert f"({letter}) {choice}" in prompt
    assert "(A-J)" in prompt and "ABCD" not in prompt
    assert 'The answer is (X)' in prompt


def test_mcq_prompt_for_a_real_short_question(mmlu):
    problem = next(p for p in mmlu if len(p.choices) == 4)
    prompt = build_prompt(problem)
    assert "(D) " in prompt and "(E) " not in prompt and "(A-D)" in prompt


def test_format_options():
    assert format_options(["x", "y"]) == "(A) x\n(B) y"


def test_open_ended_prompt_asks_for_boxed(math):
    prompt = build_prompt(math[0])
    assert "\\boxed{}" in prompt
    assert prompt.endswith(math[0].question)
    assert "(A)" not in prompt and "The answer is" not in prompt


def test_build_messages_is_one_user_turn(math, mmlu):
    for problem in (math[0], mmlu[0]):
        messages = build_messages(problem)
        assert messages == [{"role": "user", "content": build_prompt(problem)}]
