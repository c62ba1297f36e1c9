"""matplotlib figures for the analysis notebooks (04_analyze, the Colab notebook).

Agg-safe: every function builds a `matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend, nothing to close), returns it, and `save_figure` writes it as PNG. In a notebook, run
`%matplotlib inline` once and a returned figure displays itself.

Figures take graded rows (or `metrics.responses_frame`), or the precomputed table/curve from
`collectkit.analyze.metrics`, so a notebook can show the table and draw it without computing twice.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from collectkit.analyze import metrics
from collectkit.analyze.throughput_plots import table_figure, throughput_table  # noqa: F401  (plots.* in notebooks)
from collectkit.tasks.registry import REGISTRY

# Each known benchmark its label and a colour of its own; other datasets (your own files) take
# OTHER_COLORS by their position in a figure.
DATASET_LABELS = {name: benchmark.label for name, benchmark in REGISTRY.items()}
BENCHMARK_PALETTE = ("#1f77b4", "#ff7f0e", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f")
DATASET_COLORS = dict(zip(REGISTRY, BENCHMARK_PALETTE))
OTHER_COLORS = ("#2ca02c", "#d62728", "#9467bd", "#8c564b")
RUN_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
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


def _no_data() -> Figure:
    fig = Figure(figsize=(6, 2), layout="constrained")
    return _empty(fig, fig.subplots(), "no graded responses")


def _ci_errors(table: pd.DataFrame) -> list[list[float]]:
    """Asymmetric error bar lengths from ci_low / ci_high (0 where the interval is unknown)."""
    low = (table["accuracy"] - table["ci_low"]).clip(lower=0).fillna(0)
    high = (table["ci_high"] - table["accuracy"]).clip(lower=0).fillna(0)
    return [list(low), list(high)]


def _panels(title: str, table: pd.DataFrame) -> tuple[Figure, list[tuple[str, pd.DataFrame, Any]]]:
    """One horizontal-bar panel per benchmark (MMLU-Pro's "math" never sits among MATH-500's
    subjects), panel heights following their number of categories."""
    datasets = list(dict.fromkeys(str(i[0]) for i in table.index)) if isinstance(
        table.index, pd.MultiIndex) else [str(table.index.name or "")]
    parts = [table.xs(d, level=0) if isinstance(table.index, pd.MultiIndex) else table
             for d in datasets]
    rows = [max(1, len(part)) for part in parts]
    fig = Figure(figsize=(8, 1.2 + 0.32 * sum(rows) + 0.5 * len(parts)), layout="constrained")
    axes = fig.subplots(len(parts), 1, squeeze=False,
                        gridspec_kw={"height_ratios": rows})[:, 0] if parts else []
    fig.suptitle(title)
    return fig, [(d, part, ax) for d, part, ax in zip(datasets, parts, axes)]


def _bars(ax, positions, values, errors, color, height=0.8, label=None) -> None:
    """Bars with error whiskers; a zero bar still shows, as a stub in its colour at 0."""
    ax.barh(positions, values, height=height, xerr=errors, color=color, label=label,
            error_kw={"elinewidth": 1, "capsize": 3, "ecolor": "#333333"})
    zeros = [p for p, v in zip(positions, values) if v == 0]
    if zeros:
        ax.plot([0.004] * len(zeros), zeros, linestyle="none", marker="|", markersize=9,
                markeredgewidth=3, color=color, gid="zero-bar")


def _value_labels(ax, positions, values) -> None:
    for position, value in zip(positions, values):
        if not math.isnan(value):  # the values in a column right of the axis
            ax.text(1.01, position, f"{value:.2f}", va="center", fontsize=7,
                    transform=ax.get_yaxis_transform())


def _finish_panel(ax, dataset: str, labels: list[str], xlabel: str) -> None:
    ax.set_title(dataset_label(dataset), fontsize=10, loc="left")
    ax.set_yticks(list(range(len(labels))), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)


def _labels(part: pd.DataFrame) -> list[str]:
    return [f"{group} (n={int(n)})" for group, n in zip(part.index, part["n_problems"])]


def accuracy_by_category(data: Any, title: str = "Accuracy per category (95% CI)") -> Figure:
    """Horizontal bars per category, one panel per benchmark, with Wilson 95% intervals."""
    table = _table(data, "category")
    if table.empty:
        return _no_data()
    fig, panels = _panels(title, table)
    for position, (dataset, part, ax) in enumerate(panels):
        places = list(range(len(part)))
        color = dataset_color(dataset, position)
        _bars(ax, places, list(part["accuracy"]), _ci_errors(part), color,
              label=dataset_label(dataset))
        _value_labels(ax, places, part["accuracy"])
        _finish_panel(ax, dataset, _labels(part), "accuracy (pass@1 averaged over k)")
    return fig


def compare_categories(categories: pd.DataFrame,
                       title: str = "Accuracy per category, runs side by side (95% CI)") -> Figure:
    """Grouped bars: for each category, one bar per run; one panel per benchmark.
    `categories` is `compare.category_table(runs)` (long: dataset, category, run, accuracy…)."""
    if categories.empty:
        return _no_data()
    runs = list(dict.fromkeys(categories["run"]))
    table = categories.set_index(["dataset", "category"])
    counts = categories.groupby(["dataset", "category"])["n_problems"].max()
    fig, panels = _panels(title, counts.to_frame())
    height = 0.8 / len(runs)
    for dataset, _, ax in panels:
        part = table.xs(dataset, level=0)
        names = list(dict.fromkeys(part.index))
        for number, run in enumerate(runs):
            mine = part[part["run"] == run].reindex(names)
            places = [i - 0.4 + height * (number + 0.5) for i in range(len(names))]
            _bars(ax, places, list(mine["accuracy"]), _ci_errors(mine),
                  RUN_COLORS[number % len(RUN_COLORS)], height=height, label=run)
        labels = [f"{name} (n={int(counts[(dataset, name)])})" for name in names]
        _finish_panel(ax, dataset, labels, "accuracy (pass@1 averaged over k)")
        ax.legend(fontsize=8, loc="lower right")
    return fig


def accuracy_by_level(data: Any, title: str = "Accuracy per level (95% CI)") -> Figure:
    """Bars per level with 95% intervals, one panel per benchmark that has levels (MATH-500's
    1-5; your own files' `level`); a level with no problems in these results is marked as such,
    not left out. Benchmarks without levels (MMLU-Pro) have no panel."""
    table = _table(data, "level")
    names = (dict.fromkeys(table.index.get_level_values(0))
             if isinstance(table.index, pd.MultiIndex) else None)
    parts = [(str(d), table.xs(d, level=0)) for d in names] if names else [("", table)]
    fig = Figure(figsize=(6.5, 4 * max(1, len(parts))), layout="constrained")
    axes = fig.subplots(max(1, len(parts)), 1, squeeze=False)[:, 0]
    fig.suptitle(title)
    if table.empty:
        return _empty(fig, axes[0], "no problems with a level (MATH-500) in these results")
    for position, ((dataset, part), ax) in enumerate(zip(parts, axes)):
        known = REGISTRY[dataset].levels if dataset in REGISTRY else ()
        _level_panel(ax, part, sorted(set(known) | {int(v) for v in part.index}),
                     dataset_color(dataset, position))
        ax.set_title(dataset_label(dataset), fontsize=10, loc="left")
    return fig


def _level_panel(ax, table: pd.DataFrame, levels: list[int], color: str) -> None:
    present = table.reindex(levels)
    places = range(len(levels))
    ax.bar(places, present["accuracy"].fillna(0), yerr=_ci_errors(present.fillna(0)),
           color=color, error_kw={"elinewidth": 1, "capsize": 4, "ecolor": "#333333"})
    labels = []
    for position, (level, row) in enumerate(present.iterrows()):
        if pd.isna(row["n_problems"]):
            ax.text(position, 0.02, "no problems\nat this level", ha="center", va="bottom",
                    fontsize=7, color="gray", rotation=90)
            labels.append(f"Level {level}\n(n=0)")
            continue
        if row["accuracy"] == 0:  # a zero bar still shows
            ax.plot([position], [0.004], marker="_", markersize=18, markeredgewidth=3, color=color,
                    gid="zero-bar")
        ax.text(position, row["accuracy"] + 0.01, f"{row['accuracy']:.2f}", ha="center",
                va="bottom", fontsize=7)
        labels.append(f"Level {level}\n(n={int(row['n_problems'])})")
    ax.set_xticks(list(places), labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (pass@1 averaged over k)")
    ax.grid(axis="y", alpha=0.3)


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
    """Per category, one panel per benchmark: the share of responses with no extractable answer,
    beside the share cut off by max_tokens (a common reason for the first)."""
    table = _table(data, "category")
    if table.empty:
        return _no_data()
    fig, panels = _panels(title, table)
    for position, (dataset, part, ax) in enumerate(panels):
        places = list(range(len(part)))
        color = dataset_color(dataset, position)
        _bars(ax, [p - 0.2 for p in places], list(part["unparsed_rate"]), None, color,
              height=0.4, label="unparsed (no answer found)")
        ax.barh([p + 0.2 for p in places], part["truncated_rate"], height=0.4, color="none",
                edgecolor=color, hatch="///", label="truncated at max_tokens")
        _finish_panel(ax, dataset, _labels(part), "fraction of responses")
        ax.legend(fontsize=8, loc="lower right")
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write the figure as PNG (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", bbox_inches="tight")
    return path


__all__ = ["accuracy_by_category", "accuracy_by_level", "compare_categories", "pass_maj_curve", "save_figure",
           "table_figure", "throughput_table", "unparsed_by_category"]
