"""The summary of a graded run (X.summary.json) beside its processed file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from collectkit.analyze.lengths import truncation_summary
from collectkit.analyze.metrics import summarize
from collectkit.store.append import write_json_atomic, write_text_atomic
from collectkit.store.results import jsonl_text


def write_graded(source: Path, rows: list[dict[str, Any]], processed: Path, summary_path: Path,
                 match: str) -> dict[str, Any]:
    """Write the processed rows and their summary; returns the summary."""
    summary = graded_summary(source, match, rows, rows, sum(
        bool(r.get("grading_timeout")) for row in rows for r in row.get("responses") or []))
    write_text_atomic(processed, jsonl_text(rows))
    write_json_atomic(summary_path, summary)
    return summary


def graded_summary(source: Path, match: str, responses: Any, lengths: Any,
                   timeouts: int) -> dict[str, Any]:
    """X.summary.json: from graded rows, or from their responses_frame and lengths_frame."""
    return {"source": str(source), "match": match, **summarize(responses),
            "grading_timeouts": timeouts, "truncation": truncation_summary(lengths)}
