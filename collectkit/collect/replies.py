"""What a 200 reply must be before the kit stores it: text it can write, counts it can add up,
and the model the run asked for.

A reply that fails a check is a counted failed attempt naming the cause (llm.RequestFailed with
status 200), never a traceback: one odd reply must not kill a run, or every rerun of it.
Strings that cannot be written as UTF-8 (lone surrogates, which JSON's `\\ud800` escape can
carry) are kept losslessly, escaped as the text `\\ud800`.
"""
from __future__ import annotations

import re
from typing import Any

USAGE_FIELDS = ("prompt_tokens", "completion_tokens")


class BadReply(ValueError):
    """A 200 reply the kit cannot store; the message says what is wrong with it."""


def writable(value: Any) -> Any:
    """`value` with lone surrogates escaped as `\\udXXX` text (lossless, writable as UTF-8);
    anything but a str is returned unchanged."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def text_field(value: Any, name: str) -> str | None:
    """A text field of a choice: None, or a writable str; anything else is a BadReply."""
    if value is None or isinstance(value, str):
        return writable(value)
    raise BadReply(f"{name} is {type(value).__name__} {_show(value)}, not text")


def token_count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadReply(f"usage.{name} is {_show(value)}, not a token count")
    return value


def usage_counts(usage: Any) -> dict[str, int | None] | None:
    """{"prompt_tokens": n, "completion_tokens": n} from a reply's usage, checked; plus
    "reasoning_tokens" when the server reports them (completion_tokens_details)."""
    if usage is None:
        return None
    counts = {name: token_count(getattr(usage, name, None), name) for name in USAGE_FIELDS}
    # reasoning models' thinking tokens, where the server counts them apart (OpenAI, vLLM)
    details = getattr(usage, "completion_tokens_details", None)
    if getattr(details, "reasoning_tokens", None) is not None:
        counts["reasoning_tokens"] = token_count(details.reasoning_tokens, "reasoning_tokens")
    return counts


# What a provider appends to an alias to name the snapshot that answered: a date (-2024-08-06,
# -20241022), a build number (-001, -2411), a version (-v2); several may follow each other.
SNAPSHOT_SUFFIX = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{2}-\d{2}|\d{3,8}|v\d+(?:\.\d+)*))+")


def same_model(requested: str, served: str | None) -> bool:
    """Whether a reply's `model` is the run's model. Providers name a snapshot of the alias
    asked for (gpt-4o → gpt-4o-2024-08-06, claude-x-latest → claude-x-20241022) or add a path
    prefix (models/gemini-…); gpt-4o answered by gpt-4o-mini-… is another model. A reply
    without `model` has nothing to compare."""
    if not served or served == requested:
        return True
    short_served, short_requested = served.rsplit("/", 1)[-1], requested.rsplit("/", 1)[-1]
    if short_served == short_requested:
        return True
    alias = short_requested.removesuffix("-latest")
    return (short_served.startswith(alias + "-")
            and SNAPSHOT_SUFFIX.fullmatch(short_served[len(alias):]) is not None)


def check_model(requested: str, served: Any) -> None:
    if served is not None and not isinstance(served, str):
        raise BadReply(f"model is {_show(served)}, not a model id")
    if not same_model(requested, served):
        raise BadReply(f"answered by model {writable(served)!r}, not {requested!r} (the run's "
                       "--model); not stored")


def _show(value: Any, limit: int = 60) -> str:
    text = repr(writable(value) if isinstance(value, str) else value)
    return text if len(text) <= limit else text[:limit] + "…"
