"""What a run costs: tokens × a price table (bundled, user-overridable), and a dry-run estimate.

Prices are USD per million tokens. A model id matches its own entry or the longest entry that
prefixes it ("gpt-4o-2024-08-06" → "gpt-4o", "gpt-4o-mini-…" → "gpt-4o-mini"); a provider
prefix
("openai/", "models/") is ignored. Local models have no price: their cost is None, not 0.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

BUNDLED_TABLE = "prices.json"
CHARS_PER_TOKEN = 4  # the usual rough rule for English text with OpenAI-style tokenizers
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per chat message


class PriceError(ValueError):
    """The price table cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Price:
    model: str  # the table entry that matched
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens
    batch_factor: float = 0.5

    def cost(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        usd = (prompt_tokens * self.input + completion_tokens * self.output) / 1e6
        return usd * self.batch_factor if batch else usd


def load_prices(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    """The bundled table, with the entries of `path` (same shape) replacing or adding to it."""
    table = json.loads(resources.files("collectkit.data").joinpath(BUNDLED_TABLE).read_text())
    models = dict(table["models"])
    if path:
        try:
            extra = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = extra.get("models", extra)
            for name, entry in entries.items():
                float(entry["input"]), float(entry["output"])
        except FileNotFoundError:
            raise PriceError(f"price table not found: {path}") from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise PriceError(f"price table {path} is not usable ({type(exc).__name__}: {exc}); "
                             'expected {"models": {"MODEL": {"input": USD, "output": USD}}}'
                             ) from None
        models.update(entries)
    return models


def price_for(model: str, table: dict[str, dict[str, float]] | None = None) -> Price | None:
    table = load_prices() if table is None else table
    name = model.rsplit("/", 1)[-1].lower()
    matches = [key for key in table if name == key.lower() or name.startswith(key.lower() + "-")]
    if not matches:
        return None
    key = max(matches, key=len)
    entry = table[key]
    return Price(key, float(entry["input"]), float(entry["output"]),
                 float(entry.get("batch_factor", 0.5)))


def run_cost(model: str, prompt_tokens: int, completion_tokens: int, *, batch: bool = False,
             table: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """For the manifest and the last line: tokens, the matched price and the cost (None if the
    model is not in the table, the bundled one by default)."""
    price = price_for(model, table)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "batch": batch, "price": asdict(price) if price else None,
            "usd": round(price.cost(prompt_tokens, completion_tokens, batch), 8) if price
            else None}


def cost_line(cost: dict[str, Any]) -> str:
    tokens = f"{cost['prompt_tokens']:,} prompt + {cost['completion_tokens']:,} completion tokens"
    if cost["usd"] is None:
        return f"cost: {tokens}; no price for this model (add it with --prices FILE)"
    tier = " at the batch price" if cost["batch"] else ""
    return f"cost: {tokens} ≈ ${cost['usd']:.4f}{tier} (prices of {cost['price']['model']})"


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: characters / 4, at least 1 for non-empty text."""
    return -(-len(text) // CHARS_PER_TOKEN) if text else 0


def message_tokens(messages: Iterable[dict[str, str]]) -> int:
    return sum(estimate_tokens(m.get("content") or "") + MESSAGE_OVERHEAD_TOKENS
               for m in messages)


@dataclass(frozen=True)
class Estimate:
    problems: int
    requests: int
    prompt_tokens: int
    completion_tokens_max: int
    usd_max: float | None
    price_model: str | None

    def line(self) -> str:
        cost = (f"≤ ${self.usd_max:.2f} (prices of {self.price_model})"
                if self.usd_max is not None else "no price for this model")
        return (f"dry run: {self.problems} problems, {self.requests} requests, "
                f"~{self.prompt_tokens:,} prompt tokens (chars/4) + at most "
                f"{self.completion_tokens_max:,} completion tokens (max_tokens × k) → {cost}; "
                "nothing was sent")


def estimate_run(model: str, prompts: list[list[dict[str, str]]], k: int, max_tokens: int, *,
                 n_per_request: bool = True, batch: bool = False,
                 prices_path: str | Path | None = None) -> Estimate:
    """Upper-bound cost of sending `prompts` (one message list per problem) with k samples each.
    With n=k the prompt is billed once per problem, with k separate requests k times."""
    per_problem_prompts = 1 if n_per_request else k
    prompt_tokens = sum(message_tokens(m) for m in prompts) * per_problem_prompts
    completion_max = len(prompts) * k * max_tokens
    price = price_for(model, load_prices(prices_path))
    usd = price.cost(prompt_tokens, completion_max, batch) if price else None
    return Estimate(len(prompts), len(prompts) * per_problem_prompts, prompt_tokens,
                    completion_max, usd, price.model if price else None)


def estimate_open_problems(settings: Any, results: Path, *, batch: bool = False) -> Estimate:
    """--dry_run: what collecting the problems not yet in `results` would cost at most."""
    from collectkit.tasks import protocols
    from collectkit.store import append as store
    from collectkit.collect.shards import take_shard
    from collectkit.tasks.load import load_problems

    problems = take_shard(load_problems(settings.dataset, settings.problem_limit,
                                        settings.dataset_source, seed=settings.subset_seed,
                                        fields=settings.dataset_fields), settings.shard)
    done = store.completed_ids(results) if results.exists() else set()
    messages = [protocols.messages(p, settings.protocol) for p in problems
                if p.unique_id not in done]
    return estimate_run(settings.model, messages, settings.k_responses, settings.max_tokens,
                        batch=batch, prices_path=settings.prices or None)
