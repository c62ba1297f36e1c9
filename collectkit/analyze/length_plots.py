"""Figures for response length and confidence (notebook 04): accuracy against response length,
and a calibration (reliability) plot when the responses carry logprobs. Same conventions as
plots.py: a `Figure` built directly (no pyplot state), `plots.save_figure` writes it."""
from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from collectkit.analyze import confidence
from collectkit.analyze import lengths
from collectkit.analyze.plots import _empty, dataset_color, dataset_label


def accuracy_vs_length(data: Any, bins: int = 8,
                       title: str = "Accuracy against response length") -> Figure:
    """Per benchmark, response accuracy in bins of response length (tokens; quantile bins),
    with the share of each bin cut off at max_tokens. `data`: graded rows or
    `lengths.accuracy_by_length(...)`."""
    table = data if isinstance(data, pd.DataFrame) and "truncated_share" in data.columns \
        else lengths.accuracy_by_length(data, bins=bins)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    if table.empty:
        return _empty(fig, ax, "no graded responses")
    for position, (dataset, part) in enumerate(table.groupby("dataset", sort=True)):
        color = dataset_color(dataset, position)
        ax.plot(part["tokens"], part["accuracy"], marker="o", color=color,
                label=f"{dataset_label(dataset)} accuracy")
        ax.plot(part["tokens"], part["truncated_share"], linestyle="--", marker="x",
                color=color, alpha=0.6, label=f"{dataset_label(dataset)} share cut off")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("response length (tokens, bin mean)")
    ax.set_ylabel("share of responses")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def calibration(data: Any, bins: int = 10,
                title: str = "Calibration: confidence (mean token probability) vs accuracy"
                ) -> Figure:
    """Reliability diagram per benchmark: mean confidence against accuracy per confidence bin,
    the diagonal for perfect calibration, ECE in the legend. `data`: graded rows or
    `confidence.calibration_table(...)`."""
    table = data if isinstance(data, pd.DataFrame) and "bin" in data.columns \
        else confidence.calibration_table(data, bins=bins)
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    if table.empty:
        return _empty(fig, ax, "no logprobs (collect with --logprobs 0)")
    ece = confidence.expected_calibration_error(table)
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", label="perfectly calibrated")
    for position, (dataset, part) in enumerate(table.groupby("dataset", sort=True)):
        ax.plot(part["confidence"], part["accuracy"], marker="o",
                color=dataset_color(dataset, position),
                label=f"{dataset_label(dataset)} (ECE {ece[str(dataset)]:.3f}, "
                      f"n={int(part['n'].sum())})")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("confidence: exp(mean token logprob)")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
