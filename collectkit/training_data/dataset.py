"""Training data from processed runs: read, build the shapes, write Parquet and `datasets`, the
dataset card, the Hub push (`collectkit export` is its front-end, cli/export.py)."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from collectkit.training_data import folder as export_folder
from collectkit.training_data import shapes as export_shapes
from collectkit.store import results
from collectkit.store import append as store
from collectkit.training_data.folder import ExportError
from collectkit.training_data.shapes import build


def read_processed(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The rows of processed files (the last row of an id wins within a file); every response
    must be graded."""
    rows: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise ExportError(f"{path}: no such file")
        try:
            file_rows = results.load_results(path)
        except store.StoreError as exc:
            raise ExportError(str(exc)) from None
        for row in file_rows:
            responses = row.get("responses")
            if not isinstance(responses, list) or any(
                    not isinstance(r, dict) or "is_correct" not in r for r in responses):
                raise ExportError(f"{path}: {row.get('unique_id')} has no graded responses; "
                                  "export reads X.processed.jsonl from "
                                  "python -m collectkit.answer_extraction")
        rows.extend(file_rows)
    if not rows:
        raise ExportError("no rows in the input files")
    return rows


def write_parquet(tables: dict[str, pa.Table], out: Path) -> dict[str, Path]:
    written = {}
    for shape, table in tables.items():
        written[shape] = out / f"{shape}.parquet"
        pq.write_table(table, written[shape])
    return written


def write_datasets(tables: dict[str, pa.Table], out: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    for shape, table in tables.items():
        datasets.Dataset(table).save_to_disk(str(out / shape))


def dataset_card(rows: list[dict[str, Any]], tables: dict[str, pa.Table],
                 sources: list[str]) -> str:
    from importlib.metadata import version

    from collectkit.tasks.protocols import recorded_name

    models = sorted({str(row.get("model")) for row in rows})
    benchmarks = Counter(str(row.get("dataset")) for row in rows)
    protocol_names = sorted({str(recorded_name(row)) for row in rows})
    signatures = sorted({json.dumps(row.get("sampling"), sort_keys=True) for row in rows})
    responses = sum(len(row.get("responses") or []) for row in rows)
    configs = "\n".join(f"- config_name: {shape}\n  data_files: {shape}.parquet"
                        for shape in tables)
    counts = "\n".join(f"| {shape} | {table.num_rows:,} |" for shape, table in tables.items())
    return f"""---
configs:
{configs}
tags:
- collectkit
- math
- reasoning
---
# Model responses exported by collectkit

Made with collectkit {version('collectkit')} on {time.strftime('%Y-%m-%d')} from
{len(rows):,} problems and {responses:,} sampled responses
({', '.join(f'{name}: {count}' for name, count in sorted(benchmarks.items()))}).

- models: {', '.join(models)}
- protocols (how each problem was asked and read): {', '.join(protocol_names)}
- source files: {', '.join(sources)}
- sampling signatures ({len(signatures)}), also in each row's `sampling` column:

```
{chr(10).join(signatures)}
```

Answers were extracted and graded by `python -m collectkit.answer_extraction` (MATH: math-verify;
multiple choice: the official letter cascade); `is_correct` and the shapes below rest on that
grading, which can be wrong.

| shape | rows |
|---|---|
{counts}

## How each shape is made

{(export_shapes.__doc__ or "").split(chr(10), 2)[2].strip()}
"""


def export(paths: list[str | Path], shapes: Iterable[str], out: str | Path) -> dict[str, Any]:
    """Read, build, write; returns rows per shape ("counts") and the files written, relative to
    `out` ("files": all a push uploads). Nothing in `out` changes before every input has been
    read and every entry checked; the new export replaces the previous one whole
    (export_folder.py)."""
    rows = read_processed(paths)
    tables = build(rows, shapes)
    out = Path(out)
    entries = ["README.md", *(f"{shape}.parquet" for shape in tables), *tables]
    export_folder.check(out, entries)
    try:
        with export_folder.Staging(out) as stage:
            write_parquet(tables, stage.path)
            write_datasets(tables, stage.path)
            card = dataset_card(rows, tables, [Path(p).name for p in paths])
            (stage.path / "README.md").write_text(card, encoding="utf-8")
            files = stage.commit(entries)
    except (OSError, store.StoreError) as exc:
        raise ExportError(f"{out}: cannot write ({getattr(exc, 'strerror', None) or exc})") from None
    return {"counts": {shape: table.num_rows for shape, table in tables.items()}, "files": files}
