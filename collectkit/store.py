"""The results files: append-only JSONL written by one writer, torn-tail recovery, fast resume scan.

`X.jsonl` holds one line per completed problem; `X.errors.jsonl` one line per failed attempt;
`X.manifest.json` the run's configuration and figures (replaced atomically).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

# Rows are written with unique_id first, so resuming reads ids without parsing whole lines.
LEADING_ID = re.compile(rb'^\{"unique_id": ("(?:[^"\\]|\\.)*")')


class StoreError(RuntimeError):
    """A results file cannot be used (locked by another run, or unreadable); says which."""


def errors_path(results: Path) -> Path:
    return results.with_name(results.stem + ".errors.jsonl")


def manifest_path(results: Path) -> Path:
    return results.with_name(results.stem + ".manifest.json")


def recover_torn_tail(path: Path) -> int:
    """Cut a last line left without its newline by a killed writer; returns bytes removed."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - 1))
        if handle.read(1) == b"\n":
            return 0
        keep = _end_of_last_full_line(handle, size)
        handle.truncate(keep)
        return size - keep


def _end_of_last_full_line(handle: IO[bytes], size: int, chunk: int = 1 << 16) -> int:
    end = size
    while end > 0:
        start = max(0, end - chunk)
        handle.seek(start)
        newline = handle.read(end - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def completed_ids(path: Path) -> set[str]:
    """Ids of the problems in a results file, read from each line's leading key."""
    ids: set[str] = set()
    if not path.exists():
        return ids
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            match = LEADING_ID.match(line)
            if match:
                ids.add(json.loads(match.group(1)))
            elif line.strip():
                ids.add(_parse(line, path, number)["unique_id"])
    return ids


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield _parse(line, path, number)


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a results file, the last line winning for an id seen twice."""
    latest = {row["unique_id"]: row for row in iter_rows(Path(path))}
    return list(latest.values())


def counted_failures(path: Path) -> dict[str, int]:
    """Failed attempts per problem that count against --max_attempts (0 for problems whose
    failures were all uncounted)."""
    counts: dict[str, int] = {}
    if path.exists():
        for row in iter_rows(path):
            counts[row["unique_id"]] = counts.get(row["unique_id"], 0) + bool(
                row.get("counted", True))
    return counts


def _parse(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict) or "unique_id" not in row:
        raise StoreError(f"{path}: line {number} has no unique_id")
    return row


class AppendWriter:
    """The single writer of a JSONL file: appends whole lines, flushed one by one, under a lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise StoreError(f"{path} is being written by another run; wait for it or choose "
                             "another --output_file") from None
        self.bytes_written = 0

    def append(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False) + "\n"
        self._handle.write(line)
        self._handle.flush()
        self.bytes_written += len(line)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> "AppendWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path} is not valid JSON ({exc.msg})") from None
