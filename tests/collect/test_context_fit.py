"""Context too small (issue 21): a prompt + max_tokens over the server's context is not retried,
the run names the problems and what to change, and where the server tells its context length
(vLLM's /v1/models max_model_len) the overflow is found before sending. Against the stub server
over a real socket, serving a context length as vLLM does (--max-model-len; /tokenize counts words).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from stub_server import StubServer

from collectkit.cli import run as run_inference
from collectkit.collect.settings import Settings
from collectkit.collect.run import run_collection
from collectkit.tasks.load import load_problems

MMLU = {"mmlu_pro/7457", "mmlu_pro/8343"}  # 5-shot prompts: 730 and 1,131 words
CONTEXT = 400  # the MATH-500 prompts (47 and 70 words) fit with 32 tokens, the MMLU-Pro ones not


def settings_for(stub, tmp_path, **changes) -> Settings:
    return Settings(model=stub.model, api_base=stub.base_url, output_dir=str(tmp_path),
                    dataset="both", num_problems="4", k_responses=2, max_tokens=32,
                    max_retries=0, request_timeout=10.0, retry_backoff_s=0.0, **changes)


def error_rows(tmp_path: Path) -> list[dict]:
    [errors] = tmp_path.glob("*.errors.jsonl")
    return [json.loads(line) for line in errors.read_text().splitlines()]


def test_counted_overflow_is_found_before_sending(tmp_path, caplog):
    with StubServer(completion_tokens=8, extra_args=["--max-model-len", str(CONTEXT)]) as stub:
        settings = settings_for(stub, tmp_path)
        with caplog.at_level(logging.WARNING, logger="collectkit"):
            stats = run_collection(settings, load_problems("both", 4), progress=False)
        sent = stub.stats()
    assert set(stats.too_long) == MMLU and stats.done == 2
    assert sent["total_requests"] == 2  # one n=2 request per MATH-500 problem
    assert sent["context_rejections"] == 0  # none for MMLU-Pro
    warning = caplog.text
    assert "2 problem(s) do not fit the server's context of 400 tokens with max_tokens 32" in warning
    assert "counted by the server's /tokenize" in warning and "not sent" in warning
    assert "--max-model-len" in warning and "--max_tokens" in warning and "--protocol" in warning
    rows = error_rows(tmp_path)
    assert {r["unique_id"] for r in rows} == MMLU
    assert all(r["kind"] == "too_long" and r["counted"] is False for r in rows)
    assert "prompt 1131 tokens (counted) + max_tokens 32 > the server's max_model_len 400" in \
        " ".join(r["error"] for r in rows)


def test_overflow_answered_by_the_server_is_not_retried_and_the_cli_says_what_to_do(
        tmp_path, capsys, caplog):
    """No /tokenize: the estimate is labelled and only warns; the server's 400 "maximum context
    length" is then not retried (no n fallback, no rounds) and no attempt is counted."""
    with StubServer(completion_tokens=8, extra_args=["--max-model-len", str(CONTEXT),
                                                     "--no-tokenize"]) as stub:
        argv = ["--model", stub.model, "--api_base", stub.base_url, "--output_dir",
                str(tmp_path), "--num_problems", "4", "--k_responses", "2", "--max_tokens",
                "32", "--max_retries", "0", "--retry_backoff_s", "0", "--quiet"]
        with caplog.at_level(logging.WARNING, logger="collectkit"):
            code = run_inference.main(argv)
        sent = stub.stats()
    err = capsys.readouterr().err
    assert code == 1
    assert "estimated at ~4 characters a token" in caplog.text and "sent anyway" in caplog.text
    assert sent["total_requests"] == 2  # the two MATH-500 problems, one n=2 request each
    assert sent["context_rejections"] == 2  # one each: neither retried nor split into n=1
    assert "context too small: 2 problem(s) do not fit the server's context" in err
    assert "mmlu_pro/7457" in err and "maximum context length is 400 tokens" in err
    assert "--max-model-len" in err and "--max_tokens (now 32)" in err
    assert "mmlu_pro_zero_shot" in err and "raise --max_attempts" not in err
    rows = error_rows(tmp_path)
    assert len(rows) == 2 and all(r["counted"] is False and r["kind"] == "too_long" for r in rows)


def test_max_tokens_filling_the_context_sends_nothing(tmp_path, caplog):
    with StubServer(completion_tokens=8, extra_args=["--max-model-len", "64"]) as stub:
        settings = settings_for(stub, tmp_path).replace(max_tokens=64)
        with caplog.at_level(logging.WARNING, logger="collectkit"):
            stats = run_collection(settings, load_problems("both", 4), progress=False)
        sent = stub.stats()
    assert len(stats.too_long) == 4 and sent["total_requests"] == 0
    assert "max_tokens alone fills the context" in caplog.text
