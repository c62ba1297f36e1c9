"""Your own problems through the notebooks (papermill): 02 collects a JSONL mixing multiple-choice
and open-ended rows beside MATH-500 from the stub server, 03 grades, 04 plots per category, 05
compares two runs — each figure one panel per benchmark, never pooled."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from stub_server import StubServer  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))
from test_own_data import EXPECTED, ROWS, STUB_MODEL, read_jsonl, write_jsonl  # noqa: E402

from collectkit.analyze import compare
from collectkit.analyze import metrics
from collectkit.analyze import plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.notebook  # papermill runs four notebooks: not in make test-fast


def execute(name: str, output_dir: Path, **parameters) -> None:
    import papermill

    output_dir.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(ROOT / "notebooks" / name), str(output_dir / name),
                               parameters=parameters, kernel_name="python3",
                               progress_bar=False, cwd=str(output_dir))


def test_own_jsonl_through_notebooks_02_to_05(tmp_path):
    data = write_jsonl(tmp_path / "my_problems.jsonl", ROWS)
    runs = {}
    with StubServer(completion_tokens=4, model=STUB_MODEL) as stub:
        for label, temperature in (("t07", 0.7), ("t10", 1.0)):
            run_dir = tmp_path / label
            common = dict(run_dir=str(run_dir))
            execute("02_run_inference.ipynb", tmp_path / "executed" / label,
                    api_base=stub.base_url, model=stub.model, dataset=f"math500,{data}",
                    num_problems="8", k_responses=2, max_tokens=16, temperature=temperature,
                    **common)
            execute("03_extract_answers.ipynb", tmp_path / "executed" / label, **common)
            runs[label] = run_dir
    execute("04_analyze.ipynb", tmp_path / "executed" / "t07", run_dir=str(runs["t07"]))
    execute("05_compare.ipynb", tmp_path / "executed" / "compare",
            results_files=f"{runs['t07']},{runs['t10']}", labels="T0.7,T1.0",
            run_dir=str(tmp_path))

    results = runs["t07"] / f"{STUB_MODEL}_MATH_500_my_problems.jsonl"
    graded = read_jsonl(results.with_name(results.stem + ".processed.jsonl"))
    assert sorted(row["dataset"] for row in graded) == ["math500"] * 4 + ["my_problems"] * 4
    mine = {row["unique_id"]: row for row in graded if row["dataset"] == "my_problems"}
    for uid, row in mine.items():
        assert [r["is_correct"] for r in row["responses"]] == [EXPECTED[uid]] * 2
    summary = json.loads(results.with_name(results.stem + ".summary.json").read_text())
    assert set(summary["by_dataset"]) == {"math500", "my_problems"}
    assert "accuracy" not in summary["overall"]  # two benchmarks are never pooled

    figures = runs["t07"] / "figures"
    for name in ("accuracy_by_category.png", "unparsed_by_category.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_category = metrics.accuracy_table(graded, by="category")
    panels = plots.accuracy_by_category(by_category).axes
    assert [ax.get_title(loc="left") for ax in panels] == ["MATH-500", "my_problems"]

    compared = pd.read_parquet(tmp_path / "compare" / "responses.parquet")
    assert set(compared["run"]) == {"T0.7", "T1.0"}
    assert (tmp_path / "compare" / "categories.png").stat().st_size > 1000
    loaded = compare.load_runs([str(runs["t07"]), str(runs["t10"])], ["T0.7", "T1.0"])
    figure = plots.compare_categories(compare.category_table(loaded))
    assert [ax.get_title(loc="left") for ax in figure.axes] == ["MATH-500", "my_problems"]
