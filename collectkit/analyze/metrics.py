"""Metrics over graded results rows, as pandas DataFrames (and a JSON-ready summary).

Conventions (stated once, used everywhere):
- accuracy, the headline, is each problem's share of correct responses averaged over problems
  (pass@1 averaged over the k samples, as reasoning-model papers report it); a problem with fewer
  responses than the others weighs the same;
- pass@k is Chen et al.'s unbiased estimator 1 - C(n-c, k) / C(n, k) per problem, averaged;
- maj@k is on the same footing: the expected majority vote over all k-subsets of a problem's n
  responses (exact, or 4,000 seeded draws when there are too many), a tie counting 1/t when the
  right answer is one of t tied candidates, so maj@1 = pass@1. Candidates are the grader's
  `answer_group`s (right answers are one; wrong ones merge by the same test) or, for rows graded
  before groups existed, the normalized answer. Unparsed answers do not vote;
- k defaults to the most common number of responses; problems with fewer than k responses are
  left out of pass@k and maj@k (counted in `n_short`), never counted as failures;
- 95% intervals are Wilson's over problems: a problem's mean score in [0, 1] varies no more
  than one Bernoulli draw of the same mean, so this is valid (slightly conservative), exactly
  Wilson's when k = 1, and sensible at 0 and 1;
- one figure per benchmark: rows of MATH-500 and MMLU-Pro are never pooled into one accuracy.
  The per-benchmark table adds `macro_accuracy`, the mean of the category accuracies (the
  category macro-average MMLU-Pro reports beside the overall figure).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from itertools import product
from typing import Any, Iterable

import pandas as pd

from collectkit.tasks.extraction import answer_key
from collectkit.tasks.protocols import recorded_name

Z_95 = 1.959963984540054
GROUP_COLUMNS = {None: [], "dataset": ["dataset"], "category": ["dataset", "category"],
                 "level": ["dataset", "level"], "model": ["dataset", "model"]}
PROBLEM_KEYS = ["model", "unique_id", "dataset", "category", "level"]
FRAME_COLUMNS = ["unique_id", "dataset", "category", "level", "model", "protocol",
                 "response_index", "extracted_answer", "answer_group", "is_correct", "unparsed",
                 "finish_reason", "completion_tokens"]
TABLE_COLUMNS = ["n_problems", "n_responses", "k", "accuracy", "ci_low", "ci_high", "pass@k",
                 "pass@k_low", "pass@k_high", "maj@k", "maj@k_low", "maj@k_high", "n_short",
                 "unparsed_rate", "truncated_rate"]
DATASET_COLUMNS = TABLE_COLUMNS[:6] + ["macro_accuracy"] + TABLE_COLUMNS[6:]
MAJORITY_EXACT_LIMIT = 20_000  # count vectors enumerated at most; beyond, seeded draws
MAJORITY_DRAWS = 4_000


def responses_frame(rows_or_frame: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """One row per graded response (see FRAME_COLUMNS); a DataFrame passes through unchanged."""
    if isinstance(rows_or_frame, pd.DataFrame):
        return rows_or_frame
    return records_frame([record for row in rows_or_frame for record in response_records(row)])


def response_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The FRAME_COLUMNS records of one graded row (what responses_frame holds of it)."""
    records = []
    for index, response in enumerate(row.get("responses") or []):
        if "is_correct" not in response:
            raise ValueError(f"{row.get('unique_id')}: responses are not graded; "
                             "run collectkit.grade.grading.grade_rows first")
        answer = response.get("extracted_answer")
        records.append({
            "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
            "category": row.get("category"), "level": row.get("level"),
            "model": row.get("model"), "protocol": recorded_name(row),
            "response_index": index, "extracted_answer": answer,
            "answer_group": response.get("answer_group"),
            "is_correct": bool(response["is_correct"]), "unparsed": answer is None,
            "finish_reason": response.get("finish_reason"),
            "completion_tokens": (response.get("usage") or {}).get("completion_tokens"),
        })
    return records


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """responses_frame from response_records gathered a row at a time."""
    frame = pd.DataFrame.from_records(records, columns=FRAME_COLUMNS)
    return frame.assign(level=_as_int(frame["level"]), answer_group=_as_int(frame["answer_group"]),
                        completion_tokens=_as_int(frame["completion_tokens"]))


def _as_int(values: pd.Series) -> pd.Series:
    """Nullable integers when the values are integers (or missing); otherwise left as they are."""
    try:
        return values.astype("Int64")
    except (TypeError, ValueError):
        return values


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with n samples of which c are correct (NaN if k > n)."""
    if k > n or k < 1:
        return math.nan
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def wilson_interval(p: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion p observed over n units."""
    if n <= 0 or math.isnan(p):
        return (math.nan, math.nan)
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Rounded to 12 places: at p = 0 the bound is 0 up to float noise (5.55e-17 was shown).
    return (round(max(0.0, center - margin), 12), round(min(1.0, center + margin), 12))


def candidates(answers: list, groups: list, correct: list[bool]) -> list:
    """The vote of each response: "correct", a wrong answer's group key, or None (no vote)."""
    votes = []
    for answer, group, ok in zip(answers, groups, correct):
        if not isinstance(answer, str):  # None, or NaN once it has been through a DataFrame
            votes.append(None)
        elif ok:
            votes.append("correct")
        elif group is not None and not pd.isna(group):
            votes.append(("group", int(group)))
        else:
            votes.append(("key", answer_key(answer)))
    return votes


def _vote_score(counts: list[int], correct_index: int | None) -> float:
    top = max(counts, default=0)
    if top == 0 or correct_index is None or counts[correct_index] != top:
        return 0.0
    return 1.0 / sum(count == top for count in counts)


def majority_at_k(votes: list, k: int) -> float:
    """Expected maj@k over the k-subsets of one problem's responses (see the module notes)."""
    n = len(votes)
    if k > n or k < 1:
        return math.nan
    sizes = Counter(vote for vote in votes if vote is not None)
    keys = list(sizes)
    correct_index = keys.index("correct") if "correct" in sizes else None
    group_sizes = [sizes[key] for key in keys] + [n - sum(sizes.values())]  # last: unparsed
    if math.prod(min(size, k) + 1 for size in group_sizes) <= MAJORITY_EXACT_LIMIT:
        total, expected = math.comb(n, k), 0.0
        for draw in product(*(range(min(size, k) + 1) for size in group_sizes)):
            if sum(draw) == k:
                weight = math.prod(math.comb(s, x) for s, x in zip(group_sizes, draw))
                expected += weight * _vote_score(list(draw[:-1]), correct_index)
        return expected / total
    rng = random.Random(0)
    positions = {key: i for i, key in enumerate(keys)}
    score = 0.0
    for _ in range(MAJORITY_DRAWS):
        counts = [0] * len(keys)
        for vote in rng.sample(votes, k):
            if vote is not None:
                counts[positions[vote]] += 1
        score += _vote_score(counts, correct_index)
    return score / MAJORITY_DRAWS


def problems_frame(rows_or_frame, k: int | None = None) -> pd.DataFrame:
    """One row per (model, problem): n, correct, unparsed, truncated, each response's vote, and
    pass@k / maj@k for k (default: the most common number of responses)."""
    frame = responses_frame(rows_or_frame).sort_values("response_index", kind="stable")
    keys = frame[PROBLEM_KEYS].astype(object).where(frame[PROBLEM_KEYS].notna(), "\0")
    grouped = frame.groupby([keys[c] for c in PROBLEM_KEYS], sort=False, dropna=False)
    table = grouped.agg(n=("is_correct", "size"), correct=("is_correct", "sum"),
                        unparsed=("unparsed", "sum"),
                        truncated=("finish_reason", lambda s: int((s == "length").sum())))
    table["votes"] = [candidates(list(part["extracted_answer"]), list(part["answer_group"]),
                                 list(part["is_correct"])) for _, part in grouped]
    table = table.reset_index(drop=True)
    firsts = grouped[PROBLEM_KEYS].first().reset_index(drop=True)
    table = pd.concat([firsts, table], axis=1)
    table["level"] = _as_int(table["level"])
    table[["n", "correct"]] = table[["n", "correct"]].astype(int)
    table["score"] = table["correct"] / table["n"]
    return _at_k(table, k)


def _at_k(problems: pd.DataFrame, k: int | None) -> pd.DataFrame:
    if k is None:
        counts = Counter(problems["n"])
        k = max(counts, key=lambda n: (counts[n], n)) if counts else 0
    problems = problems.assign(k=k)
    problems["pass@k"] = [pass_at_k(n, c, k) for n, c in zip(problems["n"], problems["correct"])]
    problems["maj@k"] = [majority_at_k(votes, k) for votes in problems["votes"]]
    return problems


def _with_interval(values: pd.Series) -> tuple[float, float, float]:
    values = values.dropna()
    mean = float(values.mean()) if len(values) else math.nan
    return (mean, *wilson_interval(mean, len(values)))


def _metrics(problems: pd.DataFrame) -> dict[str, Any]:
    n_problems, n_responses = len(problems), int(problems["n"].sum())
    accuracy, low, high = _with_interval(problems["score"])
    pass_k, pass_low, pass_high = _with_interval(problems["pass@k"])
    maj_k, maj_low, maj_high = _with_interval(problems["maj@k"])
    return {
        "n_problems": n_problems, "n_responses": n_responses,
        "k": int(problems["k"].iloc[0]) if n_problems else 0,
        "accuracy": accuracy, "ci_low": low, "ci_high": high,
        "pass@k": pass_k, "pass@k_low": pass_low, "pass@k_high": pass_high,
        "maj@k": maj_k, "maj@k_low": maj_low, "maj@k_high": maj_high,
        "n_short": int(problems["pass@k"].isna().sum()),
        "unparsed_rate": problems["unparsed"].sum() / n_responses if n_responses else math.nan,
        "truncated_rate": problems["truncated"].sum() / n_responses if n_responses else math.nan,
    }


def _table(problems: pd.DataFrame, by: str | None) -> pd.DataFrame:
    if by not in GROUP_COLUMNS:
        raise ValueError(f"by must be one of {list(GROUP_COLUMNS)}, not {by!r}")
    if by is None and problems["dataset"].nunique() > 1:
        by = "dataset"  # never one figure over two benchmarks
    columns = GROUP_COLUMNS[by]
    if by == "level":
        problems = problems[problems["level"].notna()]
    if not columns:
        return pd.DataFrame([_metrics(problems)], index=pd.Index(["all"], name="group"),
                            columns=TABLE_COLUMNS)
    groups = problems.groupby(columns, sort=True) if len(problems) else []
    records = {name: _metrics(group) for name, group in groups}
    if by == "dataset":
        for name, group in groups:
            by_category = group.groupby("category")["score"].mean()
            records[name]["macro_accuracy"] = float(by_category.mean())
    if len(columns) > 1:
        index = pd.MultiIndex.from_tuples(list(records), names=columns)
    else:
        index = pd.Index([name[0] for name in records], name=columns[0])
    return pd.DataFrame(list(records.values()), index=index,
                        columns=DATASET_COLUMNS if by == "dataset" else TABLE_COLUMNS)


def accuracy_table(rows_or_frame, by: str | None = None, k: int | None = None) -> pd.DataFrame:
    """Metrics per group: by None (one row "all" for one benchmark; one row per benchmark when
    there are several), "dataset" (adds macro_accuracy over categories), "category" (within
    dataset), "level" (MATH levels; problems without one are left out) or "model"."""
    return _table(problems_frame(rows_or_frame, k), by)


def pass_maj_curve(rows_or_frame, by: str | None = "dataset") -> pd.DataFrame:
    """pass@k and maj@k for k = 1..K (K = the most common number of responses), per group."""
    problems = problems_frame(rows_or_frame)
    leading = GROUP_COLUMNS[by] if by else []
    largest = int(problems["k"].iloc[0]) if len(problems) else 0
    parts = [_table(_at_k(problems, k), by)[["pass@k", "maj@k"]].reset_index().assign(k=k)
             for k in range(1, largest + 1)]
    if not parts:
        return pd.DataFrame(columns=leading + ["k", "pass@k", "maj@k"])
    curve = pd.concat(parts, ignore_index=True)
    return curve[[c for c in leading + ["k", "pass@k", "maj@k"] if c in curve.columns]]


def rounded(table: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """For display: floats to `decimals` places (p-values, columns named p_*, to 4)."""
    floats = table.select_dtypes("float").columns
    return table.round({c: 4 if str(c).startswith("p_") else decimals for c in floats})


def _json_ready(record: dict[str, Any]) -> dict[str, Any]:
    return {key: (None if isinstance(value, float) and math.isnan(value) else
                  value.item() if hasattr(value, "item") else value)
            for key, value in record.items()}


def summarize(rows_or_frame) -> dict[str, Any]:
    """The summary JSON: per dataset (the headline figures), per category within dataset, per
    MATH level. `overall` holds counts and rates; it has accuracy figures only when the rows
    hold a single benchmark."""
    problems = problems_frame(rows_or_frame)
    overall = _metrics(problems)
    if problems["dataset"].nunique() > 1:
        overall = {key: overall[key] for key in
                   ("n_problems", "n_responses", "k", "unparsed_rate", "truncated_rate")}
    summary: dict[str, Any] = {
        "models": sorted(str(model) for model in problems["model"].dropna().unique()),
        "overall": _json_ready(overall),
    }
    for by in ("dataset", "category", "level"):
        table = _table(problems, by)
        nested: dict[str, Any] = {}
        for index, record in zip(table.index, table.to_dict("records")):
            if by == "dataset":
                nested[str(index)] = _json_ready(record)
            else:
                nested.setdefault(str(index[0]), {})[str(index[1])] = _json_ready(record)
        summary[f"by_{by}"] = nested
    return summary
