"""Figures a researcher can trust: a panel per benchmark, zero bars visible, missing levels marked."""
from __future__ import annotations

import pytest

from collectkit.analyze import compare
from collectkit.analyze import metrics
from collectkit.analyze import plots


def response(answer, correct):
    return {"extracted_answer": answer, "is_correct": correct, "finish_reason": "stop"}


def rows():
    """MATH levels 1 and 3 only; Geometry and MMLU-Pro law never right; MMLU-Pro has a "math"."""
    return [
        {"unique_id": "a", "dataset": "math500", "category": "Algebra", "level": 1, "model": "m",
         "responses": [response("5", True), response("6", False)]},
        {"unique_id": "g", "dataset": "math500", "category": "Geometry", "level": 3, "model": "m",
         "responses": [response("1", False), response("2", False)]},
        {"unique_id": "m", "dataset": "mmlu_pro", "category": "math", "level": None, "model": "m",
         "responses": [response("B", True), response("C", False)]},
        {"unique_id": "l", "dataset": "mmlu_pro", "category": "law", "level": None, "model": "m",
         "responses": [response("A", False), response(None, False)]},
    ]


def panel_labels(fig):
    return {ax.get_title(loc="left"): [t.get_text() for t in ax.get_yticklabels()]
            for ax in fig.axes}


def test_categories_get_one_panel_per_benchmark():
    labels = panel_labels(plots.accuracy_by_category(rows()))
    assert set(labels) == {"MATH-500", "MMLU-Pro"}
    assert all("math" not in label for label in labels["MATH-500"])
    assert any(label.startswith("math ") for label in labels["MMLU-Pro"])


def test_zero_bars_are_drawn():
    fig = plots.accuracy_by_category(rows())
    stubs = [line for ax in fig.axes for line in ax.lines if line.get_gid() == "zero-bar"]
    assert sorted(y for line in stubs for y in line.get_ydata()) == [0, 1]  # Geometry, law


def test_missing_math_levels_are_marked():
    fig = plots.accuracy_by_level(rows())
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["Level 1\n(n=1)", "Level 2\n(n=0)", "Level 3\n(n=1)", "Level 4\n(n=0)",
                     "Level 5\n(n=0)"]
    assert sum("no problems" in t.get_text() for t in ax.texts) == 3


def test_curve_starts_with_maj_at_1_equal_to_pass_at_1():
    curve = metrics.pass_maj_curve(rows())
    first = curve[curve["k"] == 1]
    assert first["maj@k"].tolist() == pytest.approx(first["pass@k"].tolist())
    plots.pass_maj_curve(curve)  # draws without error


def test_compare_figure_groups_runs_within_each_benchmark():
    other = [dict(row, responses=[response("x", False)] * 2) for row in rows()]
    fig = plots.compare_categories(compare.category_table({"A": rows(), "B": other}))
    assert {ax.get_title(loc="left") for ax in fig.axes} == {"MATH-500", "MMLU-Pro"}
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "B"]


def test_rounded_tables_show_two_decimals():
    table = metrics.rounded(metrics.accuracy_table(rows(), by="category"))
    assert all(round(value, 2) == value for value in table["ci_high"])


def test_throughput_table_figure_is_not_a_strip():
    """The throughput table (11 columns, 2 rows) is drawn transposed: a readable block, not the
    1925×203 strip it was."""
    from collectkit.analyze import plots

    manifest = {"runs": [{"started": "2026-01-01T00:00:00", "status": "finished", "done": 20,
                          "failed": 0, "responses": 80, "prompt_tokens": 12000,
                          "completion_tokens": 20000, "wall_s": 300.0,
                          "completion_tokens_per_s": 66.7, "problems_per_min": 4.0,
                          "n_per_request": True}],
                "totals": {"done": 20, "wall_s": 300.0}, "created": "2026-01-01T00:00:00",
                "status": "finished"}
    table = plots.throughput_table(manifest)
    assert table.shape[1] > 2 * table.shape[0]
    width, height = plots.table_figure(table, "Tokens and throughput").get_size_inches()
    assert width <= 8 and width / height < 2.5, (width, height)
    metrics_table = plots.table_figure(table.T.iloc[:3])  # a tall table stays as it is
    assert metrics_table.get_size_inches()[1] > 1
