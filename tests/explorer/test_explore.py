"""The explorer's data side on real processed files: every filter's count against an independent
pandas computation, selections, sort, paging, and where each extracted answer stands."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from collectkit.analyze import metrics
from collectkit.explorer.data import FILTERS, Explore, locate_answer, page
from explore_support import labeled_runs, stub_run


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a, b = labeled_runs(tmp_path_factory.mktemp("labeled"))
    return {"a": read(a), "b": read(b)}, Explore.load([a, b])


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    path = stub_run(tmp_path_factory.mktemp("stub"))
    return read(path), Explore.load([path])


def expected_sets(rows: list[dict], other: list[dict] | None = None) -> dict[str, set]:
    """Each filter's problems, computed from metrics.responses_frame with pandas."""
    frame = metrics.responses_frame(rows)
    per = frame.groupby("unique_id").agg(n=("is_correct", "size"), right=("is_correct", "sum"),
                                        unparsed=("unparsed", "sum"),
                                        cut=("finish_reason", lambda s: (s == "length").sum()))
    parsed = frame[~frame["unparsed"]]
    vote = parsed["answer_group"].astype(object).where(~parsed["is_correct"], "right")
    tally = parsed.assign(vote=vote).groupby(["unique_id", "vote"]).size().unstack(fill_value=0)
    right_votes = tally["right"] if "right" in tally else pd.Series(0, index=tally.index)
    wrong_top = tally.drop(columns="right", errors="ignore").max(axis=1).fillna(0)
    majority = ((right_votes > 0) & (right_votes > wrong_top)).reindex(per.index, fill_value=False)
    attempts = pd.Series({row["unique_id"]: row.get("attempts", 1) for row in rows})
    sets = {
        "correct": per.index[per["right"] > 0], "wrong": per.index[per["right"] < per["n"]],
        "all_wrong": per.index[per["right"] == 0], "all_right": per.index[per["right"] == per["n"]],
        "split": per.index[(per["right"] > 0) & (per["right"] < per["n"])],
        "majority_wrong": per.index[~majority], "unparsed": per.index[per["unparsed"] > 0],
        "cut_off": per.index[per["cut"] > 0], "retried": attempts.index[attempts > 1],
        "flipped": [],
    }
    if other is not None:
        theirs = expected_sets(other)["majority_wrong"]
        both = set(per.index) & {row["unique_id"] for row in other}
        sets["flipped"] = [uid for uid in both
                           if (uid in set(sets["majority_wrong"])) != (uid in set(theirs))]
    return {name: set(ids) for name, ids in sets.items()}


@pytest.mark.parametrize("run", ["a", "b"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_every_filter_count_matches_pandas_on_real_files(runs, run, name):
    rows, data = runs
    other = rows["b" if run == "a" else "a"]
    expected = expected_sets(rows[run], other)[name]
    kept = set(data.select([name], run=run)["unique_id"])
    assert kept == expected
    assert data.counts(run)[name] == len(expected)


def test_real_files_exercise_the_filters(runs):
    """The labeled runs are not degenerate: most filters keep some problems and not all."""
    _, data = runs
    counts = data.counts("a")
    assert counts["all"] == 141
    for name in ("correct", "wrong", "all_wrong", "all_right", "split", "majority_wrong",
                 "unparsed", "flipped"):
        assert 0 < counts[name] < counts["all"], (name, counts)


def test_cut_off_and_retried_from_a_real_collection(stub):
    rows, data = stub
    expected = expected_sets(rows)
    assert len(expected["retried"]) == 1 and len(expected["cut_off"]) == len(rows) == 4
    for name in ("cut_off", "retried", "unparsed", "wrong"):
        assert set(data.select([name])["unique_id"]) == expected[name], name
    assert data.counts()["retried"] == 1


def test_filters_combine_with_benchmark_category_level_and_search(runs):
    rows, data = runs
    a = pd.DataFrame(rows["a"])
    wrong = expected_sets(rows["a"])["wrong"]
    chosen = data.select(["wrong"], benchmark="mmlu_pro", category="law")
    assert set(chosen["unique_id"]) == set(a[(a["dataset"] == "mmlu_pro") & (a["category"] == "law")
                                             & a["unique_id"].isin(wrong)]["unique_id"])
    assert len(data.select(level=5)) == int((a["level"] == 5).sum()) > 0
    word = "integer"
    hits = a[a["problem"].str.lower().str.contains(word, regex=False)]
    assert set(data.select(search="INTEGER")["unique_id"]) == set(hits["unique_id"]) != set()
    assert data.select(["all_right", "all_wrong"]).empty


def test_sorts_and_pages(runs):
    _, data = runs
    assert list(data.select()["unique_id"]) == [row["unique_id"] for row in runs[0]["a"]]
    by_rate = data.select(sort="pass_rate")["score"].tolist()
    assert by_rate == sorted(by_rate)
    by_tokens = data.select(sort="tokens_desc")["tokens"].dropna().tolist()
    assert by_tokens == sorted(by_tokens, reverse=True)
    rows, number, pages = page(data.select(), 99, 20)
    assert (number, pages, len(rows)) == (7, 8, 1)


def test_unknown_filter_sort_or_run_is_named(runs):
    _, data = runs
    for call, word in ((lambda: data.select(["wrongly"]), "wrongly"),
                       (lambda: data.select(sort="speed"), "speed"),
                       (lambda: data.select(run="c"), "'c'")):
        with pytest.raises(ValueError, match=word):
            call()


def test_every_extracted_answer_is_located_in_its_text(runs):
    rows, _ = runs
    located = 0
    for row in rows["a"] + rows["b"]:
        for response in row["responses"]:
            answer, text = response["extracted_answer"], response["full_response"]
            if answer is None:
                continue
            span = locate_answer(text, answer, row["is_mcq"])
            assert span is not None, (answer, text[-300:])
            shown = text[span[0]:span[1]]
            assert shown in (answer, answer.replace("\\", "\\\\")), (answer, shown)
            located += 1
    assert located > 300


@pytest.mark.parametrize("text, answer, is_mcq, expected", [
    ("I think B. **The answer is (C)**. C is right.", "C", True, 28),  # past the `**`
    ("A or B? Answer: D", "D", True, 16),
    ("Between A and C, I pick C", "C", True, 24),
    ("so 4. Hence $\\boxed{4}$ and 4 again", "4", False, 20),
    ("\\boxed{\\boxed{7}} then 7", "7", False, 14),
    ('{"answer": "\\\\frac{1}{2}"}', "\\frac{1}{2}", False, 13),
    ("nothing here", "5", False, None),
])
def test_locate_answer_cases(text, answer, is_mcq, expected):
    span = locate_answer(text, answer, is_mcq)
    assert (span[0] if span else None) == expected
