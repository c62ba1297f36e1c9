"""What a line of a JSONL file is: the one rule every writer and reader of the kit's files uses
(results, processed, error and corrupt files, batch input and output files, datasets).

A line ends at "\\n" (b"\\n") and nowhere else. `str.splitlines()` also breaks at "\\r", "\\x0b",
"\\x0c", "\\x1c"–"\\x1e", U+0085 (NEL), U+2028 and U+2029; text-mode file iteration at "\\r"; so
neither may split a JSONL file (MMLU-Pro's question 5215 holds a U+0085). A line's trailing "\\r"
(a file saved with CRLF endings) is JSON whitespace, read as nothing.

The writer (`dumps`) escapes every character other tools read as a line break: json.dumps already
writes each control character below U+0020 as an escape; U+0085, U+2028 and U+2029, left raw by
`ensure_ascii=False`, are written as `\\u0085`, `\\u2028`, `\\u2029` (the same string to any JSON
reader). Files written before that, holding them raw, still read: the split is at "\\n" only.
"""
from __future__ import annotations

import json
import re
from typing import IO, Any, Iterator

# What json.dumps(ensure_ascii=False) leaves raw that some reader breaks a line at.
RAW_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any, **options: Any) -> str:
    """json.dumps(value, ensure_ascii=False) with no character any reader takes for a line break."""
    text = json.dumps(value, ensure_ascii=False, **options)
    for raw, escaped in RAW_BREAKS.items():
        if raw in text:  # a membership test is ~100x faster than a regex search
            text = text.replace(raw, escaped)
    return text


def dumps_line(value: Any) -> str:
    """One JSONL line: `dumps(value)` and its "\\n"."""
    return dumps(value) + "\n"


def split_lines(text: str) -> list[str]:
    """The lines of JSONL text, split at "\\n" only (a last line without its "\\n" included)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def file_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line with its b"\\n") of a file opened in binary mode: iterating a
    binary file splits at b"\\n" only, the same rule as split_lines."""
    return enumerate(handle, 1)


def decoded_lines(handle: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file opened in binary mode (a UnicodeDecodeError on a
    line that is not UTF-8)."""
    for number, line in file_lines(handle):
        yield number, line.decode("utf-8")


def may_hold_surrogates(text: str) -> bool:
    """Whether JSON text may hold a lone surrogate (`\\ud800`: a string no UTF-8 file can
    hold): only a \\uD800–\\uDFFF escape writes one, since a strict UTF-8 decode admits none."""
    return "\\ud" in text or "\\uD" in text


def surrogate_field(value: Any) -> str | None:
    """Where a parsed JSON value holds a lone surrogate, as a field path like
    `responses[0].full_response`; None where it holds none."""
    return _surrogate_path(value, "")


def _surrogate_path(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "the row") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        items = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    for inner, item in items:
        if _SURROGATE.search(inner):
            return (path or "the row") + " (a key)"
        found = _surrogate_path(item, inner)
        if found:
            return found
    return None
