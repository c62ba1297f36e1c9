"""Where the explorer's runs come from, behind one small interface: `summaries` (one per problem,
what the explorer's table needs: counts, no response text), `row(key)` (a problem's graded row, or
None), `close()`, and the run as a sequence of its graded rows (what compare.load_runs' labels
read).

- MemoryRun: rows already in memory (a notebook's `Explorer(runs)`, the tests).
- FileRun: a results file in bounded memory. One checked pass (store.results.RowIndex: the
  reader's rule) keeps each kept row's byte offset and summary; a problem's row is read back at its
  offset when it is shown. A raw (ungraded) file is graded by streaming, as `collectkit extract`
  is (analyze/stream.py): its answers are extracted a row at a time (Extractor(texts=False)) and
  graded together; only the grading fields stay in memory, laid over each row as it is read back:
  the row grade_rows gives.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Iterator

from collectkit.analyze.stream import with_grading
from collectkit.grade.grading import Extractor, GradingConfig, grade_extracted
from collectkit.store.results import RowIndex
from collectkit.tasks.extraction import answer_key

PREVIEW_CHARS = 90


def vote_key(response: dict[str, Any]) -> Any:
    """The answer group a response votes for ("right" for every right answer); None: no vote."""
    answer = response.get("extracted_answer")
    if answer is None:
        return None
    if response.get("is_correct"):
        return "right"
    group = response.get("answer_group")
    return ("group", group) if group is not None else ("key", answer_key(str(answer)))


def row_key(row: dict[str, Any]) -> str:
    return f"{row.get('dataset')}:{row.get('unique_id')}"


def row_summary(row: dict[str, Any]) -> dict[str, Any]:
    """What the explorer's table keeps of one graded row (its run and position are added there)."""
    responses = row.get("responses") or []
    right = unparsed = cut_off = 0
    votes: Counter = Counter()
    tokens = []
    for response in responses:  # one pass: this runs for every response of a big run
        if response.get("is_correct"):
            right += 1
        if response.get("extracted_answer") is None:
            unparsed += 1
        else:
            votes[vote_key(response)] += 1
        if response.get("finish_reason") == "length":
            cut_off += 1
        usage = response.get("usage")
        if usage and usage.get("completion_tokens") is not None:
            tokens.append(usage["completion_tokens"])
    right_votes = votes.pop("right", 0)
    question = str(row.get("problem") or row.get("question") or "")
    return {
        "key": row_key(row), "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
        "category": row.get("category"), "level": row.get("level"),
        "question": question, "preview": " ".join(question[:PREVIEW_CHARS * 2].split())[:PREVIEW_CHARS],
        "n": len(responses), "n_right": right, "n_unparsed": unparsed, "n_cut_off": cut_off,
        "attempts": int(row.get("attempts") or 1),
        "tokens": sum(tokens) / len(tokens) if tokens else float("nan"),
        "majority_right": right_votes > 0 and right_votes > max(votes.values(), default=0),
    }


class Run(Sequence):
    """One run's graded rows, in file order; `summaries` in the same order."""
    summaries: list[dict[str, Any]]

    def row(self, key: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the run holds open (nothing for rows in memory)."""


class MemoryRun(Run):
    """Rows held in memory; a problem seen twice (same dataset and id) shows its later row."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = list(rows)
        self.summaries = [row_summary(row) for row in self.rows]
        self.by_key = {summary["key"]: row for summary, row in zip(self.summaries, self.rows)}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def row(self, key: str) -> dict[str, Any] | None:
        return self.by_key.get(key)


def _graded_summary(row: dict[str, Any]) -> dict[str, Any] | None:
    """The row's summary, None when a response of it is not graded (then the file is graded)."""
    return row_summary(row) if all("is_correct" in r for r in row["responses"]) else None


class FileRun(Run):
    """A results or processed file read in bounded memory: summaries from one checked pass, each
    row read back at its offset when asked. The file stays open until close()."""

    def __init__(self, path: str | Path) -> None:
        self.index = RowIndex(path, _graded_summary)
        self.grading: list[list[dict[str, Any]]] | None = None
        self.uids = list(self.index.places)
        try:
            if all(summary is not None for summary in self.index.summaries):
                self.summaries = self.index.summaries
            else:
                self.summaries = self._grade(Path(path))
        except BaseException:
            self.index.close()
            raise
        self.positions = {summary["key"]: i for i, summary in enumerate(self.summaries)}

    def _grade(self, path: Path) -> list[dict[str, Any]]:
        """Grade a raw file as grade_rows would (every row, the default grading), streaming."""
        self.index.close()
        self.index = RowIndex(path, Extractor(texts=False))
        self.uids = list(self.index.places)
        skeletons = grade_extracted(self.index.summaries, GradingConfig())
        self.grading = [skeleton["responses"] for skeleton in skeletons]
        return [row_summary(row) for row in self]

    def __len__(self) -> int:
        return len(self.uids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = self.index.row(self.uids[index])
        return row if self.grading is None else with_grading(row, self.grading[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for position in range(len(self)):
            yield self[position]

    def row(self, key: str) -> dict[str, Any] | None:
        position = self.positions.get(key)
        return None if position is None else self[position]

    def close(self) -> None:
        self.index.close()
