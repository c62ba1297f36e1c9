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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from collectkit.analyze.lengths import LENGTH_COLUMNS, length_records
from collectkit.analyze.metrics import records_frame, response_records
from collectkit.grade.grading import Extractor, GradingConfig, grade_extracted
from collectkit.store.append import atomic_file, write_json_atomic
from collectkit.analyze.summary import graded_summary
from collectkit.store import jsonl
from collectkit.store.results import InputError, RowScan, open_results


@dataclass
class Pending:
    """One results file read and its answers extracted; written by write_graded_stream."""
    source: Path
    scan: RowScan
    places: list[tuple[int, int]] = field(default_factory=list)  # each kept row's offset, size
    skeletons: list[dict[str, Any]] = field(default_factory=list)  # the same rows, no texts

    @property
    def torn(self) -> int:
        return self.scan.torn

    def close(self) -> None:
        self.scan.handle.close()


def read_for_grading(path: Path, extract: Extractor) -> Pending:
    """Check every line of `path` and extract the kept rows' answers (step 1). The file stays
    open until close(): step 3 reads the same file even if it is replaced meanwhile."""
    handle: BinaryIO = open_results(path)
    scan = RowScan(path, handle)
    kept: dict[str, tuple[int, int, dict[str, Any]]] = {}
    try:
        for offset, size, row in scan:
            uid = str(row["unique_id"])
            kept.pop(uid, None)  # the later row of a problem wins, in its place
            kept[uid] = (offset, size, extract(row))
    except BaseException:
        handle.close()
        raise
    if not kept:
        handle.close()
        raise InputError(f"{path}: no results rows (the file is empty"
                         f"{' but for a torn last line' if scan.torn else ''})")
    pending = Pending(Path(path), scan)
    for offset, size, skeleton in kept.values():
        pending.places.append((offset, size))
        pending.skeletons.append(skeleton)
    return pending


def grade_pending(files: list[Pending], config: GradingConfig) -> None:
    """Grade the extracted answers of every file at once (step 2), in place."""
    grade_extracted([row for pending in files for row in pending.skeletons], config)


def write_graded_stream(pending: Pending, processed: Path, summary_path: Path,
                        match: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Write X.processed.jsonl a row at a time and X.summary.json (step 3); returns the summary
    and the responses frame (for the printed tables)."""
    responses: list[dict[str, Any]] = []
    lengths: list[dict[str, Any]] = []
    timeouts = 0
    with atomic_file(processed) as out:
        for (offset, size), skeleton in zip(pending.places, pending.skeletons):
            row = pending.scan.row_at(offset, size)
            if str(row.get("unique_id")) != str(skeleton["unique_id"]):
                raise InputError(f"{pending.source} changed while it was being graded; "
                                 "run extract again")
            graded = {**row, "responses": [{**response, **grading} for response, grading
                                           in zip(row["responses"], skeleton["responses"])]}
            out.write(jsonl.dumps_line(graded).encode("utf-8"))  # the one line rule
            responses += response_records(graded)
            lengths += length_records(graded)
            timeouts += sum(bool(r.get("grading_timeout")) for r in skeleton["responses"])
    frame = records_frame(responses)
    summary = graded_summary(pending.source, match, frame,
                             pd.DataFrame.from_records(lengths, columns=LENGTH_COLUMNS), timeouts)
    write_json_atomic(summary_path, summary)
    return summary, frame
