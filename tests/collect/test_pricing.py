"""Price table lookups, user overrides, run cost and the dry-run estimate on real prompts."""
from __future__ import annotations

import json

import pytest

from collectkit.tasks import prompts
from collectkit.collect.pricing import (PriceError, cost_line, estimate_run, estimate_tokens, load_prices,
                                price_for, run_cost)
from collectkit.tasks.load import load_problems


@pytest.mark.parametrize("model, entry", [
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("models/gemini-2.5-flash", "gemini-2.5-flash"),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    ("GPT-5-mini", "gpt-5-mini"),
])
def test_model_ids_match_the_longest_entry(model, entry):
    assert price_for(model).model == entry


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "Qwen/Qwen2.5-7B-Instruct",
                                   "gpt-4omni"])
def test_unknown_models_have_no_price(model):
    assert price_for(model) is None
    assert run_cost(model, 1000, 1000)["usd"] is None
    assert "no price" in cost_line(run_cost(model, 1000, 1000))


def test_cost_arithmetic_and_batch_half_price():
    cost = run_cost("gpt-4o-mini", 2_000_000, 1_000_000)
    assert cost["usd"] == pytest.approx(2 * 0.15 + 1 * 0.6)
    batch = run_cost("gpt-4o-mini", 2_000_000, 1_000_000, batch=True)
    assert batch["usd"] == pytest.approx(cost["usd"] / 2)
    assert "batch price" in cost_line(batch) and "$0.4500" in cost_line(batch)


def test_user_table_overrides_and_adds(tmp_path):
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"models": {"gpt-4o": {"input": 1, "output": 2},
                                            "my-model": {"input": 3, "output": 4,
                                                         "batch_factor": 1}}}))
    prices = load_prices(table)
    assert price_for("gpt-4o", prices).input == 1
    assert price_for("my-model-v2", prices).cost(1e6, 1e6, batch=True) == 7
    assert price_for("gpt-4.1", prices).input == 2.0  # bundled entries stay


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    ("{not json", "not usable"),
    ('{"models": {"x": {"input": 1}}}', "not usable"),
])
def test_bad_price_tables_are_named(tmp_path, content, message):
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PriceError, match=message) as info:
        load_prices(path)
    assert str(path) in str(info.value)


def test_dry_run_estimate_on_real_prompts():
    problems = load_problems("both", 10)
    messages = [prompts.build_messages(p) for p in problems]
    chars = sum(len(m[0]["content"]) for m in messages)
    once = estimate_run("gpt-4o-mini", messages, k=4, max_tokens=1000)
    assert once.problems == 10 and once.requests == 10
    assert chars / 4 <= once.prompt_tokens <= chars / 4 + 10 * 5
    assert once.completion_tokens_max == 10 * 4 * 1000
    assert once.usd_max == pytest.approx((once.prompt_tokens * 0.15 + 40_000 * 0.6) / 1e6)
    separate = estimate_run("gpt-4o-mini", messages, k=4, max_tokens=1000, n_per_request=False)
    assert separate.requests == 40 and separate.prompt_tokens == 4 * once.prompt_tokens
    assert "nothing was sent" in once.line() and "$" in once.line()
    assert estimate_run("local-model", messages, 4, 1000).usd_max is None


def test_estimate_tokens():
    assert (estimate_tokens(""), estimate_tokens("abc"), estimate_tokens("abcde")) == (0, 1, 2)
