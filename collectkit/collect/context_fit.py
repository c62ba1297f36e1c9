"""Problems whose prompt + max_tokens exceed the server's context, found before anything is sent.

vLLM lists each model's `max_model_len` at GET /v1/models and answers a request whose prompt
tokens plus max_tokens exceed it with a 400 "maximum context length", which no retry can fix.
Where the server tells its context length, the prompts are measured first:

- counted by the server's own POST /tokenize (vLLM's takes the chat messages and applies the
  model's chat template: the exact count the server will check), for every prompt whose rough
  estimate is at least half of what fits (far shorter ones cannot overflow);
- estimated (~4 characters a token, `pricing.message_tokens`) where the server has no /tokenize;
  the line says so, and estimated overflows are only reported, never held back.

Counted overflows are not sent: each gets an error row of kind too_long (no attempt counted).

Before a server exists (the Colab notebook sizing the one it starts), `needed_context_length`
gives a max_model_len that fits the run's longest prompt plus max_tokens, from characters: no
tokenizer is at hand then, so CHARS_PER_TOKEN is set low (the estimate errs on the large side;
Llama/Qwen tokenizers average about 4 characters a token on this text, LaTeX and option lists
fewer) and the result is rounded up to a multiple of ROUND_TO.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from collectkit.collect.pricing import message_tokens

log = logging.getLogger("collectkit")
PROBE_TIMEOUT_S = 5.0
COUNTED_BY_SERVER = "counted by the server's /tokenize"
ESTIMATED = "estimated at ~4 characters a token (the server has no /tokenize)"


@dataclass
class ContextFit:
    max_model_len: int
    max_tokens: int
    counted_by: str
    prompt_tokens: dict[str, int] = field(default_factory=dict)  # only the ones that do not fit
    exact_anyway: bool = False  # max_tokens alone fills the context: certain without a count

    @property
    def exact(self) -> bool:
        return self.counted_by == COUNTED_BY_SERVER or self.exact_anyway

    def reason(self, unique_id: str) -> str:
        tokens = self.prompt_tokens[unique_id]
        return (f"prompt {tokens} tokens ({'counted' if self.exact else 'estimated'}) + "
                f"max_tokens {self.max_tokens} > the server's max_model_len "
                f"{self.max_model_len}")

    def line(self) -> str:
        ids = list(self.prompt_tokens)
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        action = ("not sent" if self.exact else "sent anyway: the estimate may be off")
        return (f"{len(ids)} problem(s) do not fit the server's context of {self.max_model_len} "
                f"tokens with max_tokens {self.max_tokens} ({shown}; prompt tokens "
                f"{self.counted_by}); {action}. Start the server with a larger --max-model-len, "
                f"lower --max_tokens, or use a shorter --protocol (e.g. mmlu_pro_zero_shot "
                f"instead of the 5-shot mmlu_pro_official)")


def _call(url: str, api_key: str | None, body: dict | None = None) -> Any:
    """The JSON reply, or None. httpx drops Authorization when a redirect leaves the origin
    (urllib would carry the key to any host a server redirects to)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(timeout=PROBE_TIMEOUT_S, follow_redirects=True, max_redirects=3,
                          trust_env=False) as client:
            reply = (client.get(url, headers=headers) if body is None
                     else client.post(url, headers=headers, json=body))
        return reply.json() if reply.status_code == 200 else None
    except (httpx.HTTPError, OSError, ValueError):
        return None


def server_context(base_url: str, model: str, api_key: str | None) -> int | None:
    """The model's max_model_len as GET /v1/models lists it (vLLM), else None."""
    listing = _call(base_url.rstrip("/") + "/models", api_key)
    for entry in (listing or {}).get("data", []) if isinstance(listing, dict) else []:
        if isinstance(entry, dict) and entry.get("id") == model:
            value = entry.get("max_model_len")
            return value if isinstance(value, int) and value > 0 else None
    return None


def tokenizer(base_url: str, model: str, api_key: str | None) -> Callable[[list], int | None]:
    """messages → prompt tokens by the server's POST /tokenize (at the server's root), or None."""
    root = base_url.rstrip("/").removesuffix("/v1")

    def count(messages: list[dict]) -> int | None:
        reply = _call(root + "/tokenize", api_key, {"model": model, "messages": messages,
                                                    "add_generation_prompt": True})
        value = reply.get("count") if isinstance(reply, dict) else None
        return value if isinstance(value, int) else None

    return count


def check_fit(base_url: str, model: str, api_key: str | None, max_tokens: int,
              prompts: dict[str, list[dict]]) -> ContextFit | None:
    """None when the server does not tell its context length; else the prompts (id → messages)
    that do not fit, counted by the server where it can, estimated otherwise."""
    max_model_len = server_context(base_url, model, api_key)
    if max_model_len is None:
        return None
    budget = max_model_len - max_tokens
    count = tokenizer(base_url, model, api_key)
    fit = ContextFit(max_model_len, max_tokens, COUNTED_BY_SERVER)
    if budget <= 0:  # max_tokens alone fills the context: no prompt fits, none needs counting
        fit.counted_by = "not counted: max_tokens alone fills the context"
        fit.prompt_tokens = {uid: message_tokens(m) for uid, m in prompts.items()}
        fit.exact_anyway = True
        return fit
    for unique_id, messages in prompts.items():
        estimate = message_tokens(messages)
        if estimate < budget / 2:
            continue
        tokens = count(messages) if fit.exact else None
        if tokens is None:
            fit.counted_by, tokens = ESTIMATED, estimate
        if tokens > budget:
            fit.prompt_tokens[unique_id] = tokens
    return fit


def hold_back(settings: Any, api_key: str, todo: list, recorder: Any,
              messages_of: Callable[[Any], list[dict]]) -> list:
    """The plan without the problems the server's context cannot hold (local mode, where the
    server tells its context length): each one set aside gets a too_long error row, and the run
    warns once with what to change. Returns the problems to send."""
    from collectkit.collect.faults import TOO_LONG
    from collectkit.collect.client import RequestFailed

    if settings.api_mode != "local" or not todo:
        return todo
    fit = check_fit(settings.base_urls[0], settings.model, api_key, settings.max_tokens,
                    {problem.unique_id: messages_of(problem) for problem in todo})
    if fit is None or not fit.prompt_tokens:
        return todo
    log.warning("%s", fit.line())
    if not fit.exact:
        return todo
    for problem in todo:
        if problem.unique_id in fit.prompt_tokens:
            recorder.failed(problem, RequestFailed(f"not sent: {fit.reason(problem.unique_id)}",
                                                   status=None, kind=TOO_LONG))
    return [problem for problem in todo if problem.unique_id not in fit.prompt_tokens]


# ------------------------------------------------------------------ sizing a server to start

CHARS_PER_TOKEN = 3.0
TEMPLATE_TOKENS = 64  # the chat template's role markers and special tokens
ROUND_TO = 1024


def longest_prompt_chars(settings: Any) -> int:
    """Characters of the longest prompt (all messages) the run's problems are asked with."""
    from collectkit.tasks import protocols
    from collectkit.tasks.load import load_problems

    problems = load_problems(settings.dataset, settings.problem_limit, settings.dataset_source,
                             seed=settings.subset_seed, fields=settings.dataset_fields)
    return max((sum(len(m["content"]) for m in protocols.messages(p, settings.protocol))
                for p in problems), default=0)


def needed_context_length(settings: Any) -> int:
    """A max_model_len that fits every prompt of the run plus its max_tokens."""
    tokens = math.ceil(longest_prompt_chars(settings) / CHARS_PER_TOKEN) + TEMPLATE_TOKENS
    return math.ceil((tokens + settings.max_tokens) / ROUND_TO) * ROUND_TO
