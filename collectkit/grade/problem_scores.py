"""Each problem's share of right responses in a run, graded here when the file is not yet
(a pilot for `collectkit plan`, the other run of `collectkit run --compare-with`)."""
from __future__ import annotations

from pathlib import Path

from collectkit.grade.grading import grade_rows
from collectkit.store.results import load_results


def scores_by_problem(path: Path) -> dict[str, tuple[str, float]]:
    """unique_id → (benchmark, share of right responses) of a run's results or processed file
    (a raw results file is graded here as `collectkit extract` grades it)."""
    rows = load_results(path)
    if any("is_correct" not in r for row in rows for r in row.get("responses") or []):
        rows = grade_rows(rows)
    return {str(row["unique_id"]): (str(row.get("dataset")), sum(
        bool(r.get("is_correct")) for r in row["responses"]) / len(row["responses"]))
        for row in rows if row.get("responses")}
