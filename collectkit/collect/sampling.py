"""Reasoning controls and logprobs: where each setting goes in a chat-completions request.

| setting | remote API | local engine (vLLM, llama.cpp) |
|---|---|---|
| `reasoning_effort` | top-level `reasoning_effort` | top-level `reasoning_effort` (vLLM: gpt-oss and templates that read it) |
| `thinking` on/off | dropped (reported) | `chat_template_kwargs: {enable_thinking: …}` (Qwen3-style templates) |
| `thinking_budget` N | dropped (reported) | `thinking_token_budget` (vLLM, needs `--reasoning-config`) and `thinking_budget_tokens` (llama.cpp's server); each engine ignores the other's field |
| `logprobs` N | `logprobs: true` (+ `top_logprobs: N` when N > 0) | the same |

Set values are part of the run's sampling signature (a resumed run must match them); unset ones
are left out of it, so files collected before these settings existed keep their signature.
"""
from __future__ import annotations

from typing import Any

OPTION_KEYS = ("reasoning_effort", "thinking", "thinking_budget", "logprobs")


def signature_fields(settings: Any) -> dict[str, Any]:
    """The options that are set, for the sampling signature (unset ones are left out)."""
    return {key: getattr(settings, key) for key in OPTION_KEYS
            if getattr(settings, key, None) is not None}


def request_fields(params: dict[str, Any], local: bool) -> tuple[dict, dict, list[str]]:
    """Pop the options out of `params`: (top-level fields, extra_body fields, dropped names)."""
    effort, thinking, budget, logprobs = (params.pop(key, None) for key in OPTION_KEYS)
    top: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    dropped: list[str] = []
    if effort is not None:
        top["reasoning_effort"] = effort
    if logprobs is not None:
        top["logprobs"] = True
        if logprobs > 0:
            top["top_logprobs"] = int(logprobs)
    if thinking is not None:
        if local:
            extra["chat_template_kwargs"] = {"enable_thinking": thinking == "on"}
        else:
            dropped.append("thinking (chat_template_kwargs: local engines only)")
    if budget is not None:
        if local:
            extra["thinking_token_budget"] = int(budget)  # vLLM
            extra["thinking_budget_tokens"] = int(budget)  # llama.cpp's server
        else:
            dropped.append("thinking_budget (local engines only)")
    return top, extra, dropped
