"""Reading and writing results files: the one reader every command, notebook and tool uses.

A results file (`X.jsonl`, raw, one row per problem) and its processed copy (`X.processed.jsonl`,
each response graded) are read by the same rule:
- a problem seen twice keeps its later row;
- a last line without its newline that is not a whole JSON object is torn — still being written by
  a collection, or cut off when one was killed (the writer, `store.recover_torn_tail`, cuts it on
  resume): it is skipped and counted, never an error;
- any other line that is not a row (bad JSON, not an object, a required field missing, a field
  of the wrong type: row_schema.py, a lone surrogate) is an InputError naming the file, the line
  and the field.
Lines end at "\\n" only (jsonl.py: U+0085, U+2028, \\r … inside a row are text).
Outputs are written atomically (a reader sees the old file or the new one, never half of it).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from collectkit.store import jsonl
from collectkit.store.row_schema import row_problem
from collectkit.store.append import StoreError

PROCESSED_SUFFIX = ".processed.jsonl"
SUMMARY_SUFFIX = ".summary.json"
ERRORS_SUFFIX = ".errors.jsonl"
SKIPPED_SUFFIXES = (PROCESSED_SUFFIX, ERRORS_SUFFIX)
REQUIRED_FIELDS = ("unique_id", "answer_correct", "responses")


class InputError(StoreError):
    """A results file cannot be used; the message is one line naming the file (and line)."""


def results_files(path: Path) -> list[Path]:
    """The results files at `path`: the file itself, or a directory's `*.jsonl` files other
    than processed outputs and error logs."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or directory")
    files = sorted(p for p in path.glob("*.jsonl") if not p.name.endswith(SKIPPED_SUFFIXES))
    if not files:
        raise InputError(f"{path}: no results files (*.jsonl) in this directory")
    return files


def read_results_counting(path: Path, allow_empty: bool = False
                          ) -> tuple[list[dict[str, Any]], int]:
    """(rows, number of torn last lines skipped: 0 or 1); see the module's rule."""
    path = Path(path)
    rows: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    lines = jsonl.split_lines(text)
    surrogates = jsonl.may_hold_surrogates(text)
    skipped = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not text.endswith("\n"):  # torn: still being written
                skipped += 1
                continue
            raise InputError(f"{path} line {number}: malformed JSON ({exc})") from None
        _check_row(row, path, number, surrogates and jsonl.may_hold_surrogates(line))
        rows.pop(str(row["unique_id"]), None)
        rows[str(row["unique_id"])] = row
    if not rows and not allow_empty:
        raise InputError(f"{path}: no results rows (the file is empty"
                         f"{' but for a torn last line' if skipped else ''})")
    return list(rows.values()), skipped


def _check_row(row: Any, path: Path, number: int, surrogates: bool = False) -> None:
    if not isinstance(row, dict):
        raise InputError(f"{path} line {number}: expected a JSON object")
    missing = [field for field in REQUIRED_FIELDS if field not in row]
    if missing:
        raise InputError(f"{path} line {number}: missing field(s) {', '.join(missing)}")
    responses = row["responses"]
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        raise InputError(f"{path} line {number}: 'responses' must be a list of objects")
    problem = row_problem(row)
    if problem:
        raise InputError(f"{path} line {number}: {problem}")
    field = jsonl.surrogate_field(row) if surrogates else None
    if field:
        raise InputError(f"{path} line {number}: field {field!r} holds a lone surrogate (a "
                         "\\ud800-\\udfff escape that is half of a character; no UTF-8 file "
                         "can hold it, and the kit never writes one): replace it, e.g. by \\ufffd")


class RowScan:
    """The lines of a results file as (offset, size, row), one at a time, checked by the
    module's rule (a torn last line is counted in `torn` and skipped; a bad line elsewhere is
    an InputError). Repeated problems are all yielded: the caller keeps the later row."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path, self.handle, self.torn = Path(path), handle, 0

    def __iter__(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        offset = 0
        self.handle.seek(0)
        for number, line in enumerate(self.handle, start=1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except UnicodeDecodeError as exc:
                raise InputError(f"{self.path}: cannot read ({exc})") from None
            except json.JSONDecodeError as exc:
                if not line.endswith(b"\n"):  # torn: still being written
                    self.torn += 1
                    continue
                raise InputError(f"{self.path} line {number}: malformed JSON ({exc})") from None
            _check_row(row, self.path, number, b"\\ud" in line or b"\\uD" in line)
            yield start, len(line), row

    def row_at(self, offset: int, size: int) -> dict[str, Any]:
        self.handle.seek(offset)
        return json.loads(self.handle.read(size))


class RowIndex:
    """A results or processed file read in bounded memory: one checked pass (the module's rule)
    keeps each problem's byte offset and size, plus `summarize(row)` of its kept row; rows are
    read back at their offsets when asked, one at a time, in file order. Close it (or use it in a
    `with`) to release the file; it reads the file it opened even if that is replaced meanwhile."""

    def __init__(self, path: str | Path, summarize: Callable[[dict[str, Any]], Any] | None = None,
                 allow_empty: bool = False) -> None:
        self.path = Path(path)
        self.handle = open_results(self.path)
        self.scan = RowScan(self.path, self.handle)
        kept: dict[str, tuple[int, int, Any]] = {}
        try:
            for offset, size, row in self.scan:
                uid = str(row["unique_id"])
                kept.pop(uid, None)  # the later row of a problem wins, in its place
                kept[uid] = (offset, size, summarize(row) if summarize else None)
        except BaseException:
            self.handle.close()
            raise
        if not kept and not allow_empty:
            self.handle.close()
            raise InputError(f"{self.path}: no results rows (the file is empty"
                             f"{' but for a torn last line' if self.scan.torn else ''})")
        self.places = {uid: (offset, size) for uid, (offset, size, _) in kept.items()}
        self.summaries = [summary for _, _, summary in kept.values()]

    @property
    def torn(self) -> int:
        return self.scan.torn

    def __len__(self) -> int:
        return len(self.places)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for uid in list(self.places):
            yield self.row(uid)

    def row(self, unique_id: str) -> dict[str, Any]:
        offset, size = self.places[str(unique_id)]
        row = self.scan.row_at(offset, size)
        if str(row.get("unique_id")) != str(unique_id):
            raise InputError(f"{self.path} changed while it was being read; run again")
        return row

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> "RowIndex":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def open_results(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def read_results(path: Path) -> list[dict[str, Any]]:
    """The rows of one results file; an InputError when it has none."""
    return read_results_counting(path)[0]


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a results or processed file, [] for an empty one (a run that has not finished
    a problem yet); a torn last line is skipped."""
    return read_results_counting(Path(path), allow_empty=True)[0]


def output_paths(source: Path, output: Path | None, many_inputs: bool) -> tuple[Path, Path]:
    """(processed, summary) paths for one results file."""
    stem = source.name[: -len(".jsonl")] if source.name.endswith(".jsonl") else source.name
    if output is None:
        folder = source.parent
    elif many_inputs or output.is_dir() or not output.name.endswith(".jsonl"):
        folder = output
    else:
        base = output.name.removesuffix(".jsonl").removesuffix(".processed")
        return output, output.with_name(base + SUMMARY_SUFFIX)
    return folder / (stem + PROCESSED_SUFFIX), folder / (stem + SUMMARY_SUFFIX)


def jsonl_text(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(map(jsonl.dumps_line, rows))
