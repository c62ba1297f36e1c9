"""The saturation benchmarks compare like with like (issue 21): the bare loop sends exactly the
messages the kit sends for the same problem (they once sent the old zero-shot prompts against the
kit's 5-shot MMLU-Pro ones, ~2,000 tokens each: a ratio of two different jobs). Both sides run
against the stub server; what each sent is compared."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from stub_server import StubServer

from collectkit.tasks.load import load_problems

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_engine_saturation as bench  # noqa: E402


@pytest.mark.parametrize("dataset", ["mmlu_pro", "math500"])
def test_bare_loop_sends_the_kits_messages(dataset):
    problem = load_problems(dataset, 1)
    with StubServer(completion_tokens=8) as stub:
        asyncio.run(bench.bare_loop(stub.base_url, stub.model, problem, 1, 1, 60, max_tokens=16))
        bare = stub.stats()["last_request"]
        bench.kit_run(stub.base_url, stub.model, problem, 60, k_responses=1, api_key="sk-test")
        kit = stub.stats()["last_request"]
    assert bare["messages"] == kit["messages"]
    if dataset == "mmlu_pro":  # the kit's default: the authors' 5-shot prompt
        assert kit["messages"][-1]["content"].count("Answer: Let's think step by step.") == 6
    assert {key: bare[key] for key in ("temperature", "stop")} == \
        {key: kit[key] for key in ("temperature", "stop")}
