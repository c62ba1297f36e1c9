"""Metrics on small inputs whose values can be checked by hand."""
from __future__ import annotations

import json
import math
from fractions import Fraction

import pandas as pd
import pytest

from collectkit.analyze.metrics import (
    FRAME_COLUMNS,
    accuracy_table,
    answer_key,
    candidates,
    majority_at_k,
    pass_at_k,
    pass_maj_curve,
    responses_frame,
    summarize,
    wilson_interval,
)


def response(answer, correct, finish_reason="stop", tokens=10):
    return {"full_response": "...", "finish_reason": finish_reason,
            "usage": {"prompt_tokens": 5, "completion_tokens": tokens},
            "extracted_answer": answer, "is_correct": correct}


def graded_rows():
    """Two MATH problems and one MMLU-Pro problem, k = 2 each."""
    return [
        {"unique_id": "test/algebra/1.json", "dataset": "math500", "category": "Algebra",
         "level": 1, "model": "m", "responses": [response("5", True), response("6", False)]},
        {"unique_id": "test/geometry/2.json", "dataset": "math500", "category": "Geometry",
         "level": 2, "model": "m",
         "responses": [response(None, False, "length"), response("3", False)]},
        {"unique_id": "mmlu_pro/7", "dataset": "mmlu_pro", "category": "law", "level": None,
         "model": "m", "responses": [response("B", True), response("B", True)]},
    ]


@pytest.mark.parametrize("n,c,k,expected", [
    (5, 0, 1, 0.0),
    (5, 5, 3, 1.0),
    (5, 2, 1, 0.4),
    (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
    (4, 3, 2, 1.0),  # fewer wrong samples than k: always passes
])
def test_pass_at_k_unbiased_estimator(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_needs_enough_samples():
    assert math.isnan(pass_at_k(2, 1, 3))


@pytest.mark.parametrize("p,n,low,high", [
    (0.5, 100, 0.4038, 0.5962),
    (0.0, 10, 0.0, 0.2775),
    (1.0, 10, 0.7225, 1.0),
    (0.9, 50, 0.7864, 0.9565),
])
def test_wilson_interval(p, n, low, high):
    got_low, got_high = wilson_interval(p, n)
    assert got_low == pytest.approx(low, abs=1e-4)
    assert got_high == pytest.approx(high, abs=1e-4)


def test_wilson_interval_of_nothing_is_undefined():
    assert all(math.isnan(x) for x in wilson_interval(0.5, 0))


def votes(answers, correct, groups=None):
    return candidates(answers, groups or [None] * len(answers), correct)


@pytest.mark.parametrize("answers,correct,expected", [
    (["7", "7", "8"], [True, True, False], 1.0),
    (["8", "8", "7"], [False, False, True], 0.0),
    (["3", "4", "4", "3"], [False, True, True, False], 0.5),  # a two-way tie counts 1/2
    (["0.5", "1/2", "7", "7", r"\frac{1}{2}"], [False, False, True, True, False], 0.0),
    ([None, None, "7"], [False, False, True], 1.0),  # unparsed answers do not vote
    ([None, None], [False, False], 0.0),
    # right answers are one candidate even when spelled differently
    (["7", "7.0", "8", "9"], [True, True, False, False], 1.0),
])
def test_majority_over_all_responses(answers, correct, expected):
    assert majority_at_k(votes(answers, correct), len(answers)) == pytest.approx(expected)


def test_majority_at_k_is_the_mean_over_subsets():
    # right, right, wrong "8", unparsed: the 6 pairs -> {R,R}=1, {R,8}x2 tie=1/2 each,
    # {R,None}x2=1 each, {8,None}=0  => (1 + 1 + 2) / 6
    v = votes(["7", "7", "8", None], [True, True, False, False])
    assert majority_at_k(v, 2) == pytest.approx(4 / 6)
    assert majority_at_k(v, 1) == pytest.approx(2 / 4) == pass_at_k(4, 2, 1)  # maj@1 = pass@1
    assert math.isnan(majority_at_k(v, 5))


def test_majority_uses_the_graders_answer_groups():
    # Two wrong spellings of one value (group 1) outvote the right answer once grouped.
    answers, correct = [r"\sqrt{2}/2", r"\frac{\sqrt2}{2}", "1"], [False, False, True]
    assert majority_at_k(votes(answers, correct), 3) == pytest.approx(1 / 3)  # 3-way tie
    assert majority_at_k(votes(answers, correct, [1, 1, 0]), 3) == 0.0


def test_majority_with_many_responses_is_sampled_reproducibly():
    answers = [str(i % 9) for i in range(64)]
    correct = [a == "0" for a in answers]
    first = majority_at_k(votes(answers, correct), 32)
    assert first == majority_at_k(votes(answers, correct), 32)
    assert 0.0 < first < 1.0


def test_answer_key_merges_equal_numbers_only():
    assert answer_key("0.5") == answer_key("1/2") == answer_key(r"\dfrac{1}{2}") == Fraction(1, 2)
    assert answer_key("-\\frac{3}{4}") == Fraction(-3, 4)
    assert answer_key("(1,2)") != answer_key("12")


def test_responses_frame():
    frame = responses_frame(graded_rows())
    assert list(frame.columns) == FRAME_COLUMNS
    assert len(frame) == 6
    assert frame["unparsed"].tolist() == [False, False, True, False, False, False]
    assert frame["response_index"].tolist() == [0, 1, 0, 1, 0, 1]
    assert frame["completion_tokens"].sum() == 60
    assert responses_frame(frame) is frame


def test_responses_frame_refuses_ungraded_rows():
    rows = [{"unique_id": "a", "responses": [{"full_response": "x"}]}]
    with pytest.raises(ValueError, match="not graded"):
        responses_frame(rows)


def test_one_benchmark_has_one_overall_row():
    rows = [r for r in graded_rows() if r["dataset"] == "math500"]
    row = accuracy_table(rows).loc["all"]
    assert row["n_problems"] == 2 and row["n_responses"] == 4 and row["k"] == 2
    assert row["accuracy"] == pytest.approx(0.25)
    assert row["pass@k"] == pytest.approx(0.5)
    assert row["maj@k"] == pytest.approx(0.25)  # algebra: "5" right vs "6" wrong, a tie
    assert row["unparsed_rate"] == pytest.approx(0.25)
    assert row["truncated_rate"] == pytest.approx(0.25)
    low, high = wilson_interval(0.25, 2)  # n = problems, not responses
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert (row["pass@k_low"], row["pass@k_high"]) == pytest.approx(wilson_interval(0.5, 2))


def test_two_benchmarks_are_never_pooled():
    table = accuracy_table(graded_rows())
    assert list(table.index) == ["math500", "mmlu_pro"]
    assert table.loc["mmlu_pro", "accuracy"] == 1.0
    assert "accuracy" not in summarize(graded_rows())["overall"]


def test_problems_with_fewer_responses_weigh_the_same_and_skip_pass_at_k():
    rows = graded_rows()[:2] + [
        {"unique_id": "test/algebra/9.json", "dataset": "math500", "category": "Algebra",
         "level": 1, "model": "m", "responses": [response("1", True)]}]
    row = accuracy_table(rows).loc["all"]
    assert row["accuracy"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)  # not 2 correct / 5
    assert row["k"] == 2 and row["n_short"] == 1
    assert row["pass@k"] == pytest.approx(0.5)  # over the two problems with 2 responses


def test_macro_average_over_categories():
    rows = graded_rows() + [
        {"unique_id": f"mmlu_pro/{i}", "dataset": "mmlu_pro", "category": "math", "level": None,
         "model": "m", "responses": [response("A", False), response("A", False)]}
        for i in (100, 101, 102)]
    table = accuracy_table(rows, by="dataset")
    assert table.loc["mmlu_pro", "accuracy"] == pytest.approx(1 / 4)  # 1 of 4 problems
    assert table.loc["mmlu_pro", "macro_accuracy"] == pytest.approx(0.5)  # law 1, math 0


def test_accuracy_table_groupings():
    by_dataset = accuracy_table(graded_rows(), by="dataset")
    assert by_dataset.loc["math500", "accuracy"] == pytest.approx(0.25)
    assert by_dataset.loc["mmlu_pro", "accuracy"] == pytest.approx(1.0)
    by_category = accuracy_table(graded_rows(), by="category")
    assert by_category.index.names == ["dataset", "category"]
    assert by_category.loc[("math500", "Geometry"), "pass@k"] == 0.0
    assert by_category.loc[("math500", "Geometry"), "unparsed_rate"] == pytest.approx(0.5)
    by_level = accuracy_table(graded_rows(), by="level")
    assert list(by_level.index) == [("math500", 1), ("math500", 2)]  # MMLU-Pro has no level
    with pytest.raises(ValueError):
        accuracy_table(graded_rows(), by="subject")


def test_pass_maj_curve():
    curve = pass_maj_curve([r for r in graded_rows() if r["dataset"] == "math500"], by=None)
    assert curve["k"].tolist() == [1, 2]
    assert curve["pass@k"].tolist() == pytest.approx([0.25, 0.5])
    assert curve["maj@k"].tolist() == pytest.approx([0.25, 0.25])  # maj@1 = pass@1
    by_dataset = pass_maj_curve(graded_rows())
    assert set(by_dataset["dataset"]) == {"math500", "mmlu_pro"}
    assert len(by_dataset) == 4


def test_summarize_is_json_ready():
    summary = summarize(graded_rows())
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text)["overall"]["n_responses"] == 6
    assert summary["by_dataset"]["mmlu_pro"]["accuracy"] == 1.0
    assert summary["by_category"]["math500"]["Algebra"]["maj@k"] == 0.5
    assert set(summary["by_level"]["math500"]) == {"1", "2"}
    assert summary["models"] == ["m"]


def test_summarize_empty():
    summary = summarize([])
    assert summary["overall"]["n_problems"] == 0 and summary["overall"]["accuracy"] is None
    assert isinstance(accuracy_table(pd.DataFrame(columns=FRAME_COLUMNS)), pd.DataFrame)
