"""The public API as a notebook uses it: `import collectkit`, then collect → grade → load → plot →
explore → export → compare, against the stub server over a real socket (no engine)."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import pandas as pd
import pytest
from matplotlib.figure import Figure

import collectkit
from collection_support import REPO
from stub_server import StubServer


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two collected runs (different temperatures) of 4 MATH-500 + MMLU-Pro problems, k=2."""
    folder = tmp_path_factory.mktemp("api")
    runs = []
    with StubServer(completion_tokens=16) as server:
        for temperature in (0.2, 0.9):
            settings = collectkit.settings(
                model=server.model, api_base=server.base_url, dataset="both", num_problems="4",
                k_responses=2, max_tokens=32, temperature=temperature, max_retries=0,
                output_dir=str(folder / f"t{temperature}"))
            runs.append(asyncio.run(collectkit.collect(settings, progress=False)))
    return runs


def test_collect_returns_the_run_with_its_stats(two_runs):
    run = two_runs[0]
    assert run.path.is_file() and run.stats.done == 4
    collected = run.collected()
    assert len(collected) == 4 and set(collected["responses"]) == {2}
    assert collectkit.results_file(collectkit.settings(
        model="stub-model", api_base="http://127.0.0.1:9/v1", dataset="both", num_problems="4",
        k_responses=2, max_tokens=32, temperature=0.2,
        output_dir=str(run.path.parent))) == run.path  # the same settings: the same file


def test_grade_then_load_gives_the_tables_and_figures(two_runs):
    graded = collectkit.grade(two_runs[0])
    assert graded.path.name.endswith(".processed.jsonl") and graded.summary_file.is_file()
    loaded = collectkit.load(two_runs[0].path.parent)  # a folder: its newest processed file
    assert loaded.path == graded.path and len(loaded.df) == 8
    by_dataset = loaded.accuracy(by="dataset")
    assert set(by_dataset.index) == {"math500", "mmlu_pro"}
    assert {"accuracy", "pass@k", "maj@k"} <= set(by_dataset.columns)
    assert len(loaded.accuracy(by="category")) >= 2
    assert set(loaded.pass_maj()["k"]) == {1, 2}
    assert list(loaded.answers()["of"]) == [2, 2, 2, 2]
    for name in collectkit.FIGURES:
        figure = loaded.plot(name, save_to=graded.path.parent / "figures")
        if name == "calibration":  # no logprobs collected: no calibration figure
            assert figure is None and loaded.confidence() is None
        else:
            assert isinstance(figure, Figure)
            assert (graded.path.parent / "figures" / f"{name}.png").is_file()
    with pytest.raises(ValueError, match="no figure 'nope'"):
        loaded.plot("nope")


def test_export_writes_the_shapes(two_runs, tmp_path):
    graded = collectkit.grade(two_runs[0])
    written = graded.export(tmp_path / "data", format="sft")
    assert set(written["counts"]) == {"sft"} and written["counts"]["sft"] >= 1
    assert all((tmp_path / "data" / name).exists() for name in written["files"])


def test_compare_puts_runs_side_by_side(two_runs, tmp_path):
    processed = [collectkit.grade(run).path for run in two_runs]
    comparison = collectkit.compare(processed, labels=["cold", "hot"])
    assert comparison.labels == ["cold", "hot"]
    board = comparison.leaderboard()
    assert isinstance(board, pd.DataFrame) and set(board.index.get_level_values("run")) == {"cold", "hot"}
    assert len(comparison.differences()) >= 1 and len(comparison.agreement()) >= 1
    written = comparison.export(tmp_path / "compare")
    assert all(path.is_file() for path in written.values())
    assert isinstance(comparison.plot(save_to=tmp_path / "compare"), Figure)
    single = collectkit.compare(processed[:1])
    assert any("only one run" in note for note in single.agreement_notes())


def test_verbs_are_not_shadowed_by_their_subpackages():
    import collectkit.collect.run  # noqa: F401  (importing a room sets no attribute over a verb)
    import collectkit.grade.grading  # noqa: F401
    import collectkit.serve.server  # noqa: F401
    for name in ("serve", "collect", "grade", "compare"):
        assert callable(getattr(collectkit, name)) and not isinstance(
            getattr(collectkit, name), type(sys)), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        collectkit.nope  # noqa: B018


def test_import_collectkit_loads_nothing_heavy():
    code = ("import sys, collectkit; heavy = {'pandas', 'matplotlib', 'openai'} & set(sys.modules);"
            "print(sorted(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          check=True)
    assert done.stdout.strip() == "[]"
