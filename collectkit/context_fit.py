"""The context length a local server needs for a run: its longest prompt plus max_tokens.

A server started with a smaller `max_model_len` answers 400 "maximum context length" for every
request whose prompt and max_tokens do not fit (MMLU-Pro's 5-shot prompts reach ~12,000
characters, ~3,000 tokens). Tokens are estimated from characters without a tokenizer (none is at
hand before the model is served): CHARS_PER_TOKEN is set low so the estimate errs on the large
side (Llama/Qwen tokenizers average about 4 characters per token on this text; LaTeX and option
lists fewer), and the result is rounded up to a multiple of ROUND_TO.
"""
from __future__ import annotations

import math
from typing import Any

CHARS_PER_TOKEN = 3.0
TEMPLATE_TOKENS = 64  # the chat template's role markers and special tokens
ROUND_TO = 1024


def longest_prompt_chars(settings: Any) -> int:
    """Characters of the longest prompt (all messages) the run's problems are asked with."""
    from . import protocols
    from .problems import load_problems

    problems = load_problems(settings.dataset, settings.problem_limit, settings.dataset_source,
                             seed=settings.subset_seed, fields=settings.dataset_fields)
    return max((sum(len(m["content"]) for m in protocols.messages(p, settings.protocol))
                for p in problems), default=0)


def needed_context_length(settings: Any) -> int:
    """A max_model_len that fits every prompt of the run plus its max_tokens."""
    tokens = math.ceil(longest_prompt_chars(settings) / CHARS_PER_TOKEN) + TEMPLATE_TOKENS
    return math.ceil((tokens + settings.max_tokens) / ROUND_TO) * ROUND_TO
