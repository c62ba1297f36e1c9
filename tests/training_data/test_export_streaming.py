"""The export writes each shape in chunks (training_data/writers.py): what it writes, read back
as Parquet and with datasets.load_from_disk, is row for row what the shapes build in memory, even
when a column is null in the first chunk and set later; and the repeated prompts are stored
once per row group, not once per row."""
from __future__ import annotations

import json
import random

import datasets
import pyarrow.parquet as pq
import pytest

from collectkit.training_data import dataset as export
from collectkit.training_data import writers
from collectkit.training_data.shapes import SHAPES, build
from test_export import response, row


def write_processed(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def late_rows(problems):
    """Rows whose reasoning, answers, logprobs and level are null until half-way through."""
    made = []
    for number in range(problems):
        late = number >= problems // 2
        answers = [response(f"r{number}-{i}", i % 3 != 2, answer=str(i) if late else None,
                            group=i if late else None, reasoning=f"think {i}" if late else None,
                            logprob=-0.5 - i if late else None) for i in range(4)]
        made.append({**row(answers, unique_id=f"p{number}"), "level": 3 if late else None})
    return made


def test_a_multi_chunk_export_has_the_rows_the_shapes_build(tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "CHUNK_ROWS", 5)  # a few rows per chunk: many chunks
    rows = late_rows(12)
    source = write_processed(tmp_path / "r.processed.jsonl", rows)
    written = export.export([source], SHAPES, tmp_path / "out")
    expected = build(rows, SHAPES)
    for shape in SHAPES:
        want = expected[shape].to_pylist()
        assert written["counts"][shape] == len(want) > writers.CHUNK_ROWS, shape
        parquet = pq.read_table(tmp_path / "out" / f"{shape}.parquet")
        assert parquet.to_pylist() == want, shape
        assert pq.ParquetFile(tmp_path / "out" / f"{shape}.parquet").num_row_groups > 1
        assert datasets.load_from_disk(str(tmp_path / "out" / shape)).to_list() == want, shape
    responses = pq.read_table(tmp_path / "out" / "responses.parquet")
    assert str(responses.schema.field("reasoning_content").type) == "string"
    assert str(responses.schema.field("mean_logprob").type) == "double"
    assert responses.column("mean_logprob").to_pylist()[-1] == pytest.approx(-3.5)


def test_an_export_without_pairs_writes_the_empty_table(tmp_path):
    source = write_processed(tmp_path / "r.processed.jsonl",
                             [row([response("a", True), response("b", True)])])
    written = export.export([source], ["pairs", "sft"], tmp_path / "out")
    assert written["counts"] == {"pairs": 0, "sft": 2}
    pairs = datasets.load_from_disk(str(tmp_path / "out" / "pairs"))
    assert len(pairs) == 0 and "unique_id" in pairs.column_names
    assert pq.read_table(tmp_path / "out" / "pairs.parquet").num_rows == 0


def test_a_long_repeated_prompt_is_stored_compactly(tmp_path):
    """Each problem's prompt (about 20 KB of text no compressor shortens on its own) repeats for
    its 16 sft rows; Parquet keeps it about once per problem (pyarrow's defaults, as the export
    wrote it before, kept a third of the copies)."""
    draw = random.Random(26)
    rows = []
    for number in range(100):
        question = " ".join(f"{draw.getrandbits(48):x}" for _ in range(1600))
        answers = [response(f"solution {number}.{i}", True, answer="1") for i in range(16)]
        rows.append({**row(answers, unique_id=f"p{number}"), "problem": question})
    source = write_processed(tmp_path / "r.processed.jsonl", rows)
    written = export.export([source], ["sft"], tmp_path / "out")
    prompt_bytes = len(rows[0]["problem"])
    assert written["counts"]["sft"] == 100 * 16
    size = (tmp_path / "out" / "sft.parquet").stat().st_size
    assert size < 100 * 16 * prompt_bytes / 10, size
    back = pq.read_table(tmp_path / "out" / "sft.parquet").column("prompt").to_pylist()
    assert back[0][-1]["content"].count(rows[0]["problem"]) == 1
    assert back[16] != back[15]  # the next problem's own prompt

