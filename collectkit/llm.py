"""LLM clients over an endpoint pool (one `openai.AsyncOpenAI` per base URL): BaseLLM,
RemoteLLM, LocalLLM, create_llm().

The SDK's own retries (max_retries, backoff with jitter, Retry-After) are the only retry layer.
Each side gets only the parameters it accepts; what is dropped is reported once.
"""
from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import openai
import pydantic
from openai.types.chat import ChatCompletion

from . import faults, logprobs, replies, request_options
from .concurrency import SLOW_START_LEVEL, AdaptiveConcurrency
from .config import Settings, split_urls
from .endpoints import EndpointPool
from .pricing import message_tokens

log = logging.getLogger("collectkit")

STANDARD_PARAMS = frozenset({"temperature", "top_p", "max_tokens", "n", "seed", "stop",
                             "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs"})
LOCAL_EXTRA_PARAMS = frozenset({"repetition_penalty", "top_k", "min_p", "echo", "min_tokens",
                                "ignore_eos", "skip_special_tokens", "typical_p", "mirostat"})
MAX_REMOTE_STOP = 4
# OpenAI reasoning models take max_completion_tokens and fixed sampling.
OPENAI_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
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


# A failed request of several stands for all of them in this order: the run's cause first.
_KIND_PRIORITY = {faults.FATAL: 0, faults.TOO_LONG: 1, faults.COUNTED: 1, faults.UNREACHABLE: 2}


class BaseLLM(ABC):
    def __init__(self, model: str, base_url: str, api_key: str, sampling: dict[str, Any], *,
                 timeout: float = 600.0, max_retries: int = 2, max_concurrent: int = 16,
                 rpm: float | None = None, tpm: float | None = None,
                 initial_concurrent: int | None = None) -> None:
        self.model = model
        self.base_url = base_url  # one URL, or several separated by commas
        # The SDK's timeout bounds the gap between bytes; this bounds the whole request.
        self.deadline = timeout
        self.limit = AdaptiveConcurrency(max_concurrent, initial=initial_concurrent, rpm=rpm,
                                         tpm=tpm)
        self.pool = EndpointPool(base_url, api_key, timeout=timeout, max_retries=max_retries,
                                 http_hooks=self.limit.http_hooks())
        # Server messages can echo the key or the URL's credentials: redacted where they enter.
        self.redact = faults.Redactor([api_key, *(secret for url in split_urls(base_url)
                                                  for secret in faults.url_secrets(url))])
        self.params, self.extra_body, self.dropped = self.split_params(dict(sampling))
        if self.dropped:
            log.warning("parameters not sent to %s (%s): %s", model, type(self).__name__,
                        ", ".join(self.dropped))
        self.supports_n: bool | None = None  # learnt on the first request with n > 1

    @abstractmethod
    def split_params(self, params: dict[str, Any]) -> tuple[dict, dict, list[str]]:
        """(standard request parameters, extra_body, names of dropped parameters)."""

    async def sample(self, messages: list[dict], k: int) -> list[Completion]:
        """Exactly k responses: n=k in one request, topped up with separate requests where the
        server rejects n or answers fewer choices; RequestFailed (with what did come back as
        `partial`) if they cannot all be had."""
        if k == 1 or self.supports_n is False:
            return await self._separately(messages, k)
        try:
            completions = await self.complete(messages, n=k)
            problem = f"answered {len(completions)} of n={k} choices"
        except RequestFailed as exc:
            if exc.status not in (400, 422) or exc.kind == faults.TOO_LONG:
                raise
            completions, problem = [], f"rejected n={k} ({exc})"  # separate requests tell
        if len(completions) < k:
            completions += await self._separately(messages, k - len(completions),
                                                  first_index=len(completions),
                                                  partial=completions)
            if self.supports_n is not False:
                log.warning("%s %s; using separate requests for the rest of the run",
                            self.model, problem)
            self.supports_n = False
        else:
            self.supports_n = True
        return completions[:k]

    async def _separately(self, messages: list[dict], count: int, first_index: int = 0,
                          partial: list[Completion] = ()) -> list[Completion]:
        seed = self.params.get("seed")
        jobs = [self._one(messages, None if seed is None else seed + first_index + i)
                for i in range(count)]
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        done = [o for o in outcomes if isinstance(o, Completion)]
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            for failure in failures:
                if not isinstance(failure, RequestFailed):
                    raise failure
            cause = min(failures, key=lambda f: _KIND_PRIORITY[f.kind])
            raise RequestFailed(str(cause), cause.status, partial=[*partial, *done],
                                kind=cause.kind, why=cause.why)
        return done

    async def _one(self, messages: list[dict], seed: int | None) -> Completion:
        completions = await self.complete(messages, n=1, seed=seed)
        if not completions:
            raise RequestFailed("200 response without choices", status=200)
        return completions[0]

    async def complete(self, messages: list[dict], n: int = 1,
                       seed: int | None = None) -> list[Completion]:
        """One request; errors (after the SDK's retries) become RequestFailed."""
        params = dict(self.params, n=n) if n > 1 else {k: v for k, v in self.params.items()
                                                       if k != "n"}
        if seed is not None:
            params["seed"] = seed
        body = {"model": self.model, "messages": messages, **params}
        options = {"extra_json": self.extra_body} if self.extra_body else {}
        tokens = message_tokens(messages) + n * self.params.get(
            "max_tokens", self.params.get("max_completion_tokens", 0)) if self.limit.tpm else 0
        async with self.limit.slot(tokens):
            try:
                async with asyncio.timeout(self.deadline):
                    response = await self._send(body, options)
            except TimeoutError:
                raise RequestFailed(f"Timeout: no complete answer within --request_timeout "
                                    f"{self.deadline:g} s (the whole request's deadline)",
                                    status=None, kind=faults.COUNTED) from None
        return _completions(response, self.model, self.redact,
                            self.params.get("top_logprobs", 0))

    async def _send(self, body: dict, options: dict) -> Any:
        """The request through the pool; the SDK's errors become RequestFailed."""
        try:
            # The SDK's documented `post` with a plain JSON body: chat.completions.create
            # first walks every request through its TypedDict transform, ~0.5 ms CPU per
            # request and an identity on the plain strings and numbers sent here
            # (benchmarks/bench_client_overhead.py). Retries and errors stay the SDK's;
            # the pool picks the endpoint and moves the request if that one is dead.
            return await self.pool.request(lambda client: client.post(
                "/chat/completions", cast_to=ChatCompletion, body=body, options=options))
        except openai.APIConnectionError as exc:  # refused, reset, cut off, or timed out
            kind = faults.kind_of(None, timed_out=faults.server_took_it(exc))
            single = "" if "," in self.base_url else self.base_url
            raise RequestFailed(self.redact(faults.describe(exc)), status=None, kind=kind,
                                why=self.redact(faults.why_unreachable(exc, single))) from None
        except openai.APIStatusError as exc:
            too_long = faults.context_overflow(exc.status_code, exc.message)
            raise RequestFailed(f"{exc.status_code} {type(exc).__name__}: "
                                f"{faults.shorten(exc.message, 300, self.redact)}",
                                status=exc.status_code,
                                kind=faults.TOO_LONG if too_long else None) from None
        except (ValueError, pydantic.ValidationError) as exc:  # a broken 200 body: not
            # JSON, not UTF-8 (UnicodeDecodeError), or not a chat completion
            raise RequestFailed(f"malformed 200 response: {type(exc).__name__}: "
                                f"{faults.shorten(exc, 300, self.redact)}", status=200) from None

    async def aclose(self) -> None:
        await self.pool.aclose()


class RemoteLLM(BaseLLM):
    """OpenAI, Gemini's OpenAI endpoint, any OpenAI-compatible API: standard parameters only."""

    def split_params(self, params):
        params = dict(params)
        options, _, dropped = request_options.request_fields(params, local=False)
        dropped += [name for name, value in params.items()
                    if name not in STANDARD_PARAMS and value is not None]
        kept = {k: v for k, v in params.items() if k in STANDARD_PARAMS and v is not None}
        kept.update(options)
        if OPENAI_REASONING_MODEL.match(self.model):
            for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
                if kept.pop(name, None) is not None:
                    dropped.append(name)
            if "max_tokens" in kept:
                kept["max_completion_tokens"] = kept.pop("max_tokens")
        stop = kept.get("stop")
        if isinstance(stop, (list, tuple)) and len(stop) > MAX_REMOTE_STOP:
            kept["stop"] = list(stop[:MAX_REMOTE_STOP])
            dropped.append(f"stop[{MAX_REMOTE_STOP}:] ({len(stop) - MAX_REMOTE_STOP} more "
                           f"than the {MAX_REMOTE_STOP} allowed)")
        return kept, {}, dropped


class LocalLLM(BaseLLM):
    """vLLM or the embedded llama.cpp engine: standard parameters plus engine sampling extras."""

    def split_params(self, params):
        params = dict(params)
        options, extra, dropped = request_options.request_fields(params, local=True)
        kept = {k: v for k, v in params.items() if k in STANDARD_PARAMS and v is not None}
        extra.update({k: v for k, v in params.items()
                      if k in LOCAL_EXTRA_PARAMS and v is not None})
        dropped += [k for k, v in params.items()
                    if k not in STANDARD_PARAMS | LOCAL_EXTRA_PARAMS and v is not None]
        return {**kept, **options}, extra, dropped


def sampling_params(settings: Settings) -> dict[str, Any]:
    return {"temperature": settings.temperature, "max_tokens": settings.max_tokens,
            "top_p": settings.top_p, "seed": settings.seed,
            "stop": list(settings.stop) or None,
            "repetition_penalty": settings.repetition_penalty,
            **request_options.signature_fields(settings)}


def create_llm(settings: Settings) -> BaseLLM:
    kind = LocalLLM if settings.api_mode == "local" else RemoteLLM
    return kind(settings.model, settings.base_url, settings.resolve_api_key(),
                sampling_params(settings), timeout=settings.request_timeout,
                max_retries=settings.max_retries, max_concurrent=settings.max_concurrent,
                rpm=settings.rpm, tpm=settings.tpm,
                initial_concurrent=None if kind is LocalLLM else SLOW_START_LEVEL)


def _completions(response: Any, model: str | None = None,
                 redact: Any = None, top_n: int | None = None) -> list[Completion]:
    """The choices of a parsed response, checked (replies.py); a 200 that is not a chat
    completion the kit can store is a counted failure naming why (the SDK hands back a str for
    text/plain and an empty model for `{}`). With `model`, a reply from another model is one."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise RequestFailed(f"malformed 200 response: not a chat completion "
                            f"({faults.shorten(repr(response), 120, redact)})", status=200)
    if model is not None:
        try:
            replies.check_model(model, getattr(response, "model", None))
        except replies.BadReply as exc:
            raise RequestFailed(faults.shorten(exc, 300, redact), status=200) from None
    try:
        return _parse_choices(response, choices, top_n)
    except (AttributeError, TypeError, replies.BadReply) as exc:
        raise RequestFailed(f"malformed 200 response: {faults.shorten(exc, 300, redact)}",
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
