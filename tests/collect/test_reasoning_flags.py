"""Reasoning controls and --logprobs reach the right request field (the stub server records every
body it gets, over a real socket); they are part of the sampling signature; a run that hit
max_tokens often says so at its end."""
from __future__ import annotations

import json
import os

import pytest

from collectkit.collect.run import run_collection
from collectkit.tasks.load import load_problems
from collectkit.collect.manifest import ConfigMismatch
from collection_support import lines, manifest, one_line_error, run_cli, stub_settings
from stub_server import StubServer

REASONING_KEYS = ("reasoning_effort", "thinking", "thinking_budget", "logprobs")


@pytest.fixture
def stub():
    with StubServer(completion_tokens=16) as server:
        yield server


def test_local_flags_reach_top_level_and_extra_body_fields(stub, tmp_path):
    done = run_cli(stub, "--reasoning_effort", "high", "--thinking", "off",
                   "--thinking_budget", "256", "--logprobs", "3",
                   "--output_file", str(tmp_path / "r.jsonl"), cwd=tmp_path, problems=2)
    assert done.returncode == 0, done.stderr
    sent = stub.stats()["last_request"]
    assert sent["reasoning_effort"] == "high"
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    assert sent["thinking_token_budget"] == 256 and sent["thinking_budget_tokens"] == 256
    assert sent["logprobs"] is True and sent["top_logprobs"] == 3
    expected = {"reasoning_effort": "high", "thinking": "off", "thinking_budget": 256,
                "logprobs": 3}
    for row in lines(tmp_path / "r.jsonl"):
        assert {key: row["sampling"][key] for key in REASONING_KEYS} == expected
    assert {key: manifest(tmp_path / "r.jsonl")["signature"][key]
            for key in REASONING_KEYS} == expected


def test_thinking_on_and_logprobs_zero(stub, tmp_path):
    settings = stub_settings(stub, tmp_path, thinking="on", logprobs=0, batch_size=1)
    run_collection(settings, load_problems("math500", 1), output_path=tmp_path / "r.jsonl",
                   progress=False)
    sent = stub.stats()["last_request"]
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}
    assert sent["logprobs"] is True and "top_logprobs" not in sent
    assert "reasoning_effort" not in sent and "thinking_token_budget" not in sent


def test_remote_gets_reasoning_effort_and_drops_local_only_controls(stub, tmp_path, caplog):
    settings = stub_settings(stub, tmp_path, api_mode="remote", reasoning_effort="low",
                             thinking="on", thinking_budget=100, logprobs=2, batch_size=1)
    with caplog.at_level("WARNING", logger="collectkit"):
        run_collection(settings, load_problems("math500", 1), output_path=tmp_path / "r.jsonl",
                       progress=False)
    sent = stub.stats()["last_request"]
    assert sent["reasoning_effort"] == "low" and sent["top_logprobs"] == 2
    for field in ("chat_template_kwargs", "thinking_token_budget", "thinking_budget_tokens"):
        assert field not in sent
    assert "thinking (chat_template_kwargs" in caplog.text and "thinking_budget" in caplog.text


def test_unset_controls_leave_the_signature_and_body_as_before(stub, tmp_path):
    settings = stub_settings(stub, tmp_path, batch_size=1)
    run_collection(settings, load_problems("math500", 1), output_path=tmp_path / "r.jsonl",
                   progress=False)
    sent = stub.stats()["last_request"]
    row = lines(tmp_path / "r.jsonl")[0]
    for key in REASONING_KEYS + ("chat_template_kwargs", "top_logprobs"):
        assert key not in sent and key not in row["sampling"]
    assert "logprobs" not in row["responses"][0]


def test_resuming_with_another_thinking_setting_is_refused(stub, tmp_path):
    out = tmp_path / "r.jsonl"
    settings = stub_settings(stub, tmp_path, thinking="off")
    run_collection(settings, load_problems("both", 2), output_path=out, progress=False)
    with pytest.raises(ConfigMismatch, match="thinking"):
        run_collection(settings.replace(thinking="on"), load_problems("both", 3),
                       output_path=out, progress=False)


@pytest.mark.parametrize("flag, value", [("--thinking", "maybe"),
                                         ("--reasoning_effort", "extreme"),
                                         ("--logprobs", "21"), ("--thinking_budget", "-1")])
def test_bad_values_are_one_line_errors(stub, tmp_path, flag, value):
    done = run_cli(stub, flag, value, cwd=tmp_path, problems=1)
    assert done.returncode == 2
    assert flag.lstrip("-") in one_line_error(done)
    assert not list(tmp_path.glob("*.jsonl"))


def test_run_end_warns_when_many_responses_hit_max_tokens(tmp_path):
    with StubServer(completion_tokens=100) as server:  # every response is cut at max_tokens
        done = run_cli(server, "--max_tokens", "16", "--dataset", "math500",
                       "--output_file", str(tmp_path / "r.jsonl"), cwd=tmp_path, problems=2)
    assert done.returncode == 0, done.stderr
    rows = lines(tmp_path / "r.jsonl")
    cut = sum(r["finish_reason"] == "length" for row in rows for r in row["responses"])
    assert cut == 6
    assert ("warning: 100 % of MATH-500 responses hit --max_tokens 16 (6 of 6): raise it"
            in done.stderr)
    assert manifest(tmp_path / "r.jsonl")["runs"][-1]["truncated"] == {"math500": [6, 6]}


def test_no_warning_when_responses_finish(stub, tmp_path):
    done = run_cli(stub, "--output_file", str(tmp_path / "r.jsonl"), cwd=tmp_path, problems=2)
    assert done.returncode == 0 and "hit --max_tokens" not in done.stderr
