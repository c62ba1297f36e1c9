"""matplotlib figures for the analysis notebooks (04_analyze, the Colab notebook).

Agg-safe: every function builds a `matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend, nothing to close), returns it, and `save_figure` writes it as PNG. In a notebook, run
`%matplotlib inline` once and a returned figure displays itself.

Figures take graded rows (or `metrics.responses_frame`), or the precomputed table/curve from
`collectkit.metrics`, so a notebook can show the table and draw it without computing twice.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from . import metrics

DATASET_LABELS = {"math500": "MATH-500", "mmlu_pro": "MMLU-Pro"}
DATASET_COLORS = {"math500": "#1f77b4", "mmlu_pro": "#ff7f0e"}
OTHER_COLORS = ("#2ca02c", "#d62728", "#9467bd", "#8c564b")
DPI = 120


def dataset_label(name: Any) -> str:
    return DATASET_LABELS.get(str(name), str(name))


def dataset_color(name: Any, position: int = 0) -> str:
    return DATASET_COLORS.get(str(name), OTHER_COLORS[position % len(OTHER_COLORS)])


def _table(data: Any, by: str | None) -> pd.DataFrame:
    """`data` if it already is a metrics table, else `metrics.accuracy_table(data, by=by)`."""
    if isinstance(data, pd.DataFrame) and "accuracy" in data.columns:
        return data
    return metrics.accuracy_table(data, by=by)


def _empty(fig: Figure, ax, message: str) -> Figure:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def _ci_errors(table: pd.DataFrame) -> list[list[float]]:
    """Asymmetric error bar lengths from ci_low / ci_high (0 where the interval is unknown)."""
    low = (table["accuracy"] - table["ci_low"]).clip(lower=0).fillna(0)
    high = (table["ci_high"] - table["accuracy"]).clip(lower=0).fillna(0)
    return [list(low), list(high)]


def _grouped_labels(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(bar labels, dataset of each bar) for a table indexed by (dataset, group)."""
    if isinstance(table.index, pd.MultiIndex):
        datasets = [str(index[0]) for index in table.index]
        groups = [str(index[-1]) for index in table.index]
    else:
        datasets = [str(table.index.name or "")] * len(table)
        groups = [str(index) for index in table.index]
    labels = [f"{group} (n={int(n)})" for group, n in zip(groups, table["n_problems"])]
    return labels, datasets


def _dataset_legend(ax, datasets: list[str]) -> None:
    present = list(dict.fromkeys(datasets))
    if len(present) > 1 or present and present[0] in DATASET_LABELS:
        ax.legend(handles=[Patch(color=dataset_color(d, i), label=dataset_label(d))
                           for i, d in enumerate(present)], loc="lower right", fontsize=8)


def _category_figure(title: str, rows: int) -> tuple[Figure, Any]:
    fig = Figure(figsize=(8, 1.6 + 0.32 * max(1, rows)), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    return fig, ax


def _category_bars(table: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """Bar labels, each bar's dataset, and its colour (one colour per dataset)."""
    labels, datasets = _grouped_labels(table)
    order = {d: i for i, d in enumerate(dict.fromkeys(datasets))}
    return labels, datasets, [dataset_color(d, order[d]) for d in datasets]


def accuracy_by_category(data: Any, title: str = "Accuracy per category (95% CI)") -> Figure:
    """Horizontal bars, one per (dataset, category), with Wilson 95% intervals as error bars."""
    table = _table(data, "category")
    fig, ax = _category_figure(title, len(table))
    if table.empty:
        return _empty(fig, ax, "no graded responses")
    labels, datasets, colors = _category_bars(table)
    positions = range(len(table))
    ax.barh(positions, table["accuracy"], xerr=_ci_errors(table), color=colors,
            error_kw={"elinewidth": 1, "capsize": 3, "ecolor": "#333333"})
    for position, value in enumerate(table["accuracy"]):
        if not math.isnan(value):  # the values in a column right of the axis
            ax.text(1.01, position, f"{value:.2f}", va="center", fontsize=7,
                    transform=ax.get_yaxis_transform())
    ax.set_yticks(list(positions), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (mean over all responses)")
    ax.grid(axis="x", alpha=0.3)
    _dataset_legend(ax, datasets)
    return fig


def accuracy_by_level(data: Any, title: str = "MATH-500 accuracy per level (95% CI)") -> Figure:
    """Bars per MATH difficulty level (1–5) with 95% intervals; MMLU-Pro has no levels."""
    table = _table(data, "level")
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    if table.empty:
        return _empty(fig, ax, "no problems with a level (MATH-500) in these results")
    levels = [index[-1] if isinstance(index, tuple) else index for index in table.index]
    positions = range(len(table))
    ax.bar(positions, table["accuracy"], yerr=_ci_errors(table), color=DATASET_COLORS["math500"],
           error_kw={"elinewidth": 1, "capsize": 4, "ecolor": "#333333"})
    for position, value in enumerate(table["accuracy"]):
        if not math.isnan(value):
            ax.text(position, value + 0.01, f"{value:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(positions), [f"Level {int(level)}\n(n={int(n)})"
                                    for level, n in zip(levels, table["n_problems"])])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (mean over all responses)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def pass_maj_curve(data: Any, by: str | None = "dataset",
                   title: str = "pass@k and maj@k against k") -> Figure:
    """pass@k (solid) and maj@k (dashed) for k = 1..K, one colour per dataset."""
    if isinstance(data, pd.DataFrame) and {"k", "pass@k", "maj@k"} <= set(data.columns):
        curve = data
    else:
        curve = metrics.pass_maj_curve(data, by=by)
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    if curve.empty:
        return _empty(fig, ax, "no graded responses")
    group_column = by if by and by in curve.columns else None
    groups = curve.groupby(group_column, sort=True) if group_column else [("all", curve)]
    top = 0.0
    for position, (name, part) in enumerate(groups):
        name = name[0] if isinstance(name, tuple) else name
        part = part.sort_values("k")
        color = dataset_color(name, position)
        label = dataset_label(name)
        ax.plot(part["k"], part["pass@k"], "-o", color=color, label=f"{label} pass@k")
        ax.plot(part["k"], part["maj@k"], "--s", color=color, label=f"{label} maj@k",
                alpha=0.8)
        top = max(top, float(part[["pass@k", "maj@k"]].max().max()))
    ks = sorted(int(k) for k in curve["k"].unique())
    ax.set_xticks(ks)
    ax.set_xlabel("k (responses per problem)")
    ax.set_ylabel("fraction of problems")
    ax.set_ylim(0, min(1.0, max(0.1, top * 1.15)) if not math.isnan(top) else 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def unparsed_by_category(data: Any,
                         title: str = "Unparsed and truncated responses per category") -> Figure:
    """Per (dataset, category): the share of responses with no extractable answer, beside the
    share cut off by max_tokens (a common reason for the first)."""
    table = _table(data, "category")
    fig, ax = _category_figure(title, len(table))
    if table.empty:
        return _empty(fig, ax, "no graded responses")
    labels, datasets, colors = _category_bars(table)
    positions = list(range(len(table)))
    height = 0.4
    ax.barh([p - height / 2 for p in positions], table["unparsed_rate"], height=height,
            color=colors)
    handles = [Patch(color="#777777", label="unparsed (no answer found)")]
    if "truncated_rate" in table.columns:
        ax.barh([p + height / 2 for p in positions], table["truncated_rate"], height=height,
                color="none", edgecolor=colors, hatch="///")
        handles.append(Patch(facecolor="none", edgecolor="#777777", hatch="///",
                             label="truncated at max_tokens"))
    present = list(dict.fromkeys(datasets))
    handles += [Patch(color=dataset_color(d, i), label=dataset_label(d))
                for i, d in enumerate(present)]
    ax.set_yticks(positions, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of responses")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    return fig


THROUGHPUT_COLUMNS = ["started", "status", "problems_done", "failed", "responses", "prompt_tokens",
                      "completion_tokens", "wall_s", "completion_tokens_per_s",
                      "problems_per_min", "n_per_request"]


def throughput_table(manifest: dict[str, Any] | None) -> pd.DataFrame:
    """Tokens and throughput from a collection manifest: one line per run (a resumed collection
    has several) and a total. Token counts are what the server reported in `usage`; some servers
    (llama.cpp with n>1) under-report them, so compare throughput only between like runs."""
    if not manifest:
        return pd.DataFrame(columns=THROUGHPUT_COLUMNS)
    records, index = [], []
    for number, run in enumerate(manifest.get("runs") or [], 1):
        index.append(f"run {number}")
        records.append({
            "started": run.get("started"), "status": run.get("status"), "problems_done": run.get("done"),
            "failed": run.get("failed"), "responses": run.get("responses"),
            "prompt_tokens": run.get("prompt_tokens"),
            "completion_tokens": run.get("completion_tokens"),
            "wall_s": round(run.get("wall_s") or 0.0, 1),
            "completion_tokens_per_s": run.get("completion_tokens_per_s"),
            "problems_per_min": run.get("problems_per_min"),
            "n_per_request": run.get("n_per_request"),
        })
    totals = manifest.get("totals") or {}
    if totals:
        wall = totals.get("wall_s") or 0.0
        index.append("total")
        records.append({
            "started": manifest.get("created"), "status": manifest.get("status"), "problems_done": totals.get("done"),
            "failed": totals.get("failed"), "responses": totals.get("responses"),
            "prompt_tokens": totals.get("prompt_tokens"),
            "completion_tokens": totals.get("completion_tokens"), "wall_s": round(wall, 1),
            "completion_tokens_per_s": totals.get("completion_tokens_per_s"),
            "problems_per_min": round(60 * (totals.get("done") or 0) / wall, 2) if wall else 0.0,
            "n_per_request": None,
        })
    return pd.DataFrame(records, index=pd.Index(index, name="run"), columns=THROUGHPUT_COLUMNS)


def table_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """A DataFrame drawn as a table (for saving tables such as throughput as PNG)."""
    shown = table.reset_index() if table.index.name else table
    cells = [["" if value is None or (isinstance(value, float) and math.isnan(value)) else
              f"{value:,.2f}" if isinstance(value, float) else
              f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else
              str(value) for value in row] for row in shown.itertuples(index=False)]
    headers = [str(column).replace("_", " ") for column in shown.columns]
    # Column widths follow their longest text (about 0.075 inch a character at 8 pt).
    chars = [max([len(header)] + [len(row[i]) for row in cells]) + 2
             for i, header in enumerate(headers)]
    width = max(3.0, 0.075 * sum(chars))
    height = 0.3 * (len(cells) + 1) + (0.45 if title else 0.1)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    if not cells:
        return _empty(fig, ax, "no data")
    drawn = ax.table(cellText=cells, colLabels=headers, cellLoc="center", bbox=[0, 0, 1, 1],
                     colWidths=[c / sum(chars) for c in chars])
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write the figure as PNG (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", bbox_inches="tight")
    return path


__all__ = ["accuracy_by_category", "accuracy_by_level", "pass_maj_curve", "save_figure",
           "table_figure", "throughput_table", "unparsed_by_category"]
