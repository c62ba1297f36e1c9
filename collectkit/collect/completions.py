"""A chat completion reply as the kit keeps it: Completion (one sampled response), RequestFailed
(a request that failed, with what it means for the run), and completions() (a parsed reply's
choices, checked by replies.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from collectkit.collect import faults
from collectkit.store import logprobs
from collectkit.collect import replies

THINK_BLOCK = re.compile(r"^\s*<think>(.*?)(?:</think>|$)(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Completion:
    """One sampled response: the answer text, why it ended, thinking kept apart, token usage."""
    text: str
    finish_reason: str | None
    reasoning_content: str | None = None
    usage: dict[str, int] | None = None
    served_model: str | None = None  # the model id the server answered with
    system_fingerprint: str | None = None
    logprobs: dict[str, Any] | None = None  # packed token logprobs (logprobs.pack), when asked

    def record(self) -> dict[str, Any]:
        record = {"full_response": self.text, "finish_reason": self.finish_reason,
                  "reasoning_content": self.reasoning_content, "usage": self.usage,
                  "model": self.served_model, "system_fingerprint": self.system_fingerprint}
        if self.logprobs is not None:
            record["logprobs"] = self.logprobs
        return record


class RequestFailed(Exception):
    """A request failed after the SDK's retries. `kind` (faults.UNREACHABLE / COUNTED / FATAL)
    says what it means for the run; `status` is the HTTP status (None: no response)."""

    def __init__(self, message: str, status: int | None,
                 partial: list[Completion] | None = None, kind: str | None = None,
                 why: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.partial = partial or []
        self.kind = kind or faults.kind_of(status)
        self.why = why  # unreachable: in a few words, why no server took it

    @property
    def unreachable(self) -> bool:
        return self.kind == faults.UNREACHABLE

    @property
    def fatal(self) -> bool:
        return self.kind == faults.FATAL


def completions(response: Any, model: str | None = None,
                 redact: Any = str, top_n: int | None = None) -> list[Completion]:
    """The choices of a parsed response, checked (replies.py); a 200 that is not a chat
    completion the kit can store is a counted failure naming why (the SDK hands back a str for
    text/plain and an empty model for `{}`). With `model`, a reply from another model is one."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise RequestFailed(f"malformed 200 response: not a chat completion "
                            f"({short(redact(repr(response)), 120)})", status=200)
    if model is not None:
        try:
            replies.check_model(model, getattr(response, "model", None))
        except replies.BadReply as exc:
            raise RequestFailed(short(redact(str(exc))), status=200) from None
    try:
        return _parse_choices(response, choices, top_n)
    except (AttributeError, TypeError, replies.BadReply) as exc:
        raise RequestFailed(f"malformed 200 response: {short(redact(str(exc)))}",
                            status=200) from None


def _parse_choices(response: Any, choices: list, top_n: int | None) -> list[Completion]:
    usage = replies.usage_counts(getattr(response, "usage", None))
    served = replies.text_field(getattr(response, "model", None), "model")
    fingerprint = replies.text_field(getattr(response, "system_fingerprint", None),
                                     "system_fingerprint")
    completions = []
    for i, choice in enumerate(choices):
        message = choice.message
        text = replies.text_field(message.content, "message.content") or ""
        reasoning = replies.text_field(_sent_field(message, "reasoning_content")
                                       or _sent_field(message, "reasoning"), "reasoning")
        if reasoning is None and (think := THINK_BLOCK.match(text)):
            reasoning, text = think.group(1).strip(), think.group(2).strip()
        completions.append(Completion(text, replies.text_field(choice.finish_reason,
                                                               "finish_reason"), reasoning,
                                      usage if i == 0 else None, served, fingerprint,
                                      logprobs.from_choice(choice, top_n)))
    return completions


def _sent_field(model: Any, name: str) -> Any:
    """`model.<name>` if the server sent it (a declared field or a pydantic extra), else None.

    Plain getattr on an absent extra takes pydantic's AttributeError path, ~6 µs: 8 times per
    response of n=4 (benchmarks/bench_client_overhead.py)."""
    value = getattr(model, "__dict__", {}).get(name)
    if value is None:
        extra = getattr(model, "model_extra", None)
        if extra:
            value = extra.get(name)
    return value


def short(message: Any, limit: int = 300) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[:limit] + "…"
