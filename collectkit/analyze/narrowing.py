"""The interval narrowing over a run: after each problem, in the order the rows were collected,
each benchmark's accuracy with its confidence sequence (the interval `collectkit run` shows live
and stops on) and, for comparison, Wilson's fixed-n interval read at the same point — narrower,
but valid only for a number of problems fixed in advance.
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd
from matplotlib.figure import Figure

from collectkit.analyze.metrics import wilson_interval
from collectkit.analyze.plots import dataset_color, dataset_label
from collectkit.analyze.sequences import confidence_sequence, interval_name

COLUMNS = ["dataset", "problems", "accuracy", "low", "high", "halfwidth", "wilson_low",
           "wilson_high"]


def narrowing_table(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One line per (benchmark, problems so far); rows must be graded (is_correct)."""
    scores: dict[str, list[float]] = {}
    for row in rows:
        responses = row.get("responses") or []
        if responses:
            scores.setdefault(str(row.get("dataset")), []).append(
                sum(bool(r.get("is_correct")) for r in responses) / len(responses))
    parts = []
    for dataset, values in scores.items():
        mean, low, high = confidence_sequence(values)
        wilson = [wilson_interval(m, n) for n, m in enumerate(mean, 1)]
        parts.append(pd.DataFrame({
            "dataset": dataset, "problems": range(1, len(values) + 1), "accuracy": mean,
            "low": low, "high": high, "halfwidth": (high - low) / 2,
            "wilson_low": [w[0] for w in wilson], "wilson_high": [w[1] for w in wilson]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def narrowing_figure(table: pd.DataFrame, target: float | None = None) -> Figure:
    """One panel per benchmark: the accuracy so far, its confidence sequence (shaded) and
    Wilson's fixed-n interval (dashed) against the problems collected; with `target`, the
    problem count where the half-width first falls below it."""
    datasets = list(dict.fromkeys(table["dataset"]))
    fig = Figure(figsize=(6.4, 2.6 * max(1, len(datasets))))
    axes = fig.subplots(max(1, len(datasets)), 1, squeeze=False)[:, 0]
    for position, (ax, dataset) in enumerate(zip(axes, datasets)):
        part = table[table["dataset"] == dataset]
        color = dataset_color(dataset, position)
        ax.fill_between(part["problems"], part["low"], part["high"], color=color, alpha=0.25,
                        label=interval_name())
        ax.plot(part["problems"], part["accuracy"], color=color, label="accuracy so far")
        ax.plot(part["problems"], part["wilson_low"], "--", color="0.4", linewidth=0.8,
                label="Wilson 95% (fixed n)")
        ax.plot(part["problems"], part["wilson_high"], "--", color="0.4", linewidth=0.8)
        reached = part[part["halfwidth"] < target] if target else part.iloc[0:0]
        if len(reached):
            first = int(reached["problems"].iloc[0])
            ax.axvline(first, color="0.2", linewidth=0.8)
            ax.annotate(f"±{target:g} after {first}", (first, 0.95), fontsize=8,
                        xytext=(4, 0), textcoords="offset points", va="top")
        ax.set_ylim(0, 1)
        ax.set_xscale("log")
        ax.set_ylabel("accuracy")
        ax.set_title(dataset_label(dataset), fontsize=10)
    axes[-1].set_xlabel("problems collected (log scale)")
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
