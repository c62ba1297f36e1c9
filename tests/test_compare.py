"""compare: runs side by side from real files, paired tests, agreement, CSV/Parquet export."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectkit import compare
from collectkit.problems import load_problems


def write_run(path: Path, answers: dict[str, list[str]], model: str = "m") -> Path:
    """A raw results file over real bundled problems: each problem's responses name `answers`."""
    problems = {p.unique_id: p for p in load_problems("both", 12)}
    with path.open("w") as out:
        for uid, texts in answers.items():
            row = {**problems[uid].record(), "model": model, "status": "ok",
                   "protocol": "mmlu_pro_official" if problems[uid].is_mcq else "boxed",
                   "responses": [{"full_response": t, "finish_reason": "stop"} for t in texts]}
            out.write(json.dumps(row) + "\n")
    return path


@pytest.fixture
def two_runs(tmp_path):
    problems = load_problems("both", 12)
    good, bad = {}, {}
    for p in problems:
        right = f"The answer is ({p.answer_correct})." if p.is_mcq else f"\\boxed{{{p.answer_correct}}}"
        wrong = "The answer is (J)." if p.is_mcq and p.answer_correct != "J" else (
            "The answer is (A)." if p.is_mcq else "\\boxed{-12345}")
        good[p.unique_id] = [right, right]
        bad[p.unique_id] = [wrong, right] if p.unique_id == problems[0].unique_id else [wrong] * 2
    return write_run(tmp_path / "good.jsonl", good), write_run(tmp_path / "bad.jsonl", bad)


def test_leaderboard_categories_and_paired_test(two_runs):
    runs = compare.load_runs(list(two_runs))
    assert list(runs) == ["good", "bad"]
    board = compare.leaderboard(runs)
    assert set(board.index.get_level_values("dataset")) == {"math500", "mmlu_pro"}
    assert board.loc[("math500", "good"), "accuracy"] == 1.0
    assert board.loc[("mmlu_pro", "bad"), "accuracy"] == 0.0
    categories = compare.category_table(runs)
    assert set(categories["run"]) == {"good", "bad"}
    assert (categories["ci_low"] <= categories["accuracy"]).all()
    problems, tests = compare.paired_differences(runs)
    assert len(problems) == 12 and set(tests["dataset"]) == {"math500", "mmlu_pro"}
    math_test = tests.set_index("dataset").loc["math500"]
    assert math_test["difference"] == pytest.approx(-(1 - 0.5 / 6))  # one problem half right
    assert math_test["worse"] == 6 and math_test["better"] == 0
    assert math_test["p_value"] < 0.01 and math_test["ci_high"] < 0


def test_identical_runs_agree_fully_and_differ_by_nothing(two_runs, tmp_path):
    good = two_runs[0]
    copy = tmp_path / "copy.jsonl"
    copy.write_text(good.read_text())
    runs = compare.load_runs([good, copy])
    _, tests = compare.paired_differences(runs)
    assert (tests["difference"] == 0).all() and (tests["p_value"] == 1.0).all()
    agree = compare.agreement(runs)
    assert (agree["agreement"] == 1.0).all() and (agree["same_answer"] == 1.0).all()
    assert (agree["n_pairs"] == 12).all()


def test_agreement_counts(two_runs):
    agree = compare.agreement(compare.load_runs(list(two_runs))).set_index("dataset")
    math_row = agree.loc["math500"]
    assert (math_row["both_right"], math_row["only_baseline_right"], math_row["only_run_right"],
            math_row["both_wrong"]) == (1, 11, 0, 0)
    assert math_row["agreement"] == pytest.approx(1 / 12)


def test_paired_bootstrap():
    low, high, p = compare.paired_bootstrap(np.array([0.0, 1.0] * 50))
    assert low < 0.5 < high and p < 1e-3
    low, high, p = compare.paired_bootstrap(np.array([1.0, -1.0] * 50))
    assert low < 0 < high and p == 1.0
    assert all(math.isnan(x) for x in compare.paired_bootstrap(np.array([])))


def test_cli_exports_csv_parquet_and_figure(two_runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = compare.main([str(two_runs[0]), str(two_runs[1]), "--labels", "A,B", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "leaderboard" in printed and "paired differences" in printed and "p_value" in printed
    csv = pd.read_csv(out / "responses.csv")
    parquet = pd.read_parquet(out / "responses.parquet")
    assert len(csv) == len(parquet) == 2 * 12 * 2
    assert set(parquet["run"]) == {"A", "B"}
    assert list(parquet.columns[:3]) == ["run", "unique_id", "dataset"]
    assert (out / "categories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pd.read_csv(out / "paired_tests.csv")["p_value"].notna().all()


def test_processed_files_keep_their_grades(two_runs, tmp_path):
    runs = compare.load_runs([two_runs[0]])
    processed = tmp_path / "good.processed.jsonl"
    rows = [dict(row, responses=[dict(r, is_correct=False) for r in row["responses"]])
            for row in runs["good"]]
    processed.write_text("".join(json.dumps(row) + "\n" for row in rows))
    again = compare.load_runs([processed])
    assert list(again) == ["good"]
    assert compare.leaderboard(again)["accuracy"].max() == 0.0


@pytest.mark.parametrize("argv,message", [
    (["nowhere.jsonl"], "nowhere.jsonl: no such file or directory"),
    (["{good}", "--labels", "a,b"], "2 labels for 1 results files"),
])
def test_cli_errors_are_one_line(two_runs, argv, message, capsys):
    argv = [a.format(good=two_runs[0]) for a in argv]
    assert compare.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
