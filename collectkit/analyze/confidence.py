"""Confidence from token logprobs (responses collected with `--logprobs`): per response, a
confidence-weighted majority vote per problem, calibration.

- confidence of a response = exp(mean logprob of its sampled tokens), the geometric-mean token
  probability, in (0, 1]; `mean_logprob` keeps the log;
- the weighted vote sums the confidences of the responses giving each answer (answers are the
  grader's candidates, as in metrics.majority_at_k; unparsed answers and responses without
  logprobs do not vote); the problem scores 1 when the right answer has the largest sum, 1/t when
  it ties with t − 1 others, else 0. `majority` beside it is the plain vote over the same n
  responses (maj@n);
- calibration: responses binned by confidence (equal width); per bin mean confidence and accuracy;
  ECE = Σ bin share × |accuracy − confidence|.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

import numpy as np
import pandas as pd

from collectkit.store.logprobs import mean_logprob
from collectkit.analyze.metrics import candidates, majority_at_k

FRAME_COLUMNS = ["unique_id", "dataset", "model", "response_index", "extracted_answer",
                 "answer_group", "is_correct", "n_tokens", "mean_logprob", "confidence"]


def confidence_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per graded response; confidence is NaN for responses without logprobs."""
    records = []
    for row in rows:
        for index, response in enumerate(row.get("responses") or []):
            packed = response.get("logprobs")
            mean = mean_logprob(packed)
            records.append({
                "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
                "model": row.get("model"), "response_index": index,
                "extracted_answer": response.get("extracted_answer"),
                "answer_group": response.get("answer_group"),
                "is_correct": bool(response.get("is_correct")),
                "n_tokens": (packed or {}).get("n_tokens"), "mean_logprob": mean,
                "confidence": math.exp(mean) if not math.isnan(mean) else math.nan})
    return pd.DataFrame.from_records(records, columns=FRAME_COLUMNS)


def has_logprobs(frame: pd.DataFrame) -> bool:
    return bool(len(frame)) and bool(frame["confidence"].notna().any())


def weighted_vote_score(votes: list, weights: list[float]) -> float:
    """1 if the right answer has the largest summed weight, 1/t on a t-way tie, else 0."""
    totals: dict[Any, float] = defaultdict(float)
    for vote, weight in zip(votes, weights):
        if vote is not None and weight is not None and not math.isnan(weight):
            totals[vote] += weight
    if not totals:
        return 0.0
    top = max(totals.values())
    leaders = [vote for vote, total in totals.items() if math.isclose(total, top)]
    return 1.0 / len(leaders) if "correct" in leaders else 0.0


def vote_frame(rows_or_frame) -> pd.DataFrame:
    """Per (model, problem): n, plain majority score over the n responses, weighted score."""
    frame = rows_or_frame if isinstance(rows_or_frame, pd.DataFrame) else confidence_frame(
        rows_or_frame)
    records = []
    for (model, dataset, unique_id), part in frame.groupby(
            ["model", "dataset", "unique_id"], sort=False, dropna=False):
        votes = candidates(list(part["extracted_answer"]), list(part["answer_group"]),
                           list(part["is_correct"]))
        records.append({"model": model, "dataset": dataset, "unique_id": unique_id,
                        "n": len(part), "majority": majority_at_k(votes, len(votes)),
                        "weighted": weighted_vote_score(votes, list(part["confidence"]))})
    return pd.DataFrame.from_records(
        records, columns=["model", "dataset", "unique_id", "n", "majority", "weighted"])


def vote_table(rows_or_frame) -> pd.DataFrame:
    """Per benchmark: problems, plain majority vote accuracy, confidence-weighted vote accuracy."""
    votes = vote_frame(rows_or_frame)
    return votes.groupby("dataset", sort=True).agg(
        n_problems=("unique_id", "size"), majority=("majority", "mean"),
        weighted_majority=("weighted", "mean"))


def calibration_table(rows_or_frame, bins: int = 10) -> pd.DataFrame:
    """Per benchmark and confidence bin: responses, mean confidence, accuracy."""
    frame = rows_or_frame if isinstance(rows_or_frame, pd.DataFrame) else confidence_frame(
        rows_or_frame)
    frame = frame[frame["confidence"].notna()]
    edges = np.linspace(0.0, 1.0, bins + 1)
    binned = pd.cut(frame["confidence"], edges, include_lowest=True).rename("bin")
    table = frame.groupby(["dataset", binned], observed=True, sort=True).agg(
        n=("confidence", "size"), confidence=("confidence", "mean"),
        accuracy=("is_correct", "mean"))
    return table.reset_index()


def expected_calibration_error(table: pd.DataFrame) -> dict[str, float]:
    """ECE per benchmark from calibration_table."""
    result = {}
    for dataset, part in table.groupby("dataset", sort=True):
        share = part["n"] / part["n"].sum()
        result[str(dataset)] = float((share * (part["accuracy"] - part["confidence"]).abs()).sum())
    return result
