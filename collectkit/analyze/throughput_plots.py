"""Tables drawn as figures: the collection's tokens and throughput from its manifest."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure


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
    """A DataFrame drawn as a table (for saving tables such as throughput as PNG). A table with
    many more columns than rows (throughput: 11 columns, 2 rows drew a 1925×203 strip) is drawn
    transposed: one row per column, one column per row."""
    shown = table.reset_index() if table.index.name else table
    if len(shown.columns) > 2 * max(1, len(shown)):
        first = shown.columns[0]
        shown = shown.set_index(first).T.rename_axis(str(first)).reset_index()
    cells = [["" if value is None or (isinstance(value, float) and math.isnan(value)) else
              f"{value:,.2f}" if isinstance(value, float) else
              f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else
              str(value) for value in row] for row in shown.itertuples(index=False)]
    headers = [str(column).replace("_", " ") for column in shown.columns]
    # Column widths follow their longest text (about 0.09 inch a character at 10 pt).
    chars = [max([len(header)] + [len(row[i]) for row in cells]) + 2
             for i, header in enumerate(headers)]
    width = max(3.0, 0.09 * sum(chars))
    height = 0.36 * (len(cells) + 1) + (0.5 if title else 0.1)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    if not cells:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return fig
    drawn = ax.table(cellText=cells, colLabels=headers, cellLoc="center", bbox=[0, 0, 1, 1],
                     colWidths=[c / sum(chars) for c in chars])
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(10)
    return fig
