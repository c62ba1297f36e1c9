"""Over one real run of the embedded engine (llama.cpp + SmolLM2-135M, k=4, --logprobs 2, a small
max_tokens so many responses are cut off), graded by the extraction CLI:
logprobs stored for all n=k responses and read back; truncation shares equal a count by hand;
confidence metrics; every export shape loads with datasets.load_from_disk and
pandas.read_parquet and its row count matches the processed file."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from collectkit.analyze import confidence
from collectkit.training_data import dataset as export
from collectkit.cli import export as export_cli
from collectkit.analyze import lengths
from collectkit.collect.settings import Settings
from collectkit.training_data.shapes import SHAPES
from collectkit.collect.run import run_collection
from collectkit.store.logprobs import mean_logprob, unpack
from collectkit.tasks.load import load_problems
from collection_support import REPO, lines

K, MAX_TOKENS, TOP_N = 4, 40, 2


@pytest.fixture(scope="module")
def real_run(embedded_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("real-run")
    settings = Settings(model=embedded_server.model_id, api_base=embedded_server.base_url,
                        output_dir=str(folder), k_responses=K, max_tokens=MAX_TOKENS,
                        logprobs=TOP_N, batch_size=4, seed=7,
                        protocol="boxed,mmlu_pro_zero_shot")  # short prompts: 2,048-token context
    stats = run_collection(settings, load_problems("both", 4), progress=False)
    results = Path(stats.output_path)
    graded = subprocess.run([sys.executable, "-m", "collectkit.answer_extraction", "-i",
                             str(results), "--workers", "1"], capture_output=True, text=True,
                            cwd=REPO, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert graded.returncode == 0, graded.stderr
    processed = results.with_name(results.stem + ".processed.jsonl")
    summary = json.loads(results.with_name(results.stem + ".summary.json").read_text())
    return {"stats": stats, "rows": lines(results), "processed": processed,
            "graded": lines(processed), "summary": summary, "extract_stdout": graded.stdout}


def test_logprobs_of_all_k_responses_are_stored_and_read_back(real_run):
    rows = real_run["rows"]
    assert len(rows) == 4 and all(len(row["responses"]) == K for row in rows)
    for row in rows:
        for response in row["responses"]:
            back = unpack(response["logprobs"])
            n = response["logprobs"]["n_tokens"]
            assert 1 <= n <= MAX_TOKENS and len(back.tokens) == n and back.logprob.shape == (n,)
            assert np.all(np.isfinite(back.logprob)) and np.all(back.logprob <= 0)
            assert back.top_logprob.shape == (n, TOP_N) and len(back.top_tokens) == n
            assert np.all(np.diff(back.top_logprob, axis=1) <= 1e-6)  # best alternative first
            assert "".join(back.tokens).strip() == response["full_response"].strip()
            if response["finish_reason"] == "length":
                assert n == MAX_TOKENS
            assert mean_logprob(response["logprobs"]) == pytest.approx(back.logprob.mean(),
                                                                       abs=1e-6)
    # the k responses of a problem were sampled, not copied
    assert any(len({r["full_response"] for r in row["responses"]}) > 1 for row in rows)


def test_truncation_shares_equal_a_count_by_hand(real_run):
    rows, graded = real_run["rows"], real_run["graded"]
    by_hand: dict[str, list[int]] = {}
    for row in rows:
        counts = by_hand.setdefault(row["dataset"], [0, 0])
        counts[0] += sum(r["finish_reason"] == "length" for r in row["responses"])
        counts[1] += len(row["responses"])
    assert real_run["stats"].truncated == by_hand
    table = lengths.truncation_table(graded)
    summary = real_run["summary"]["truncation"]
    for dataset, (cut, total) in by_hand.items():
        assert table.loc[dataset, "n_truncated"] == cut == summary[dataset]["n_truncated"]
        assert table.loc[dataset, "truncated_share"] == pytest.approx(cut / total)
        answers = [(r["finish_reason"] == "length", r["is_correct"])
                   for row in graded if row["dataset"] == dataset for r in row["responses"]]
        complete = [ok for cut_off, ok in answers if not cut_off]
        expected = sum(complete) / len(complete) if complete else None
        assert summary[dataset]["accuracy_complete"] == (
            pytest.approx(expected) if expected is not None else None)
        assert table.loc[dataset, "tokens_source"] == "logprobs"
        if cut / total >= lengths.WARN_SHARE:
            assert (f"{100 * cut / total:.0f} % of {lengths.label(dataset)} responses hit "
                    f"--max_tokens {MAX_TOKENS}") in real_run["extract_stdout"]
    frame = lengths.lengths_frame(graded)
    cut_tokens = frame.loc[frame["truncated"], "tokens"]
    assert (cut_tokens == MAX_TOKENS).all()


def test_confidence_vote_and_calibration(real_run):
    graded = real_run["graded"]
    frame = confidence.confidence_frame(graded)
    assert confidence.has_logprobs(frame) and frame["confidence"].between(0, 1).all()
    votes = confidence.vote_frame(frame)
    assert len(votes) == 4 and votes["weighted"].between(0, 1).all()
    assert votes["majority"].between(0, 1).all()
    table = confidence.calibration_table(frame, bins=5)
    assert table["n"].sum() == 4 * K
    ece = confidence.expected_calibration_error(table)
    assert set(ece) == {row["dataset"] for row in graded}
    assert all(0 <= value <= 1 for value in ece.values())


def _pairs_by_rule(row) -> int:
    right = sum(bool(r["is_correct"]) for r in row["responses"])
    return min(right, len(row["responses"]) - right)


def test_every_export_shape_loads_and_counts_match(real_run, tmp_path):
    graded, out = real_run["graded"], tmp_path / "export"
    assert export_cli.main([str(real_run["processed"]), "--format", "all", "--out", str(out)]) == 0
    expected = {
        "responses": sum(len(row["responses"]) for row in graded),
        "verifier": sum(len(row["responses"]) for row in graded),
        "difficulty": len(graded),
        "pairs": sum(_pairs_by_rule(row) for row in graded),
        "sft": sum(len({" ".join(r["full_response"].split()) for r in row["responses"]
                        if r["is_correct"]}) for row in graded),
        "best_of_k": sum(any(r["is_correct"] for r in row["responses"]) for row in graded),
    }
    for shape in SHAPES:
        loaded = datasets.load_from_disk(str(out / shape))
        frame = pd.read_parquet(out / f"{shape}.parquet")
        assert len(loaded) == len(frame) == expected[shape], shape
        if len(frame):
            for column in ("unique_id", "model", "protocol", "sampling"):
                assert frame[column].notna().all(), (shape, column)
            assert json.loads(frame["sampling"].iloc[0])["logprobs"] == TOP_N
    responses = pd.read_parquet(out / "responses.parquet")
    assert responses["n_tokens"].between(1, MAX_TOKENS).all()
    assert not responses["mean_logprob"].isna().any()
    difficulty = pd.read_parquet(out / "difficulty.parquet").set_index("unique_id")
    for row in graded:
        correct = sum(r["is_correct"] for r in row["responses"])
        assert difficulty.loc[row["unique_id"], "n_correct"] == correct
        assert math.isclose(difficulty.loc[row["unique_id"], "pass_rate"], correct / K)
    card = (out / "README.md").read_text()
    assert "min(#correct, #wrong)" in card and real_run["graded"][0]["model"] in card
