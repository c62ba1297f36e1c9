"""The processed files an export reads, in bounded memory: one checked pass per file
(store.results.RowIndex: the later row of a problem wins, a torn last line is skipped) keeps each
kept row's offset and a small summary — the card's facts (model, dataset, protocol, sampling,
response count), whether every response is graded, and the kinds of value the fields whose
Parquet type depends on the data hold (writers.column_type) — and the rows are read back one at
a time when the shapes are written."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

from collectkit.store import append as store
from collectkit.store import results
from collectkit.tasks.protocols import recorded_name
from collectkit.training_data.folder import ExportError

# survey keys: which values decide the type of the columns writers.OPEN_COLUMNS names
SURVEYED = ("unique_id", "choices", "answers", "right", "chosen", "rejected")


def _kinds(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(type(value).__name__ for value in values if value is not None)


def _survey(row: dict[str, Any]) -> tuple[frozenset[str], ...]:
    responses = row["responses"]
    right = [r.get("extracted_answer") for r in responses if r.get("is_correct")]
    wrong = [r.get("extracted_answer") for r in responses if not r.get("is_correct")]
    paired = min(len(right), len(wrong))  # pairs: the i-th right beside the i-th wrong
    return (_kinds([row["unique_id"]]), _kinds(row.get("choices") or ()), _kinds(right + wrong),
            _kinds(right), _kinds(right[:paired]), _kinds(wrong[:paired]))


def _graded(row: dict[str, Any]) -> bool:
    responses = row.get("responses")
    return isinstance(responses, list) and all(
        isinstance(r, dict) and "is_correct" in r for r in responses)


class Inputs:
    """`with Inputs(paths) as inputs:` every file read and checked (an ExportError otherwise);
    `inputs.rows()` yields the kept rows of every file in order; the card's facts and
    `kinds` (survey key → the type names its values hold) come from the summaries alone."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.indexes: list[results.RowIndex] = []
        self._shared: dict[Any, Any] = {}  # one copy of each repeated summary value
        try:
            for path in map(Path, paths):
                self._read(path)
        except BaseException:
            self.close()
            raise
        self.summaries = [s for index in self.indexes for s in index.summaries]
        if not self.summaries:
            raise ExportError("no rows in the input files")

    def _read(self, path: Path) -> None:
        if not path.is_file():
            raise ExportError(f"{path}: no such file")
        try:
            index = results.RowIndex(path, summarize=self._summary, allow_empty=True)
        except store.StoreError as exc:
            raise ExportError(str(exc)) from None
        self.indexes.append(index)
        for unique_id, summary in zip(index.places, index.summaries):
            if summary is None:
                raise ExportError(f"{path}: {unique_id} has no graded responses; export reads "
                                  "X.processed.jsonl from python -m collectkit.answer_extraction")

    def _summary(self, row: dict[str, Any]) -> tuple | None:
        if not _graded(row):
            return None
        share = lambda value: self._shared.setdefault(value, value)  # noqa: E731
        return share((str(row.get("model")), str(row.get("dataset")), str(recorded_name(row)),
                      json.dumps(row.get("sampling"), sort_keys=True), len(row["responses"]),
                      share(_survey(row))))

    def rows(self) -> Iterator[dict[str, Any]]:
        try:
            for index in self.indexes:
                yield from index
        except store.StoreError as exc:  # a file replaced while it was being read
            raise ExportError(str(exc)) from None

    @property
    def kinds(self) -> dict[str, frozenset[str]]:
        surveys = {summary[5] for summary in self.summaries}
        return {key: frozenset().union(*(survey[i] for survey in surveys))
                for i, key in enumerate(SURVEYED)}

    def facts(self) -> dict[str, Any]:
        """What the dataset card says of the inputs."""
        return {"problems": len(self.summaries),
                "responses": sum(s[4] for s in self.summaries),
                "models": sorted({s[0] for s in self.summaries}),
                "benchmarks": Counter(s[1] for s in self.summaries),
                "protocols": sorted({s[2] for s in self.summaries}),
                "signatures": sorted({s[3] for s in self.summaries})}

    def close(self) -> None:
        for index in self.indexes:
            index.close()

    def __enter__(self) -> "Inputs":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
