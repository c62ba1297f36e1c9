"""Training data from processed runs: read, build the shapes, write Parquet and `datasets`, the
dataset card, the Hub push (`collectkit export` is its front-end, cli/export.py). Memory stays
bounded whatever the inputs' size: inputs.py reads them, writers.py writes each shape in chunks."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from collectkit.training_data import folder as export_folder
from collectkit.training_data import shapes as export_shapes
from collectkit.training_data import writers
from collectkit.store import append as store
from collectkit.training_data.folder import ExportError
from collectkit.training_data.inputs import Inputs


def dataset_card(facts: dict[str, Any], counts: dict[str, int], sources: list[str]) -> str:
    from importlib.metadata import version

    benchmarks, signatures = facts["benchmarks"], facts["signatures"]
    configs = "\n".join(f"- config_name: {shape}\n  data_files: {shape}.parquet"
                        for shape in counts)
    rows = "\n".join(f"| {shape} | {count:,} |" for shape, count in counts.items())
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
{facts['problems']:,} problems and {facts['responses']:,} sampled responses
({', '.join(f'{name}: {count}' for name, count in sorted(benchmarks.items()))}).

- models: {', '.join(facts['models'])}
- protocols (how each problem was asked and read): {', '.join(facts['protocols'])}
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
{rows}

## How each shape is made

{(export_shapes.__doc__ or "").split(chr(10), 2)[2].strip()}
"""


def export(paths: list[str | Path], shapes: Iterable[str], out: str | Path) -> dict[str, Any]:
    """Read, build, write; returns rows per shape ("counts") and the files written, relative to
    `out` ("files": all a push uploads). Nothing in `out` changes before every input has been
    read and every entry checked; the new export replaces the previous one whole
    (export_folder.py)."""
    shapes, out = list(shapes), Path(out)
    with Inputs(paths) as inputs:
        writers.check_types(shapes, inputs.kinds)
        entries = ["README.md", *(f"{shape}.parquet" for shape in shapes), *shapes]
        export_folder.check(out, entries)
        try:
            with export_folder.Staging(out) as stage:
                counts = writers.write_shapes(inputs.rows(), shapes, stage.path, inputs.kinds)
                card = dataset_card(inputs.facts(), counts, [Path(p).name for p in paths])
                (stage.path / "README.md").write_text(card, encoding="utf-8")
                files = stage.commit(entries)
        except (OSError, store.StoreError) as exc:
            raise ExportError(f"{out}: cannot write "
                              f"({getattr(exc, 'strerror', None) or exc})") from None
    return {"counts": counts, "files": files}
