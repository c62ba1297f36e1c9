"""Truncation and response length: how many responses stopped on max_tokens, how accurate the
complete and the cut-off ones are, how long responses run. Pure functions over results rows.

Tokens per response, best source first (the `tokens_source` column says which):
- `logprobs`: the number of sampled tokens stored with `--logprobs` (exact);
- `usage`: the server's `completion_tokens` when every response of the problem carries its own
  (separate requests; with `n>1` the usage covers the request, so it is not used per response);
- `estimate`: characters / 4 of the answer plus the thinking.
`answer_tokens` and `reasoning_tokens` come from the server's `usage.reasoning_tokens`
(completion_tokens_details: OpenAI reasoning models, vLLM) when each response has its own usage,
else they are estimates (characters / 4). Accuracy here is per response (the share correct).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from collectkit.collect.truncation import WARN_SHARE, truncation_warnings  # noqa: F401  (the API)
from collectkit.collect.pricing import estimate_tokens
from collectkit.tasks.registry import label as _registry_label
LENGTH_COLUMNS = ["unique_id", "dataset", "response_index", "finish_reason", "truncated",
                  "is_correct", "tokens", "tokens_source", "answer_tokens", "reasoning_tokens"]
TABLE_COLUMNS = ["n_responses", "n_truncated", "truncated_share", "accuracy_complete",
                 "accuracy_truncated", "tokens_mean", "tokens_median", "tokens_max",
                 "answer_tokens_mean", "reasoning_tokens_mean", "tokens_source"]


def label(dataset: Any) -> str:
    """The benchmark's display name (MATH-500), or the dataset name itself."""
    return _registry_label(str(dataset))


def _tokens(response: dict[str, Any], per_response_usage: bool) -> tuple[int, str]:
    packed = response.get("logprobs")
    if isinstance(packed, dict) and packed.get("n_tokens") is not None:
        return int(packed["n_tokens"]), "logprobs"
    usage = response.get("usage") or {}
    if per_response_usage and usage.get("completion_tokens") is not None:
        return int(usage["completion_tokens"]), "usage"
    return (estimate_tokens(response.get("full_response") or "")
            + estimate_tokens(response.get("reasoning_content") or "")), "estimate"


def lengths_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per response (LENGTH_COLUMNS); `is_correct` is missing for ungraded rows."""
    return pd.DataFrame.from_records([record for row in rows for record in length_records(row)],
                                     columns=LENGTH_COLUMNS)


def length_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The LENGTH_COLUMNS records of one row (what lengths_frame holds of it)."""
    records = []
    responses = row.get("responses") or []
    per_response_usage = bool(responses) and all(r.get("usage") for r in responses)
    for index, response in enumerate(responses):
        tokens, source = _tokens(response, per_response_usage)
        correct = response.get("is_correct")
        answer, reasoning = (estimate_tokens(response.get("full_response") or ""),
                             estimate_tokens(response.get("reasoning_content") or ""))
        counted = (response.get("usage") or {}).get("reasoning_tokens")
        if per_response_usage and counted is not None and source == "usage":
            answer, reasoning = max(tokens - counted, 0), counted  # the server's own split
        records.append({
            "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
            "response_index": index, "finish_reason": response.get("finish_reason"),
            "truncated": response.get("finish_reason") == "length",
            "is_correct": None if correct is None else bool(correct),
            "tokens": tokens, "tokens_source": source,
            "answer_tokens": answer, "reasoning_tokens": reasoning,
        })
    return records


def _accuracy(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.astype(bool).mean()) if len(values) else math.nan


def _figures(part: pd.DataFrame) -> dict[str, Any]:
    n, cut = len(part), int(part["truncated"].sum())
    sources = sorted(set(part["tokens_source"]))
    return {"n_responses": n, "n_truncated": cut, "truncated_share": cut / n if n else math.nan,
            "accuracy_complete": _accuracy(part.loc[~part["truncated"], "is_correct"]),
            "accuracy_truncated": _accuracy(part.loc[part["truncated"], "is_correct"]),
            "tokens_mean": float(part["tokens"].mean()) if n else math.nan,
            "tokens_median": float(part["tokens"].median()) if n else math.nan,
            "tokens_max": int(part["tokens"].max()) if n else 0,
            "answer_tokens_mean": float(part["answer_tokens"].mean()) if n else math.nan,
            "reasoning_tokens_mean": float(part["reasoning_tokens"].mean()) if n else math.nan,
            "tokens_source": "+".join(sources)}


def truncation_table(rows_or_frame) -> pd.DataFrame:
    """Per benchmark: responses, how many stopped on max_tokens and their share, accuracy of
    complete vs cut-off responses (NaN when ungraded or none), tokens per response."""
    frame = rows_or_frame if isinstance(rows_or_frame, pd.DataFrame) else lengths_frame(
        rows_or_frame)
    records = {str(name): _figures(part) for name, part in frame.groupby("dataset", sort=True)}
    return pd.DataFrame(list(records.values()), index=pd.Index(list(records), name="dataset"),
                        columns=TABLE_COLUMNS)


def truncation_summary(rows_or_frame) -> dict[str, dict[str, Any]]:
    """truncation_table as JSON-ready dicts (NaN → None), for the extraction summary."""
    table = truncation_table(rows_or_frame)
    return {name: {key: (None if isinstance(value, float) and math.isnan(value) else
                         value.item() if hasattr(value, "item") else value)
                   for key, value in record.items()}
            for name, record in zip(table.index, table.to_dict("records"))}


def accuracy_by_length(rows_or_frame, bins: int = 8) -> pd.DataFrame:
    """Per benchmark and response-length bin (quantiles of tokens): responses, mean tokens,
    accuracy, share truncated. Only graded responses count."""
    frame = rows_or_frame if isinstance(rows_or_frame, pd.DataFrame) else lengths_frame(
        rows_or_frame)
    frame = frame[frame["is_correct"].notna()]
    parts = []
    for dataset, part in frame.groupby("dataset", sort=True):
        edges = np.unique(np.quantile(part["tokens"], np.linspace(0, 1, bins + 1)))
        if len(edges) < 2:
            edges = np.array([part["tokens"].min() - 0.5, part["tokens"].max() + 0.5])
        binned = pd.cut(part["tokens"], edges, include_lowest=True, duplicates="drop")
        table = part.groupby(binned, observed=True).agg(
            n=("tokens", "size"), tokens=("tokens", "mean"),
            accuracy=("is_correct", lambda s: float(s.astype(bool).mean())),
            truncated_share=("truncated", "mean"))
        parts.append(table.reset_index(drop=True).assign(dataset=dataset))
    columns = ["dataset", "n", "tokens", "accuracy", "truncated_share"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
