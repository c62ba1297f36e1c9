"""The values of one row of the seed's Dataset Format as files written by other tools hold them.

pandas stores an integer column that has a gap (an open-ended row's null `choice_index_correct`
beside the multiple-choice rows' indices) as float64: 0.0, 2.0, NaN. Parquet keeps those floats,
`to_csv` writes them as `0.0` and an empty cell, and writes a list cell as Python's repr
(`['7', '8', '9']`). The rules here read them as meant:

- null: None or a float NaN;
- an integer: an int (numpy's too) or an integral float (2.0); not a bool, not 2.5, not a string;
- choices: a list, a tuple or an array (anything with `.tolist()`, as numpy's);
- a CSV cell: `choices` a JSON list, a Python list literal or a numpy array's print
  (`['a' 'b']`), integers `2` or `2.0`;
- text: no lone surrogate (`"\\ud800"` in JSON is valid there, but no server can be sent it).

Each refusal is a ValueError naming the field (the caller adds the file and line).
"""
from __future__ import annotations

import ast
import io
import json
import math
import numbers
import re
import tokenize
from typing import Any

SURROGATE = re.compile("[\ud800-\udfff]")


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, numbers.Real)
                             and not isinstance(value, numbers.Integral) and math.isnan(value))


def nulls_cleared(row: dict) -> dict:
    """The row with NaN values as None."""
    return {key: (None if is_null(value) else value) for key, value in row.items()}


def integer(value: Any, field: str, what: str) -> int:
    """An int, or an integral float as one; `what` ends the refusal ("for a row with choices")."""
    if not _is_bool(value):
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and math.isfinite(value) \
                and float(value).is_integer():
            return int(value)
    raise ValueError(f"field {field!r} must be an integer{what}, not {_shown(value)}")


def optional_integer(value: Any, field: str) -> int | None:
    return None if is_null(value) else integer(value, field, " or null")


def as_list(value: Any) -> Any:
    """A numpy array (or anything with `.tolist()`, not text) as a list; anything else as is."""
    if not isinstance(value, (str, bytes, list, tuple)) \
            and callable(getattr(value, "tolist", None)):
        listed = value.tolist()
        return listed if isinstance(listed, list) else value
    return value


def check_text(row: dict, fields: tuple[str, ...]) -> None:
    """Refuse a lone surrogate in any text field (or option) of the row."""
    for field in fields:
        value = as_list(row.get(field))
        items = enumerate(value, 1) if isinstance(value, (list, tuple)) else [(0, value)]
        for number, item in items:
            found = SURROGATE.search(item) if isinstance(item, str) else None
            if found:
                where = f" option {number}" if number else ""
                point = f"{ord(found.group()):04X}"
                raise ValueError(f"field {field!r}{where} holds a lone surrogate U+{point} at "
                                 f"character {found.start() + 1} (a \\u{point.lower()} escape "
                                 "without its pair), which is not text")


def integral_text(value: Any) -> str:
    """An answer as text: an integral float (pandas' 42.0 for 42) without its `.0`."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------------------------ CSV cells

def csv_choices(cell: str) -> list:
    """A JSON list, the Python list literal pandas' `to_csv` writes for a list (`['7', '8']`), or
    the print it writes for a numpy array of strings (`['7' '8']`, from `pd.read_parquet`)."""
    try:
        value = json.loads(cell)
    except json.JSONDecodeError:
        value = _numpy_print(cell)
        if value is None:
            try:
                value = ast.literal_eval(cell.strip())
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = None
    if not isinstance(value, (list, tuple)):
        raise ValueError('field \'choices\' must be a JSON list (e.g. ["3", "4", "5"]) or a '
                         "Python list (as pandas writes it), or empty")
    return list(value)


def _numpy_print(cell: str) -> list[str] | None:
    """`['a' 'b'\n 'c']` (string literals with no commas between) → ['a', 'b', 'c']; else None.

    Python itself would join adjacent literals into one option, so a mix of commas and spaces
    is refused."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(cell.strip()).readline)
                  if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError):
        return None
    inner = tokens[1:-1]
    if len(tokens) < 4 or tokens[0].string != "[" or tokens[-1].string != "]" \
            or any(t.type != tokenize.STRING for t in inner):
        if any(a.type == b.type == tokenize.STRING for a, b in zip(tokens, tokens[1:])):
            raise ValueError("field 'choices' mixes options with and without commas between "
                             "them; write it as a JSON list")
        return None
    try:
        options = [ast.literal_eval(t.string) for t in inner]
    except (ValueError, SyntaxError):
        return None
    return options if all(isinstance(o, str) for o in options) else None


def csv_integer(cell: str, field: str) -> int:
    """`2` or `2.0` (pandas' float64 for an integer column with gaps); not `2.5`, not `two`."""
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        number = float(cell)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer()):
        raise ValueError(f"field {field!r} must be an integer or empty, not {cell!r}")
    return int(number)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's bool_


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
