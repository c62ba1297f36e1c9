"""One object for one run: `collectkit.load(path)` — its rows and DataFrame, accuracy tables by
benchmark / category / level, pass@k and maj@k, lengths, confidence, throughput, the figures,
the explorer and the training-data export."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from matplotlib.figure import Figure

from collectkit.analyze import confidence, length_plots, lengths, metrics, narrowing, plots
from collectkit.workflow.files import (collected_table, find_processed_file, graded_table,
                                      load_manifest, stem_of)
from collectkit.store.results import PROCESSED_SUFFIX, SUMMARY_SUFFIX, load_results

FIGURES = ("accuracy_by_category", "accuracy_by_level", "pass_maj_at_k", "unparsed_by_category",
           "accuracy_vs_length", "calibration", "tokens_throughput", "interval_narrowing")


class Run:
    """A results file (raw) or a processed file (graded). Tables are computed once, on first use."""

    def __init__(self, path: str | Path, rows: list[dict[str, Any]] | None = None, *,
                 stats: Any = None, max_tokens: int | None = None, graded_from: Any = None):
        self.path = Path(path)
        self.stats, self.graded_from = stats, graded_from
        self._rows, self._max_tokens = rows, max_tokens

    @classmethod
    def open(cls, path: str | Path, **kwargs: Any) -> "Run":
        """A file, or a folder: the newest processed file in it."""
        path = Path(path)
        return cls(find_processed_file(path) if path.is_dir() else path, **kwargs)

    # ---------------------------------------------------------------- data
    @property
    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = load_results(self.path)
        return self._rows

    @property
    def graded(self) -> bool:
        return self.path.name.endswith(PROCESSED_SUFFIX) or self.graded_from is not None

    @cached_property
    def df(self) -> pd.DataFrame:
        """One row per response."""
        return metrics.responses_frame(self.rows)

    @property
    def summary_file(self) -> Path:
        """X.summary.json beside the processed file (written by `grade`)."""
        return self.path.with_name(stem_of(self.path) + SUMMARY_SUFFIX)

    @property
    def manifest(self) -> dict[str, Any] | None:
        return load_manifest(self.path)

    def line(self) -> str:
        if self.graded_from is not None:
            return self.graded_from.line()
        if self.stats is not None:  # a collection: its figures, and its live accuracy
            from collectkit.analyze.live import report_lines

            return "\n".join([self.stats.line(), *report_lines(
                getattr(self.stats, "live", None), getattr(self.stats, "target_reached", False),
                getattr(self.stats, "not_needed", 0))])
        responses = sum(len(row.get("responses") or []) for row in self.rows)
        return f"{len(self.rows)} problems, {responses} responses in {self.path}"

    def warnings(self) -> list[str]:
        """Collection warnings (e.g. many responses cut off by max_tokens)."""
        if self.stats is None:
            return []
        return list(self.stats.truncation_warnings(self._max_tokens))

    def collected(self, limit: int | None = None) -> pd.DataFrame:
        """One line per collected problem: source, responses, how they ended, tokens."""
        return collected_table(self.rows, limit)

    def answers(self, limit: int | None = None) -> pd.DataFrame:
        """One line per graded problem: gold, extracted answers, how many were correct."""
        return graded_table(self.rows, limit)

    # ---------------------------------------------------------------- tables
    def accuracy(self, by: str | None = "dataset", k: int | None = None) -> pd.DataFrame:
        """Accuracy (mean pass@1, Wilson 95% interval over problems), pass@k, maj@k, unparsed;
        `by`: "dataset", "category", "level" or None."""
        return metrics.accuracy_table(self.df, by=by, k=k)

    def pass_maj(self, by: str | None = "dataset") -> pd.DataFrame:
        """pass@k and maj@k for every k up to the run's."""
        return metrics.pass_maj_curve(self.df, by=by)

    def truncation(self) -> pd.DataFrame:
        """Per benchmark: responses cut off by max_tokens, accuracy of complete and cut-off ones."""
        return lengths.truncation_table(self.rows)

    def confidence(self) -> pd.DataFrame | None:
        """Majority vote against the confidence-weighted vote (None without logprobs)."""
        frame = confidence.confidence_frame(self.rows)
        return confidence.vote_table(frame) if confidence.has_logprobs(frame) else None

    def narrowing(self) -> pd.DataFrame:
        """After each problem (in the order collected), per benchmark: accuracy, its confidence
        sequence (the interval `collectkit run` shows live and stops on) and Wilson's."""
        return narrowing.narrowing_table(self.rows)

    def target_halfwidth(self) -> float | None:
        """The --target-halfwidth the last collection ran with (None: none)."""
        runs = (self.manifest or {}).get("runs") or [{}]
        return ((runs[-1].get("live") or {}).get("target_halfwidth")) or None

    def throughput(self) -> pd.DataFrame:
        """Tokens and throughput from the collection's manifest."""
        return plots.throughput_table(self.manifest)

    # ---------------------------------------------------------------- figures
    def plot(self, name: str, save_to: str | Path | None = None) -> Figure | None:
        """One of FIGURES; with `save_to` (a folder) also written there as NAME.png. None for
        `calibration` when the responses carry no logprobs."""
        if name not in FIGURES:
            raise ValueError(f"no figure {name!r}; figures: {', '.join(FIGURES)}")
        fig = self._figure(name)
        if fig is not None and save_to is not None:
            plots.save_figure(fig, Path(save_to) / f"{name}.png")
        return fig

    def _figure(self, name: str) -> Figure | None:
        if name == "accuracy_by_category":
            return plots.accuracy_by_category(self.accuracy("category"))
        if name == "unparsed_by_category":
            return plots.unparsed_by_category(self.accuracy("category"))
        if name == "accuracy_by_level":
            return plots.accuracy_by_level(self.accuracy("level"))
        if name == "pass_maj_at_k":
            return plots.pass_maj_curve(self.pass_maj())
        if name == "accuracy_vs_length":
            return length_plots.accuracy_vs_length(self.rows)
        if name == "interval_narrowing":
            return narrowing.narrowing_figure(self.narrowing(), self.target_halfwidth())
        if name == "calibration":
            frame = confidence.confidence_frame(self.rows)
            return length_plots.calibration(frame) if confidence.has_logprobs(frame) else None
        return plots.table_figure(self.throughput(), "Tokens and throughput")

    # ---------------------------------------------------------------- reading and export
    def explore(self, html_path: str | Path | None = None):
        """The sample explorer widget (filter, sort, read every response; Save HTML)."""
        from collectkit.explorer.widget import Explorer

        return Explorer.open(self.path, html_path=html_path)

    def export(self, out: str | Path, format: str | Iterable[str] = "all") -> dict[str, Any]:
        """Training data (`collectkit export --format`) under `out`: rows per shape ("counts")
        and the files written ("files")."""
        from collectkit.training_data.dataset import export
        from collectkit.training_data.shapes import SHAPES

        shapes = SHAPES if format == "all" else (format,) if isinstance(format, str) else format
        return export([self.path], shapes, out)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def load(path: str | Path) -> Run:
    """A run from its results or processed file, or a folder (its newest processed file)."""
    return Run.open(path)
