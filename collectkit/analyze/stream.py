"""`collectkit extract` in bounded memory: results files graded a row at a time.

Grading needs the texts only to extract each response's answer; deciding which answers are right
(math-verify) and which are the same answer (`answer_group`) needs the answers alone. So a file
is read twice, one row at a time:
1. `read_for_grading`: every line is checked by the reader's rule (store/results.py: the later row
   of a problem wins, a torn last line is skipped and counted, any other bad line is one
   InputError) and each kept row's answers extracted; memory keeps the row's byte offset and a
   copy of it without texts (Extractor(texts=False)). Every input is read so before anything is
   written, so a bad input leaves every output as it was.
2. The answers of all inputs are graded together (grade_extracted: one math-verify pool).
3. `write_graded_stream`: each row is read again at its offset, its responses gain the grading
   fields, and it is written to X.processed.jsonl (through a temporary file, renamed at the end)
   and reduced to the records the summary is computed from.
The processed file and the summary are the ones grade_rows + write_graded give, byte for byte.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from collectkit.analyze.lengths import LENGTH_COLUMNS, length_records
from collectkit.analyze.metrics import records_frame, response_records
from collectkit.grade.grading import Extractor, GradingConfig, grade_extracted
from collectkit.store.append import atomic_file, write_json_atomic
from collectkit.analyze.summary import graded_summary
from collectkit.store import jsonl
from collectkit.store.results import RowIndex


@dataclass
class Pending:
    """One results file read and its answers extracted; written by write_graded_stream."""
    source: Path
    index: RowIndex  # each kept row's offset; its summaries: the same rows, no texts

    @property
    def skeletons(self) -> list[dict[str, Any]]:
        return self.index.summaries

    @property
    def torn(self) -> int:
        return self.index.torn

    def close(self) -> None:
        self.index.close()


def read_for_grading(path: Path, extract: Extractor) -> Pending:
    """Check every line of `path` and extract the kept rows' answers (step 1). The file stays
    open until close(): step 3 reads the same file even if it is replaced meanwhile."""
    return Pending(Path(path), RowIndex(path, extract))


def grade_pending(files: list[Pending], config: GradingConfig) -> None:
    """Grade the extracted answers of every file at once (step 2), in place."""
    grade_extracted([row for pending in files for row in pending.skeletons], config)


def with_grading(row: dict[str, Any], grading: list[dict[str, Any]]) -> dict[str, Any]:
    """The row grade_rows gives: each response with its grading fields (a skeleton's) laid over."""
    return {**row, "responses": [{**response, **fields}
                                 for response, fields in zip(row["responses"], grading)]}


def write_graded_stream(pending: Pending, processed: Path, summary_path: Path,
                        match: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Write X.processed.jsonl a row at a time and X.summary.json (step 3); returns the summary
    and the responses frame (for the printed tables)."""
    responses: list[dict[str, Any]] = []
    lengths: list[dict[str, Any]] = []
    timeouts = 0
    with atomic_file(processed) as out:
        for row, skeleton in zip(pending.index, pending.skeletons):
            graded = with_grading(row, skeleton["responses"])
            out.write(jsonl.dumps_line(graded).encode("utf-8"))  # the one line rule
            responses += response_records(graded)
            lengths += length_records(graded)
            timeouts += sum(bool(r.get("grading_timeout")) for r in skeleton["responses"])
    frame = records_frame(responses)
    summary = graded_summary(pending.source, match, frame,
                             pd.DataFrame.from_records(lengths, columns=LENGTH_COLUMNS), timeouts)
    write_json_atomic(summary_path, summary)
    return summary, frame


def grade_one_file(source: Path, processed: Path, summary_path: Path, config: GradingConfig,
                   protocol: str | None = None) -> tuple[Pending, dict[str, Any]]:
    """Steps 1–3 for one file (`collectkit.grade`): its processed file and summary written, in
    the memory `collectkit extract` takes; `protocol` reads rows that record none. Returns the
    file read (closed) and its summary."""
    pending = read_for_grading(source, Extractor(config.match, unrecorded_protocol=protocol,
                                                 texts=False))
    try:
        grade_pending([pending], config)
        summary, _ = write_graded_stream(pending, processed, summary_path, config.match)
    finally:
        pending.close()
    return pending, summary
