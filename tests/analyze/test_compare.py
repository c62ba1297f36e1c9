"""compare: runs side by side from real files, paired tests, agreement, CSV/Parquet export."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectkit.analyze import compare
from collectkit.cli import compare as compare_cli
from collectkit.tasks.load import load_problems


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
    code = compare_cli.main([str(two_runs[0]), str(two_runs[1]), "--labels", "A,B", "--out", str(out)])
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
    assert compare_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.engine
@pytest.mark.notebook
def test_compare_notebook_on_two_real_runs(embedded_server, tmp_path):
    """05_compare headless (papermill) on two small runs of the embedded model at two
    temperatures (zero-shot MMLU-Pro prompt: the 5-shot one needs a longer context)."""
    import nbformat
    import papermill

    from collectkit.collect.settings import Settings
    from collectkit.collect.run import run_collection

    files = []
    for temperature in (0.2, 1.0):
        settings = Settings(model=embedded_server.model_id, api_base=embedded_server.base_url,
                            num_problems="4", k_responses=2, max_tokens=64, seed=1,
                            temperature=temperature, protocol="mmlu_pro_zero_shot",
                            output_dir=str(tmp_path))
        files.append(tmp_path / f"t{temperature}.jsonl")
        assert run_collection(settings, output_path=files[-1], progress=False).done == 4
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "05_compare.ipynb"
    executed = tmp_path / "05_compare.ipynb"
    papermill.execute_notebook(
        str(notebook), str(executed), kernel_name="python3", progress_bar=False,
        cwd=str(tmp_path), parameters={"results_files": ",".join(map(str, files)),
                                       "labels": "T=0.2,T=1.0", "out_dir": str(tmp_path / "cmp")})
    cells = nbformat.read(executed, as_version=4).cells
    outputs = [o for c in cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    parquet = pd.read_parquet(tmp_path / "cmp" / "responses.parquet")
    assert len(parquet) == 2 * 4 * 2 and set(parquet["run"]) == {"T=0.2", "T=1.0"}
    assert set(parquet["protocol"]) == {"mmlu_pro_zero_shot", "boxed"}
    tests = pd.read_csv(tmp_path / "cmp" / "paired_tests.csv")
    assert set(tests["dataset"]) == {"math500", "mmlu_pro"}
    assert tests["p_value"].between(0, 1).all() and (tests["n_paired"] == 2).all()
    assert (tmp_path / "cmp" / "categories.png").stat().st_size > 1000


# ------------------------------------------------------------------------------ issue 21

def with_sampling(path: Path, target: Path, keep: int | None = None, k: int | None = None,
                  **sampling) -> Path:
    """A copy of a results file whose rows carry `sampling` (as collected rows do), optionally
    only the first `keep` rows and `k` responses each."""
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in path.read_text().splitlines()][:keep]
    base = {"model": "m", "k_responses": 2, "temperature": 0.7, "max_tokens": 64,
            "protocols": "boxed@1a2b,mmlu_pro_official@3c4d"}
    with target.open("w") as out:
        for row in rows:
            row["sampling"] = {**base, **sampling}
            row["responses"] = row["responses"][:k]
            out.write(json.dumps(row) + "\n")
    return target


def test_default_labels_name_what_differs(two_runs, tmp_path):
    good = two_runs[0]
    same_name = [with_sampling(good, tmp_path / "a" / "m_both.jsonl", temperature=0.7),
                 with_sampling(good, tmp_path / "b" / "m_both.jsonl", temperature=1.0)]
    assert list(compare.load_runs(same_name)) == ["T=0.7", "T=1.0"]
    other = [with_sampling(good, tmp_path / "c" / "m_both.jsonl", model="qwen"),
             with_sampling(good, tmp_path / "d" / "m_both.jsonl",
                           protocols="boxed@1a2b,mmlu_pro_zero_shot@9e9e")]
    assert list(compare.load_runs([same_name[0], *other])) == [
        "model=m, protocol=boxed,mmlu_pro_official", "model=qwen, protocol=boxed,mmlu_pro_official",
        "model=m, protocol=boxed,mmlu_pro_zero_shot"]
    twins = [with_sampling(good, tmp_path / f / "m_both.jsonl") for f in ("e", "f")]
    assert list(compare.load_runs(twins)) == ["m_both (e)", "m_both (f)"]  # not X, X (2)
    distinct = [with_sampling(good, tmp_path / "g.jsonl", temperature=0.7),
                with_sampling(good, tmp_path / "h.jsonl", temperature=1.0)]
    assert list(compare.load_runs(distinct)) == ["g", "h"]  # the user's own names stay


def test_different_problems_and_k_are_said_and_cut_to_the_common_ground(two_runs, tmp_path):
    full = with_sampling(two_runs[0], tmp_path / "full.jsonl")  # 12 problems, k=2
    part = with_sampling(two_runs[1], tmp_path / "b" / "full.jsonl", keep=8, k=1,
                         k_responses=1)
    runs = compare.load_runs([full, part])
    assert list(runs) == ["k=2", "k=1"]  # the same file name: named by what differs
    cut, notes = compare.comparable.common_ground(runs)
    assert all(len(rows) == 8 for rows in cut.values())
    assert all(len(row["responses"]) == 1 for rows in cut.values() for row in rows)
    assert notes[0].startswith("the runs answered different problems (k=2: 12, k=1: 8); every "
                               "table compares them on the 8 problems all of them answered")
    assert notes[1] == ("the runs have different k (k=2: 2, k=1: 1); every table uses the "
                        "first 1 responses of each problem")
    text = compare.report(runs)
    assert text.startswith("note: the runs answered different problems")
    _, tests = compare.paired_differences(cut)
    assert tests["n_paired"].sum() == 8
    assert compare.leaderboard(cut)["n_problems"].sum() == 16


def test_the_api_comparison_reports_what_collectkit_compare_prints(two_runs, tmp_path):
    """`collectkit compare` prints Comparison.report(): the cuts said first, as before."""
    import collectkit

    full = with_sampling(two_runs[0], tmp_path / "full.jsonl")
    part = with_sampling(two_runs[1], tmp_path / "b" / "full.jsonl", keep=8, k=1,
                         k_responses=1)
    text = collectkit.compare([full, part]).report()
    assert text == compare.report(compare.load_runs([full, part]))
    assert text.startswith("note: the runs answered different problems")


def test_one_run_and_undefined_kappa_are_explained(two_runs, tmp_path):
    assert "only one run (good): paired differences and agreement compare runs with each " \
        "other, so their tables stay empty" in compare.report(compare.load_runs([two_runs[0]]))
    copy = tmp_path / "copy.jsonl"
    copy.write_text(two_runs[0].read_text())  # every response right in both runs
    runs = compare.load_runs([two_runs[0], copy])
    agree = compare.agreement(runs)
    assert agree["kappa"].isna().all()
    notes = compare.comparable.kappa_notes(agree)
    assert len(notes) == 2 and notes[0].startswith("kappa is NaN for copy vs good on ")
    assert "every response of both runs is right, so agreement expected by chance is 1" in notes[0]
    assert "note: kappa is NaN" in compare.report(runs)


def test_compare_notebook_with_one_run_says_why_tables_are_empty(two_runs, tmp_path):
    import nbformat
    import papermill

    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "05_compare.ipynb"
    executed = tmp_path / "05.ipynb"
    papermill.execute_notebook(str(notebook), str(executed), kernel_name="python3",
                               progress_bar=False, cwd=str(tmp_path),
                               parameters={"results_files": str(two_runs[0]),
                                           "out_dir": str(tmp_path / "cmp")})
    nb = nbformat.read(executed, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert text.count("only one run (good): paired differences and agreement") == 2
