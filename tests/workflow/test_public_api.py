"""The public API as a notebook uses it: `import collectkit`, then collect → grade → load → plot →
explore → export → compare, against the stub server over a real socket (no engine)."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from matplotlib.figure import Figure

import collectkit
from collection_support import REPO
from collectkit.collect.shard_merge import MergeError
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


def test_grade_writes_what_extract_writes_a_row_at_a_time(two_runs, tmp_path):
    """collectkit.grade and `collectkit extract` share the streaming path: the same processed
    file byte for byte and the same summary, a torn last line skipped and counted."""
    for folder in ("api", "cli"):
        (tmp_path / folder).mkdir()
        copy = shutil.copy(two_runs[0].path, tmp_path / folder / "r.jsonl")
        with open(copy, "a", encoding="utf-8") as out:
            out.write('{"unique_id": "torn", "respon')  # a collection still writing
    graded = collectkit.grade(tmp_path / "api" / "r.jsonl")
    from collectkit.cli import extract

    assert extract.main(["-i", str(tmp_path / "cli" / "r.jsonl")]) == 0
    assert graded.path.read_bytes() == (tmp_path / "cli" / "r.processed.jsonl").read_bytes()
    summaries = [json.loads((tmp_path / f / "r.summary.json").read_text()) for f in ("api", "cli")]
    assert [{k: v for k, v in s.items() if k != "source"} for s in summaries][0] == {
        k: v for k, v in summaries[1].items() if k != "source"}
    assert graded.graded_from.torn == 1 and graded.line().startswith("graded 4 problems")
    assert len(graded.rows) == 4 and all("is_correct" in r for row in graded.rows
                                         for r in row["responses"])


def test_merge_joins_the_shards_of_a_run(tmp_path):
    with StubServer(completion_tokens=8) as server:
        for shard in ("0/2", "1/2"):
            settings = collectkit.settings(
                model=server.model, api_base=server.base_url, dataset="both", num_problems="6",
                k_responses=2, max_tokens=16, max_retries=0, output_dir=str(tmp_path),
                shard=shard)
            asyncio.run(collectkit.collect(settings, progress=False))
    shards = sorted(tmp_path.glob("*_shard-*-of-2.jsonl"))
    assert len(shards) == 2
    merged = collectkit.merge(shards)
    assert merged.output == tmp_path / shards[0].name.replace("_shard-0-of-2", "")
    assert merged.problems == 6 and merged.line().startswith("merged 2 shard file(s) (0/2, 1/2)")
    assert merged.warnings() == []
    assert len(collectkit.grade(merged.output).rows) == 6
    other = shutil.copy(shards[1], tmp_path / "elsewhere.jsonl")
    with pytest.raises(MergeError, match="give output=FILE"):
        collectkit.merge([shards[0], other])
    assert collectkit.merge([shards[0], shards[1]], output=tmp_path / "m.jsonl").problems == 6


def test_settings_keep_a_value_given_as_the_command_line_does():
    recommended = collectkit.settings(model="m", protocol="r1")
    assert (recommended.temperature, recommended.top_p) == (0.6, 0.95)
    given = collectkit.settings(model="m", protocol="r1", temperature=0.7)  # the kit's default
    assert (given.temperature, given.top_p) == (0.7, 0.95)


def test_verbs_are_not_shadowed_by_their_subpackages():
    import collectkit.collect.run  # noqa: F401  (importing a room sets no attribute over a verb)
    import collectkit.grade.grading  # noqa: F401
    import collectkit.serve.server  # noqa: F401
    for name in ("serve", "collect", "grade", "compare", "merge"):
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
