"""Export rules on hand-made processed rows (tables of cases), the CLI's errors, and the pure
length / confidence / logprobs functions. The real-engine path is in test_research_data.py."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from collectkit.analyze import confidence
from collectkit.training_data import dataset as export
from collectkit.analyze import lengths
from collectkit.training_data.shapes import build
from collectkit.store.logprobs import mean_logprob, pack, unpack
from collectkit.tasks.load import load_problems
from collection_support import REPO

PROBLEM = load_problems("math500", 1)[0]


def response(text, correct, answer="x", group=None, finish="stop", logprob=None, reasoning=None):
    record = {"full_response": text, "finish_reason": finish, "reasoning_content": reasoning,
              "usage": None, "model": "m", "system_fingerprint": None,
              "extracted_answer": answer, "is_correct": correct, "answer_group": group}
    if logprob is not None:
        record["logprobs"] = pack(["t"] * 4, [logprob] * 4)
    return record


def row(responses, unique_id="p1", dataset="math500"):
    return {**PROBLEM.record(), "unique_id": unique_id, "dataset": dataset,
            "responses": responses, "attempts": 1, "model": "m",
            "sampling": {"model": "m", "k_responses": len(responses),
                         "protocols": "boxed@abc"}, "status": "ok"}


# (responses as (text, correct, answer), pairs, sft rows, best_of_k text or None)
CASES = [
    ([("a", True, "1"), ("b", False, "2"), ("c", False, "3"), ("d", False, None)], 1, 1, "a"),
    ([("a", True, "1"), ("a ", True, "1"), ("long b", True, "1"), ("x", False, "2")], 1, 2, "a"),
    ([("a", False, "2"), ("b", False, None)], 0, 0, None),
    ([("aa", True, "1"), ("b", True, "1")], 0, 2, "b"),
]


@pytest.mark.parametrize("answers, pairs, sft, best", CASES)
def test_shapes_follow_their_rules(answers, pairs, sft, best):
    rows = [row([response(t, ok, a, group=0 if ok else i) for i, (t, ok, a) in enumerate(answers)])]
    tables = build(rows, ["pairs", "sft", "best_of_k", "verifier", "difficulty", "responses"])
    assert tables["pairs"].num_rows == pairs
    assert tables["sft"].num_rows == sft
    assert tables["verifier"].num_rows == tables["responses"].num_rows == len(answers)
    best_rows = tables["best_of_k"].to_pylist()
    assert [r["completion"][0]["content"] for r in best_rows] == ([best] if best else [])
    if pairs:
        first = tables["pairs"].to_pylist()[0]
        assert first["chosen"] == [{"role": "assistant", "content": answers[0][0]}]
        assert first["chosen_answer"] == "1"
        assert first["rejected_answer"] == next(a for _, ok, a in answers if not ok)
        assert first["prompt"][-1]["role"] == "user" and PROBLEM.question in \
            first["prompt"][-1]["content"]
    difficulty = tables["difficulty"].to_pylist()[0]
    assert difficulty["n_correct"] == sum(ok for _, ok, _ in answers)
    assert difficulty["n_unparsed"] == sum(a is None for _, _, a in answers)
    assert sum(g["count"] for g in difficulty["answer_groups"]) == \
        len(answers) - difficulty["n_unparsed"]


def test_best_of_k_prefers_the_most_confident_correct_response():
    rows = [row([response("short", True, logprob=-2.0), response("much longer", True,
                                                                 logprob=-0.1),
                 response("wrong", False, logprob=-0.01)])]
    best = build(rows, ["best_of_k"])["best_of_k"].to_pylist()[0]
    assert best["completion"][0]["content"] == "much longer"
    assert best["selected_by"] == "mean_logprob"


def test_ungraded_input_is_a_one_line_error_and_writes_nothing(tmp_path):
    results = tmp_path / "r.jsonl"
    raw = row([response("a", True)])
    del raw["responses"][0]["is_correct"]
    results.write_text(json.dumps(raw) + "\n")
    done = subprocess.run([sys.executable, "-m", "collectkit.export", str(results), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no graded responses" in done.stderr and str(results) in done.stderr
    assert not (tmp_path / "out").exists()


def test_push_to_hub_without_network_is_one_line_and_keeps_the_export(tmp_path):
    processed = tmp_path / "r.processed.jsonl"
    processed.write_text(json.dumps(row([response("a", True), response("b", False)])) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_TOKEN": "hf_SECRETtoken123",
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "collectkit.export", str(processed),
                           "--format", "pairs", "--out", str(tmp_path / "out"),
                           "--push_to_hub", "someone/data"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "could not push to someone/data" in done.stderr
    assert "hf_SECRETtoken123" not in done.stderr + done.stdout
    assert pd.read_parquet(tmp_path / "out" / "pairs.parquet").shape[0] == 1


def test_logprobs_pack_round_trip_with_padding():
    packed = pack(["a", "b"], [-0.5, -1.5], [[("a", -0.5), ("z", -2.0)], [("b", -1.5)]], 2)
    back = unpack(json.loads(json.dumps(packed)))
    assert back.tokens == ["a", "b"] and np.allclose(back.logprob, [-0.5, -1.5])
    assert back.top_tokens == [["a", "z"], ["b", ""]]
    assert np.allclose(back.top_logprob[0], [-0.5, -2.0]) and math.isnan(back.top_logprob[1, 1])
    assert mean_logprob(packed) == pytest.approx(-1.0)
    assert math.isnan(mean_logprob(None))


def test_weighted_vote_can_overturn_the_plain_majority():
    # two confident right answers against three unsure wrong ones agreeing with each other
    rows = [row([response("r1", True, "1", 0, logprob=-0.05),
                 response("r2", True, "1", 0, logprob=-0.05),
                 response("w1", False, "2", 1, logprob=-3.0),
                 response("w2", False, "2", 1, logprob=-3.0),
                 response("w3", False, "2", 1, logprob=-3.0)])]
    votes = confidence.vote_frame(rows)
    assert votes.loc[0, "majority"] == 0.0 and votes.loc[0, "weighted"] == 1.0
    assert confidence.weighted_vote_score(["correct", ("key", "2")], [0.5, 0.5]) == 0.5


def test_calibration_bins_and_ece_by_hand():
    rows = [row([response("a", True, logprob=math.log(0.95)),
                 response("b", False, logprob=math.log(0.92)),
                 response("c", False, logprob=math.log(0.15))])]
    table = confidence.calibration_table(rows, bins=10)
    assert list(table["n"]) == [1, 2]
    ece = confidence.expected_calibration_error(table)["math500"]
    assert ece == pytest.approx(1 / 3 * 0.15 + 2 / 3 * abs(0.5 - 0.935))


def test_truncation_table_and_warning_by_hand():
    rows = [row([response("a", True, finish="length"), response("b", True),
                 response("c", False, finish="length"), response("d", False)], "p1"),
            row([response("e", True, finish="length")], "p2", dataset="mmlu_pro")]
    table = lengths.truncation_table(rows)
    assert table.loc["math500", "n_truncated"] == 2
    assert table.loc["math500", "accuracy_complete"] == 0.5
    assert table.loc["math500", "accuracy_truncated"] == 0.5
    assert table.loc["mmlu_pro", "truncated_share"] == 1.0
    assert table.loc["math500", "tokens_source"] == "estimate"
    assert lengths.truncation_warnings({"math500": (83, 100), "mmlu_pro": (5, 100)}, 96) == [
        "83 % of MATH-500 responses hit --max_tokens 96 (83 of 100): raise it"]


def test_tokens_come_from_usage_only_when_each_response_has_its_own():
    separate = row([{**response("x" * 40, True), "usage": {"completion_tokens": 33}},
                    {**response("y" * 40, True), "usage": {"completion_tokens": 35}}])
    shared = row([{**response("x" * 40, True), "usage": {"completion_tokens": 68}},
                  response("y" * 40, True)], "p2")
    frame = lengths.lengths_frame([separate, shared])
    assert list(frame["tokens"]) == [33, 35, 10, 10]
    assert list(frame["tokens_source"]) == ["usage", "usage", "estimate", "estimate"]


def test_length_and_calibration_figures(tmp_path):
    from collectkit.analyze import plots
    from collectkit.analyze import length_plots as research_plots

    rows = [row([response("a" * (8 * i + 4), i % 2 == 0, finish="length" if i > 4 else "stop",
                          logprob=-0.2 * i) for i in range(6)], f"p{j}") for j in range(3)]
    fig = research_plots.accuracy_vs_length(rows, bins=3)
    assert len(fig.axes[0].lines) == 2  # accuracy and share cut off for the one benchmark
    calibration = research_plots.calibration(rows, bins=5)
    assert len(calibration.axes[0].lines) == 2 and "ECE" in calibration.axes[0].get_legend(
    ).get_texts()[1].get_text()
    assert plots.save_figure(calibration, tmp_path / "c.png").stat().st_size > 1000
    empty = research_plots.calibration([row([response("a", True)])])
    assert "no logprobs" in empty.axes[0].texts[0].get_text()


def test_reasoning_tokens_the_server_counts_apart_are_kept_and_used():
    from openai.types.chat import ChatCompletion

    from collectkit.collect.client import _completions

    body = {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": "The answer is 4."}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 90, "total_tokens": 100,
                      "completion_tokens_details": {"reasoning_tokens": 80}}}
    completion = _completions(ChatCompletion.model_validate(body), "m")[0]
    assert completion.usage == {"prompt_tokens": 10, "completion_tokens": 90,
                                "reasoning_tokens": 80}
    graded = row([{**response("The answer is 4.", True), "usage": completion.usage}])
    frame = lengths.lengths_frame([graded])
    assert (frame.loc[0, "tokens"], frame.loc[0, "reasoning_tokens"],
            frame.loc[0, "answer_tokens"]) == (90, 80, 10)
