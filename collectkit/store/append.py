"""The results files: append-only JSONL written by one writer, torn-tail recovery, fast resume scan
(reading whole rows for grading and analysis is collectkit.store.results, the one reader).

`X.jsonl` holds one line per completed problem; `X.errors.jsonl` one line per failed attempt;
`X.manifest.json` the run's configuration and figures (replaced atomically); `X.corrupt.jsonl`
the lines `--repair` took out. Every failure to read or write becomes a StoreError naming the path
and the cause (disk full, read-only, a folder where a file belongs, …).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

from collectkit.store import limits as file_limits
from collectkit.store import jsonl

# Rows are written with unique_id first, so resuming reads ids without parsing whole lines.
LEADING_ID = re.compile(rb'^\{"unique_id": ("(?:[^"\\]|\\.)*")')
ROW_START = b'{"unique_id": '
# Each stored response starts with this key (attempts.result_row); a quote inside a JSON string is
# escaped, so counting it counts the responses of a whole row without parsing it.
RESPONSE_START = b'{"full_response": '


class StoreError(RuntimeError):
    """A results file cannot be used (locked by another run, or unreadable); says which."""


def errors_path(results: Path) -> Path:
    return results.with_name(results.stem + ".errors.jsonl")


def manifest_path(results: Path) -> Path:
    return results.with_name(results.stem + ".manifest.json")


def corrupt_path(path: Path) -> Path:
    return path.with_name(path.stem + ".corrupt.jsonl")


def batch_state_path(results: Path) -> Path:
    return results.with_name(results.stem + ".batch.json")


@contextmanager
def os_errors(path: Path, doing: str = "write") -> Iterator[None]:
    """OSError → StoreError: one line naming the path and the cause."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"cannot {doing} {path}: {exc.strerror or exc}") from None


def recover_torn_tail(path: Path) -> int:
    """Cut a last line left without its newline by a killed writer; returns bytes removed."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with os_errors(path, "cut the torn last line of"), open(path, "rb+") as handle:
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


@dataclass
class Scan:
    """What a resume needs from a results file, read in one pass."""
    ids: set[str] = field(default_factory=set)
    corrupt: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    # (line number, the row's "sampling") for whole rows not ending as the caller expected
    other: list[tuple[int, Any]] = field(default_factory=list)
    # (line number, unique_id, responses) of rows with fewer than k responses: not done
    short: list[tuple[int, str, int]] = field(default_factory=list)


def scan_results(path: Path, trusted_end: bytes = b"", k: int | None = None) -> Scan:
    """Ids of the whole rows of a results file and the lines that are not whole rows.

    A line that starts with its unique_id, holds exactly one row start and ends with
    `trusted_end` (the tail this run writes: its sampling settings and status) is taken from its
    leading key without parsing: a quote inside a JSON string is escaped, so a row start can only
    appear once in a whole row, and a torn line glued to the next one shows two. Any other line is
    parsed in full (older rows, rows of other settings) and judged. With k, a row with fewer
    than k responses is not done (`short`): its problem is collected again, and the later,
    whole row is the one readers keep."""
    scan = Scan()
    if not path.exists():
        return scan
    with os_errors(path, "read"), open(path, "rb") as handle:
        for number, line in jsonl.file_lines(handle):
            match = LEADING_ID.match(line)
            if (match and trusted_end and line.endswith(trusted_end)
                    and line.count(ROW_START) == 1
                    and (k is None or line.count(RESPONSE_START) == k)):
                scan.ids.add(json.loads(match.group(1)))
            elif line.strip():
                row, why = _whole_row(line)
                if row is None:
                    scan.corrupt.append((number, why))
                elif k is not None and len(row["responses"]) < k:
                    scan.short.append((number, row["unique_id"], len(row["responses"])))
                else:
                    scan.ids.add(row["unique_id"])
                    scan.other.append((number, row.get("sampling")))
    return scan


def completed_ids(path: Path, k: int | None = None) -> set[str]:
    """Ids of the problems in a results file (corrupt lines, and with k rows of fewer than k
    responses, are not counted as done)."""
    return scan_results(path, k=k).ids


def _whole_row(line: bytes, results: bool = True) -> tuple[dict[str, Any] | None, str]:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"not valid JSON ({getattr(exc, 'msg', exc)})"
    if not isinstance(row, dict) or "unique_id" not in row:
        return None, "no unique_id"
    if results and not isinstance(row.get("responses"), list):
        return None, "no responses list"
    return row, ""


def scan_errors(path: Path) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """(counted failed attempts per problem, (line number, why) of lines that are not rows)."""
    counts: dict[str, int] = {}
    bad = []
    if path.exists():
        with os_errors(path, "read"), open(path, "rb") as handle:
            for number, line in jsonl.file_lines(handle):
                if not line.strip():
                    continue
                row, why = _whole_row(line, results=False)
                if row is None:
                    bad.append((number, why))
                    continue
                counts[row["unique_id"]] = counts.get(row["unique_id"], 0) + bool(
                    row.get("counted", True))
    return counts, bad


def move_lines_out(path: Path, numbers: set[int]) -> int:
    """Append the given lines to X.corrupt.jsonl, then rewrite X without them (atomically)."""
    if not numbers:
        return 0
    with os_errors(path, "repair"):
        kept, moved = [], []
        with open(path, "rb") as handle:
            for number, line in jsonl.file_lines(handle):
                (moved if number in numbers else kept).append(line)
        with open(corrupt_path(path), "ab") as out:
            out.writelines(line if line.endswith(b"\n") else line + b"\n" for line in moved)
            out.flush()
            os.fsync(out.fileno())
        write_bytes_atomic(path, b"".join(kept))
    return len(moved)


def counted_failures(path: Path) -> dict[str, int]:
    """Failed attempts per problem that count against --max_attempts (0 for problems whose
    failures were all uncounted); a line that is not a row is a StoreError."""
    counts, bad = scan_errors(path)
    if bad:
        raise StoreError(f"{path}: line {bad[0][0]}: {bad[0][1]}")
    return counts


class AppendWriter:
    """The single writer of a JSONL file: appends whole lines, flushed one by one, under a lock."""

    def __init__(self, path: Path) -> None:
        make_folder(path.parent)
        self.path = path
        self.bytes_written = 0
        self._open()

    def _open(self) -> None:
        with os_errors(self.path, "open"):
            self._handle = open(self.path, "a", encoding="utf-8")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise StoreError(f"{self.path} is being written by another run; wait for it or "
                             "choose another --output_file") from None

    def reopen(self) -> None:
        """After the file was replaced (move_lines_out): append to the new one."""
        self.close()
        self._open()

    def append(self, row: dict[str, Any]) -> None:
        line = jsonl.dumps_line(row)
        try:
            self._handle.write(line)
            self._handle.flush()
        except OSError as exc:  # what reached the disk is a torn last line: cut on resume
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self.bytes_written += len(line)

    def close(self) -> None:
        if not self._handle.closed:
            try:
                self._handle.close()
            except OSError:  # a full disk refusing the buffer's rest: a torn tail, cut on resume
                pass

    def __enter__(self) -> "AppendWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_folder(folder: Path) -> None:
    with os_errors(folder, "create the folder"):
        folder.mkdir(parents=True, exist_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace the file at `path` in one step (see atomic_file)."""
    with atomic_file(path) as stream:
        stream.write(data)


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary stream that replaces the file at `path` in one step when the block ends (an
    error inside it leaves the old file). A symlink stays a symlink: its target is the file
    replaced (in the target's folder); the file keeps its permissions (a new file gets the
    usual 0666 less the umask, not mkstemp's 0600)."""
    with os_errors(path):
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
    make_folder(target.parent)
    with os_errors(path):
        mode = file_limits.permissions(target)
        handle, temporary = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp",
                                             dir=target.parent)
        try:
            os.fchmod(handle, mode)
            with os.fdopen(handle, "wb") as stream:
                yield stream
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, jsonl.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON ({getattr(exc, 'msg', exc)})") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path} is not a JSON object")
    return data
