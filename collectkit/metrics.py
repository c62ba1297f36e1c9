"""Metrics over graded results rows: accuracy with 95% CIs, unbiased pass@k, maj@k, unparsed rate,
overall and per dataset / category / MATH level, as pandas DataFrames (and a JSON-ready summary).

Conventions (stated once, used everywhere):
- accuracy is the mean over all responses;
- its 95% interval is Wilson's with n = number of problems: the k responses of one problem are
  correlated, and a problem's mean score varies no more than one Bernoulli draw, so this is a
  valid (slightly conservative) interval, and exactly Wilson's when k = 1;
- pass@k is Chen et al.'s unbiased estimator 1 - C(n-c, k) / C(n, k), averaged over problems;
- maj@k votes over the first k responses (samples are i.i.d., so the first k are a fair draw);
  unparsed answers do not vote; answers graded correct are one candidate (each is equivalent to
  the gold answer), other answers merge when their normalized strings or exact numeric values are
  equal; a tie goes to the candidate that appeared first; no votes at all counts as wrong.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Iterable

import pandas as pd

from collectkit.extraction import normalize_math_answer

Z_95 = 1.959963984540054
GROUP_COLUMNS = {None: [], "dataset": ["dataset"], "category": ["dataset", "category"],
                 "level": ["dataset", "level"], "model": ["model"]}
PROBLEM_KEYS = ["model", "unique_id", "dataset", "category", "level"]
FRAME_COLUMNS = ["unique_id", "dataset", "category", "level", "model", "response_index",
                 "extracted_answer", "is_correct", "unparsed", "finish_reason", "completion_tokens"]
TABLE_COLUMNS = ["n_problems", "n_responses", "k", "accuracy", "ci_low", "ci_high", "pass@k",
                 "maj@k", "unparsed_rate", "truncated_rate"]
CORRECT_CANDIDATE = ("correct",)
SIMPLE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?|-?\d+/\d+|(-?)\\frac\{?(\d+)\}?\{?(\d+)\}?")


def responses_frame(rows_or_frame: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """One row per graded response (see FRAME_COLUMNS); a DataFrame passes through unchanged."""
    if isinstance(rows_or_frame, pd.DataFrame):
        return rows_or_frame
    records = []
    for row in rows_or_frame:
        for index, response in enumerate(row.get("responses") or []):
            if "is_correct" not in response:
                raise ValueError(f"{row.get('unique_id')}: responses are not graded; "
                                 "run collectkit.extraction.grade_rows first")
            usage = response.get("usage") or {}
            answer = response.get("extracted_answer")
            records.append({
                "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
                "category": row.get("category"), "level": row.get("level"),
                "model": row.get("model"), "response_index": index,
                "extracted_answer": answer, "is_correct": bool(response["is_correct"]),
                "unparsed": answer is None, "finish_reason": response.get("finish_reason"),
                "completion_tokens": usage.get("completion_tokens"),
            })
    frame = pd.DataFrame.from_records(records, columns=FRAME_COLUMNS)
    return frame.assign(level=_as_int(frame["level"]),
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
    return (max(0.0, center - margin), min(1.0, center + margin))


def answer_key(answer: str) -> Any:
    """Grouping key for a wrong answer: exact number if it is one, else the normalized string."""
    key = normalize_math_answer(answer) or ""
    number = SIMPLE_NUMBER.fullmatch(key)
    if number:
        sign, numerator, denominator = number.groups()
        if numerator is not None:
            key = f"{sign}{numerator}/{denominator}"
        try:
            return Fraction(key)
        except (ValueError, ZeroDivisionError):
            pass
    return key.upper() if len(key) == 1 else key


def majority_is_correct(answers: list[str | None], correct: list[bool]) -> bool:
    """maj@k for one problem: is the most voted candidate the correct one? (ties: first seen)."""
    votes: dict[Any, list[int]] = {}  # key -> [count, first position]
    for position, (answer, ok) in enumerate(zip(answers, correct)):
        if not isinstance(answer, str):  # None, or NaN once it has been through a DataFrame
            continue
        key = CORRECT_CANDIDATE if ok else answer_key(answer)
        votes.setdefault(key, [0, position])[0] += 1
    if not votes:
        return False
    winner = min(votes, key=lambda key: (-votes[key][0], votes[key][1]))
    return winner == CORRECT_CANDIDATE


def problems_frame(rows_or_frame, k: int | None = None) -> pd.DataFrame:
    """One row per (model, problem): n, correct, unparsed, truncated, the answers and grades in
    response order, and pass@k / maj@k for k (default: the fewest responses any problem has)."""
    frame = responses_frame(rows_or_frame).sort_values("response_index", kind="stable")
    problems: dict[tuple, dict[str, Any]] = {}
    columns = PROBLEM_KEYS + ["extracted_answer", "is_correct", "unparsed", "finish_reason"]
    for values in frame[columns].itertuples(index=False, name=None):
        key = tuple(None if pd.isna(value) else value for value in values[:len(PROBLEM_KEYS)])
        answer, correct, unparsed, finish_reason = values[len(PROBLEM_KEYS):]
        entry = problems.get(key)
        if entry is None:
            entry = problems[key] = {**dict(zip(PROBLEM_KEYS, key)), "answers": [], "grades": [],
                                     "unparsed": 0, "truncated": 0}
        entry["answers"].append(None if unparsed else answer)
        entry["grades"].append(bool(correct))
        entry["unparsed"] += bool(unparsed)
        entry["truncated"] += finish_reason == "length"
    table = pd.DataFrame(list(problems.values()),
                         columns=PROBLEM_KEYS + ["answers", "grades", "unparsed", "truncated"])
    table["level"] = _as_int(table["level"])
    table["n"] = table["grades"].map(len).astype(int)
    table["correct"] = table["grades"].map(sum).astype(int)
    return _at_k(table, k)


def _at_k(problems: pd.DataFrame, k: int | None) -> pd.DataFrame:
    if k is None:
        k = int(problems["n"].min()) if len(problems) else 0
    problems = problems.assign(k=k)
    problems["pass@k"] = [pass_at_k(n, c, k) for n, c in zip(problems["n"], problems["correct"])]
    problems["maj@k"] = [majority_is_correct(answers[:k], grades[:k])
                         for answers, grades in zip(problems["answers"], problems["grades"])]
    return problems


def _metrics(problems: pd.DataFrame) -> dict[str, Any]:
    n_problems, n_responses = len(problems), int(problems["n"].sum())
    accuracy = problems["correct"].sum() / n_responses if n_responses else math.nan
    low, high = wilson_interval(float(accuracy), n_problems)
    return {
        "n_problems": n_problems, "n_responses": n_responses,
        "k": int(problems["k"].iloc[0]) if n_problems else 0,
        "accuracy": float(accuracy), "ci_low": low, "ci_high": high,
        "pass@k": float(problems["pass@k"].mean()) if n_problems else math.nan,
        "maj@k": float(problems["maj@k"].mean()) if n_problems else math.nan,
        "unparsed_rate": problems["unparsed"].sum() / n_responses if n_responses else math.nan,
        "truncated_rate": problems["truncated"].sum() / n_responses if n_responses else math.nan,
    }


def _table(problems: pd.DataFrame, by: str | None) -> pd.DataFrame:
    if by not in GROUP_COLUMNS:
        raise ValueError(f"by must be one of {list(GROUP_COLUMNS)}, not {by!r}")
    columns = GROUP_COLUMNS[by]
    if by == "level":
        problems = problems[problems["level"].notna()]
    if not columns:
        return pd.DataFrame([_metrics(problems)], index=pd.Index(["all"], name="group"),
                            columns=TABLE_COLUMNS)
    groups = problems.groupby(columns, sort=True) if len(problems) else []
    records = {name: _metrics(group) for name, group in groups}
    if len(columns) > 1:
        index = pd.MultiIndex.from_tuples(list(records), names=columns)
    else:
        index = pd.Index([name[0] for name in records], name=columns[0])
    return pd.DataFrame(list(records.values()), index=index, columns=TABLE_COLUMNS)


def accuracy_table(rows_or_frame, by: str | None = None, k: int | None = None) -> pd.DataFrame:
    """Metrics per group: by None (one row "all"), "dataset", "category" (within dataset),
    "level" (MATH levels; problems without one are left out) or "model"."""
    return _table(problems_frame(rows_or_frame, k), by)


def pass_maj_curve(rows_or_frame, by: str | None = "dataset") -> pd.DataFrame:
    """pass@k and maj@k for k = 1..K (K = fewest responses of any problem), per group."""
    problems = problems_frame(rows_or_frame)
    leading = GROUP_COLUMNS[by] if by else []
    parts = [_table(_at_k(problems, k), by)[["pass@k", "maj@k"]].reset_index().assign(k=k)
             for k in range(1, int(problems["n"].min() if len(problems) else 0) + 1)]
    if not parts:
        return pd.DataFrame(columns=leading + ["k", "pass@k", "maj@k"])
    return pd.concat(parts, ignore_index=True)[leading + ["k", "pass@k", "maj@k"]]


def _json_ready(record: dict[str, Any]) -> dict[str, Any]:
    return {key: (None if isinstance(value, float) and math.isnan(value) else
                  value.item() if hasattr(value, "item") else value)
            for key, value in record.items()}


def summarize(rows_or_frame) -> dict[str, Any]:
    """The summary JSON: overall, per dataset, per category within dataset, per MATH level."""
    problems = problems_frame(rows_or_frame)
    summary: dict[str, Any] = {
        "models": sorted(str(model) for model in problems["model"].dropna().unique()),
        "overall": _json_ready(_table(problems, None).to_dict("records")[0]),
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
