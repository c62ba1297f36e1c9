"""Each shape written as it is built, a few hundred rows at a time, in bounded memory: to
`<shape>.parquet` (pyarrow's ParquetWriter) and, from the same chunks, to the `datasets` folder
`<shape>/` that `datasets.load_from_disk` reads (datasets' own ArrowWriter and DatasetInfo; the
state.json is the one `Dataset.save_to_disk` writes). Building a `Dataset` from the Parquet
files and saving it would read every page of its memory-mapped cache, so memory would grow with
the data.

Every chunk of a shape has the shape's explicit schema: the kit's fields have their row_schema
types, so a column that is null in the first chunk and set later keeps its type (a column null
throughout is typed too, not `null`); the fields another tool may fill with numbers or text
(OPEN_COLUMNS) take the type of the values the inputs' survey found (inputs.py), and a column
that would mix numbers and text is a one-line ValueError naming the field before anything is
written.

Parquet stores the repeated columns compactly: dictionary encoding for every column but the
responses' own texts (the `prompt` of sft / best_of_k / pairs repeats the problem's chat
messages for each of its responses: one copy per row group), zstd compression (a 5-shot
prompt's shared examples compress across problems).
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from collectkit.training_data import shapes as export_shapes

CHUNK_ROWS = 512
CHUNK_TEXT_BYTES = 16 << 20  # a chunk is written when it holds this much text, or CHUNK_ROWS
DICTIONARY_PAGE_LIMIT = 256 << 20  # above a chunk's prompts: they stay dictionary-encoded
UNIQUE_TEXT = {"full_response", "reasoning_content", "response", "completion", "chosen",
               "rejected"}  # one response each: a dictionary would only copy them
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
TYPES = {
    "dataset": pa.string(), "category": pa.string(), "level": pa.int64(), "model": pa.string(),
    "protocol": pa.string(), "sampling": pa.string(), "problem": pa.string(),
    "answer_correct": pa.string(), "response_index": pa.int64(), "full_response": pa.string(),
    "reasoning_content": pa.string(), "finish_reason": pa.string(), "answer_group": pa.int64(),
    "is_correct": pa.bool_(), "completion_tokens": pa.int64(), "n_tokens": pa.int64(),
    "mean_logprob": pa.float64(), "prompt": MESSAGES, "completion": MESSAGES,
    "chosen": MESSAGES, "rejected": MESSAGES, "k": pa.int64(), "n_correct": pa.int64(),
    "pass_rate": pa.float64(), "selected_by": pa.string(), "chosen_index": pa.int64(),
    "rejected_index": pa.int64(), "response": pa.string(), "label": pa.bool_(),
    "n_unparsed": pa.int64(),
    "answer_groups": pa.list_(pa.struct([("answer", pa.string()), ("count", pa.int64()),
                                         ("correct", pa.bool_())]))}
# column → {shape with it: the survey key (inputs.SURVEYED) whose kinds decide its type}
OPEN_COLUMNS = {
    "unique_id": {shape: "unique_id" for shape in export_shapes.SHAPES},
    "choices": {"responses": "choices", "verifier": "choices"},
    "extracted_answer": {"responses": "answers", "sft": "right", "verifier": "answers"},
    "chosen_answer": {"pairs": "chosen"}, "rejected_answer": {"pairs": "rejected"}}


def column_type(shape: str, name: str, kinds: dict[str, frozenset[str]]) -> pa.DataType:
    """The column's type; for an open column the type of the values found (numbers → int64 or
    float64, text or nothing → string), a ValueError when they mix numbers and text."""
    if name in TYPES:
        return TYPES[name]
    found = kinds.get(OPEN_COLUMNS[name][shape], frozenset())
    if "str" in found and found - {"str"}:
        raise ValueError(f"shape {shape}: field {name!r} holds values of different types "
                         f"({', '.join(sorted(found))}), which one Parquet column cannot hold")
    value = (pa.string() if not found - {"str"} else
             pa.float64() if "float" in found else pa.int64())
    return pa.list_(value) if name == "choices" else value


def schema(shape: str, columns: Iterable[str], kinds: dict[str, frozenset[str]]) -> pa.Schema:
    return pa.schema([(name, column_type(shape, name, kinds)) for name in columns])


def check_types(shapes: Iterable[str], kinds: dict[str, frozenset[str]]) -> None:
    """Before anything is written: every open column of the shapes can be one Parquet type."""
    for shape in shapes:
        for name, keys in OPEN_COLUMNS.items():
            if shape in keys:
                column_type(shape, name, kinds)


def _leaves(name: str, kind: pa.DataType) -> Iterator[str]:
    """Parquet's column paths under one field ("prompt.list.element.content")."""
    if pa.types.is_list(kind):
        yield from _leaves(f"{name}.list.element", kind.value_type)
    elif pa.types.is_struct(kind):
        for field in kind:
            yield from _leaves(f"{name}.{field.name}", field.type)
    else:
        yield name


def _text_size(record: dict[str, Any]) -> int:
    return sum(len(value) for name, value in record.items()
               if name in UNIQUE_TEXT and isinstance(value, str)) + sum(
        len(turn.get("content") or "") for name in ("prompt", "completion", "chosen", "rejected")
        for turn in record.get(name) or ())


class ShapeWriter:
    """`add(record)` … `close()` → rows written: `<folder>/<shape>.parquet` and `<folder>/<shape>/`."""

    def __init__(self, shape: str, folder: Path, kinds: dict[str, frozenset[str]]) -> None:
        self.shape, self.folder, self.kinds = shape, folder, kinds
        self.records: list[dict[str, Any]] = []
        self.text_bytes = self.rows = 0
        self.schema: pa.Schema | None = None
        self.parquet: pq.ParquetWriter | None = None
        self.arrow: Any = None  # datasets.arrow_writer.ArrowWriter

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.text_bytes += _text_size(record)
        if len(self.records) >= CHUNK_ROWS or self.text_bytes >= CHUNK_TEXT_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.records:
            return
        if self.schema is None:
            self.schema = schema(self.shape, self.records[0], self.kinds)
        self._write(export_shapes.table(self.shape, self.records, self.schema))
        self.records, self.text_bytes = [], 0

    def _write(self, table: pa.Table) -> None:
        if self.parquet is None:
            self._open(table.schema)
        self.parquet.write_table(table)
        self.arrow.write_table(table)
        self.rows += table.num_rows

    def _open(self, table_schema: pa.Schema) -> None:
        import datasets
        from datasets.arrow_writer import ArrowWriter

        dictionary = [leaf for field in table_schema if field.name not in UNIQUE_TEXT
                      for leaf in _leaves(field.name, field.type)]
        self.parquet = pq.ParquetWriter(self.folder / f"{self.shape}.parquet", table_schema,
                                        compression="zstd", use_dictionary=dictionary,
                                        dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT)
        self.features = datasets.Features.from_arrow_schema(table_schema)
        (self.folder / self.shape).mkdir()
        self.arrow = ArrowWriter(features=self.features,
                                 path=str(self.folder / self.shape / DATA_FILE))

    def close(self) -> int:
        self.flush()
        if self.parquet is None:  # no rows: the common columns, as before
            self._write(export_shapes.empty())
        self.parquet.close()
        self.arrow.finalize()
        self.arrow.close()
        _describe_dataset(self.folder / self.shape, self.features)
        return self.rows


DATA_FILE = "data-00000-of-00001.arrow"


def _describe_dataset(folder: Path, features: Any) -> None:
    """dataset_info.json and state.json beside the data, as `Dataset.save_to_disk` writes them."""
    import datasets

    datasets.DatasetInfo(features=features).write_to_directory(str(folder), pretty_print=True)
    state = {"_data_files": [{"filename": DATA_FILE}], "_fingerprint": secrets.token_hex(8),
             "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
             "_output_all_columns": False, "_split": None}
    (folder / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True),
                                       encoding="utf-8")


def write_shapes(rows: Iterable[dict[str, Any]], shapes: list[str], folder: Path,
                 kinds: dict[str, frozenset[str]]) -> dict[str, int]:
    """Every shape of `rows`, in one pass; returns rows written per shape."""
    writers = {shape: ShapeWriter(shape, folder, kinds) for shape in shapes}
    for row in rows:
        for shape, records in export_shapes.records(row, shapes).items():
            for record in records:
                writers[shape].add(record)
    return {shape: writer.close() for shape, writer in writers.items()}
