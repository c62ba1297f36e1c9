"""`collectkit.compare(paths)`: several runs side by side — a leaderboard per benchmark, accuracy
per category, paired differences with a bootstrap test, agreement, the export and the figure."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd
from matplotlib.figure import Figure

from collectkit.analyze import comparable, compare as tables, metrics, plots


class Comparison:
    """Runs compared on the problems and k they have in common (`notes` says what was cut)."""

    def __init__(self, paths: str | Path | Iterable[str | Path], labels: Iterable[str] | None = None,
                 baseline: str | None = None):
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        labels = list(labels) if labels else None
        self.runs, self.notes = comparable.common_ground(tables.load_runs(paths, labels))
        self.baseline = baseline or None

    @property
    def labels(self) -> list[str]:
        return list(self.runs)

    def leaderboard(self) -> pd.DataFrame:
        """Per benchmark: accuracy with 95% interval, category macro-average, pass@k, maj@k."""
        return metrics.rounded(tables.leaderboard(self.runs))

    def categories(self) -> pd.DataFrame:
        """Accuracy per category, one block of rows per run (long form)."""
        return tables.category_table(self.runs)

    def side_by_side(self) -> pd.DataFrame:
        """Accuracy per category, one column per run."""
        return tables.side_by_side(self.categories())

    def differences(self) -> pd.DataFrame:
        """Each run against the baseline on shared problems: mean difference, paired-bootstrap
        95% interval, p-value."""
        return metrics.rounded(tables.paired_differences(self.runs, self.baseline)[1])

    def agreement(self) -> pd.DataFrame:
        """Response i of one run against response i of the baseline, with Cohen's kappa."""
        return metrics.rounded(tables.agreement(self.runs, self.baseline))

    @property
    def single_run_note(self) -> str:
        """Why the paired tables are empty with one run ("" with more)."""
        return comparable.single_run_note(self.runs)

    def agreement_notes(self) -> list[str]:
        """What to keep in mind reading the agreement table (one run; kappa undefined)."""
        notes = [comparable.single_run_note(self.runs),
                 *comparable.kappa_notes(tables.agreement(self.runs, self.baseline))]
        return [note for note in notes if note]

    def plot(self, save_to: str | Path | None = None) -> Figure:
        """Accuracy per category, runs side by side (saved as categories.png under `save_to`)."""
        fig = plots.compare_categories(self.categories())
        if save_to is not None:
            plots.save_figure(fig, Path(save_to) / "categories.png")
        return fig

    def export(self, out: str | Path) -> dict[str, Path]:
        """The per-response table as CSV and Parquet, the tables as CSV, under `out`."""
        return tables.export(self.runs, out)

    def explore(self, html_path: str | Path | None = None):
        """The explorer over all runs, side by side (the `flipped` filter among its filters)."""
        from collectkit.explorer.widget import Explorer

        return Explorer(self.runs, html_path=html_path)

    def report(self) -> str:
        """The printed comparison of `collectkit compare`, each cut to common ground said first."""
        return "\n".join([*(f"note: {note}" for note in self.notes), tables.report(self.runs)])

    def __repr__(self) -> str:
        return f"Comparison({', '.join(self.runs)})"


def compare(paths: str | Path | Iterable[str | Path], labels: Iterable[str] | None = None,
            baseline: str | None = None) -> Comparison:
    """Runs (results or processed files, or folders of them) side by side (`collectkit compare`)."""
    return Comparison(paths, labels, baseline)
