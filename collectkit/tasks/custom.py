"""Your own problems: the seed's Dataset Format from a file, or a Hub dataset with a field map.

One row per problem, with the fields `unique_id`, `question`, `choices` (a list of 2-10 options,
or null for open-ended), `choice_index_correct` (0-based, or null), `explanation_correct`,
`answer_correct` and `category` (optional: `level`, and `answer_kind` — math, number or exact —
for open-ended rows). Rows with choices are asked with the multiple-choice template and graded
by letter; the others are graded against `answer_correct` (math equivalence by default).

- Files: `.jsonl` (one object a line), `.json` (a list of objects), `.csv` (`choices` as a JSON
  list or a Python list literal in its cell, as pandas' `to_csv` writes it; empty cells are
  null), `.parquet`. The dataset's name is the file's stem. What pandas writes for mixed rows
  reads as meant: NaN is null, an integral float (0.0) an integer (seed_values.py).
- `hf:ORG/NAME[:CONFIG][@REVISION]`: a Hub dataset (split `test`), its columns mapped onto the
  fields by `--dataset_fields question=problem,answer_correct=answer` (a field not mapped is
  read from the column of its own name; `choices=A|B|C|D` joins columns into the options;
  `split=train` picks another split; rows without an id are numbered).
A bad row (a lone surrogate in its text too) is one ProblemError naming the file, the line (or
row) and the field.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Iterator

from collectkit.store import jsonl
from collectkit.store.redact import shorten
from collectkit.tasks.base import LETTERS, Benchmark, Located, Problem, ProblemError, hub_rows
from collectkit.tasks.seed_values import (as_list, check_text, csv_choices, csv_integer, integer, integral_text,
                          is_null, nulls_cleared, optional_integer)

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
FIELDS = ("unique_id", "question", "choices", "choice_index_correct", "explanation_correct",
          "answer_correct", "category", "level", "answer_kind")
OPEN_KINDS = ("math", "number", "exact")
DEFAULT_CATEGORY = "uncategorized"
HUB_SPEC = re.compile(r"hf:(?P<id>[\w.-]+/(?P<name>[\w.-]+))(?::(?P<config>[\w.-]+))?"
                      r"(?:@(?P<revision>[\w.-]+))?")
DEFAULT_HUB_SPLIT = "test"


def is_file_spec(part: str) -> bool:
    return Path(part).suffix.lower() in SUFFIXES


def dataset_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "dataset"


# ---------------------------------------------------------------------------------- one row

def _present(row: dict, key: str) -> bool:
    return row.get(key) is not None


def seed_problem(row: dict, dataset: str) -> Problem:
    """One row of the seed's format → Problem (ValueError/KeyError name the field).

    NaN is null and an integral float an integer (pandas' float64 columns); see seed_values."""
    if isinstance(row, dict):
        row = nulls_cleared(row)
        check_text(row, FIELDS)
    uid = row["unique_id"]
    if isinstance(uid, bool) or not isinstance(uid, (str, int)) or not str(uid).strip():
        raise ValueError("field 'unique_id' must be a non-empty string or an integer")
    question = row["question"]
    if not isinstance(question, str) or not question.strip():
        raise ValueError("field 'question' must be a non-empty string")
    category = row.get("category")
    if category is not None and (not isinstance(category, str) or not category.strip()):
        raise ValueError("field 'category' must be a non-empty string or null")
    explanation = row.get("explanation_correct")
    if explanation is not None and not isinstance(explanation, str):
        raise ValueError("field 'explanation_correct' must be a string or null")
    level = optional_integer(row.get("level"), "level")
    common = dict(unique_id=str(uid).strip(), dataset=dataset, question=question,
                  explanation_correct=explanation, category=category or DEFAULT_CATEGORY,
                  level=level)
    if _present(row, "choices"):
        choices, index = _choices(row)
        return Problem(**common, choices=choices, choice_index_correct=index,
                       answer_correct=LETTERS[index], answer_kind="letter")
    if _present(row, "choice_index_correct"):
        raise ValueError("field 'choice_index_correct' is set but 'choices' is null")
    answer = row["answer_correct"]
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)) \
            or not str(answer).strip():
        raise ValueError("field 'answer_correct' must be a non-empty string or a number")
    kind = row.get("answer_kind") or "math"
    if kind not in OPEN_KINDS:
        raise ValueError(f"field 'answer_kind' must be one of {', '.join(OPEN_KINDS)}, "
                         f"not {kind!r}")
    return Problem(**common, choices=None, choice_index_correct=None,
                   answer_correct=integral_text(answer).strip(), answer_kind=kind)


def _choices(row: dict) -> tuple[tuple[str, ...], int]:
    choices = as_list(row["choices"])
    if not isinstance(choices, (list, tuple)) or not 2 <= len(choices) <= len(LETTERS) \
            or not all(isinstance(c, (str, int, float)) and not is_null(c) and str(c).strip()
                       for c in choices):
        raise ValueError("field 'choices' must be a list of 2 to 10 non-empty options, or null")
    index = integer(row.get("choice_index_correct"), "choice_index_correct",
                    " for a row with choices")
    if not 0 <= index < len(choices):
        raise ValueError(f"field 'choice_index_correct' {index} is outside choices "
                         f"(0 to {len(choices) - 1})")
    answer = row.get("answer_correct")
    options = [str(c).strip() for c in choices]
    if answer is not None and integral_text(answer).strip() not in (LETTERS[index],
                                                                     options[index]):
        raise ValueError(f"field 'answer_correct' {answer!r} disagrees with "
                         f"choice_index_correct {index} ({LETTERS[index]}: {options[index]!r})")
    return tuple(str(c) for c in choices), index


# -------------------------------------------------------------------------------- files

def read_file(path: Path) -> Iterator[Located]:
    """The rows of a .jsonl/.json/.csv/.parquet file, each with where it was read."""
    if not path.is_file():
        raise ProblemError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            yield from _jsonl(path)
        elif suffix == ".json":
            yield from _json(path)
        elif suffix == ".csv":
            yield from _csv(path)
        else:
            yield from _parquet(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"{path}: cannot read it ({' '.join(str(exc).split())})") from None


def _jsonl(path: Path) -> Iterator[Located]:
    with path.open("rb") as lines:
        for number, line in jsonl.decoded_lines(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProblemError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
            yield Located(f"{path} line {number}", row)


def _json(path: Path) -> Iterator[Located]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(rows, list):
        raise ProblemError(f"{path}: expected a JSON list of problems, got "
                           f"{type(rows).__name__}")
    for number, row in enumerate(rows, 1):
        yield Located(f"{path} item {number}", row)


def _csv(path: Path) -> Iterator[Located]:
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        for row in reader:
            where = f"{path} line {reader.line_num}"
            yield Located(where, _csv_row(row, where))


def _csv_row(row: dict, where: str) -> dict[str, Any]:
    values: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items() if k}
    try:
        if values.get("choices") is not None:
            values["choices"] = csv_choices(values["choices"])
        for key in ("choice_index_correct", "level"):
            if values.get(key) is not None:
                values[key] = csv_integer(values[key], key)
    except ValueError as exc:
        raise ProblemError(f"{where}: {exc}") from None
    return values


def _parquet(path: Path) -> Iterator[Located]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except pa.ArrowException as exc:
        raise ProblemError(f"{path}: not a readable Parquet file "
                           f"({shorten(exc, 200)})") from None
    for number, row in enumerate(rows, 1):
        yield Located(f"{path} row {number}", row)


def file_benchmark(spec: str) -> Benchmark:
    path = Path(spec).expanduser()
    name = dataset_name(path.stem)
    return Benchmark(
        name=name, label=path.stem, file_tag=name, answer_kind="mixed",
        mapper=lambda row: seed_problem(row, name),
        default_protocols={"mcq": "multiple_choice", "open": "boxed"},
        reader=lambda source: read_file(path), extra={"path": str(path)})


# ---------------------------------------------------------------------------------- Hub

def parse_fields(fields: str) -> dict[str, str]:
    """'question=problem,answer_correct=answer' → {field: column}; unknown fields refused."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (fields or "").split(","))):
        key, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not column:
            raise ProblemError(f"--dataset_fields: {part!r} is not FIELD=COLUMN")
        if key not in FIELDS + ("split",):
            raise ProblemError(f"--dataset_fields: unknown field {key!r}; fields: "
                               f"{', '.join(FIELDS)}, split")
        mapping[key] = column
    return mapping


def hub_benchmark(spec: str, fields: str = "") -> Benchmark:
    match = HUB_SPEC.fullmatch(spec.strip())
    if not match:
        raise ProblemError(f"dataset {spec!r}: expected hf:ORG/NAME[:CONFIG][@REVISION]")
    mapping = parse_fields(fields)
    name = dataset_name(match["name"].lower())
    split = mapping.pop("split", DEFAULT_HUB_SPLIT)

    def reader(source: str) -> Iterator[Located]:
        rows = hub_rows(name, match["id"], match["config"], match["revision"], split)
        for number, row in enumerate(rows, 1):
            yield Located(f"{spec} row {number}", _mapped_columns(dict(row), mapping, number))

    return Benchmark(
        name=name, label=match["id"], file_tag=name, answer_kind="mixed",
        mapper=lambda row: seed_problem(row, name),
        default_protocols={"mcq": "multiple_choice", "open": "boxed"}, hub_id=match["id"],
        hub_config=match["config"], revision=match["revision"], split=split, reader=reader,
        extra={"fields": dict(mapping)})


def _mapped_columns(row: dict, mapping: dict[str, str], number: int) -> dict[str, Any]:
    seed: dict[str, Any] = {}
    for key in FIELDS:
        column = mapping.get(key, key)
        if "|" in column and key == "choices":
            seed[key] = [row[c] for c in column.split("|") if c in row]
        elif column in row:
            seed[key] = row[column]
        elif key in mapping:
            raise ProblemError(f"--dataset_fields: column {column!r} (for {key}) is not in the "
                               f"dataset; its columns: {', '.join(row)}")
    seed.setdefault("unique_id", str(number))
    return seed
