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
from typing import Any

import openai
import pydantic
from openai.types.chat import ChatCompletion

from collectkit.collect import faults
from collectkit.collect import sampling as request_options
from collectkit.collect.completions import Completion, RequestFailed, completions as _completions, short as _short  # noqa: F401
from collectkit.collect.concurrency import SLOW_START_LEVEL, AdaptiveConcurrency
from collectkit.collect.settings import Settings, split_urls
from collectkit.collect.endpoints import EndpointPool, listing
from collectkit.collect.model_identity import ModelIdentity, WrongModel
from collectkit.collect.pricing import message_tokens

log = logging.getLogger("collectkit")

STANDARD_PARAMS = frozenset({"temperature", "top_p", "max_tokens", "n", "seed", "stop",
                             "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs"})
LOCAL_EXTRA_PARAMS = frozenset({"repetition_penalty", "top_k", "min_p", "echo", "min_tokens",
                                "ignore_eos", "skip_special_tokens", "typical_p", "mirostat"})
MAX_REMOTE_STOP = 4
# OpenAI reasoning models take max_completion_tokens and fixed sampling.
OPENAI_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


# The slowest generation, in tokens per second of the whole request (all n choices together),
# that a request is waited for: its deadline is max(--request_timeout, n × max_tokens / this).
DEFAULT_MIN_TOKENS_PER_S = 10.0

# A failed request of several stands for all of them in this order: the run's cause first.
_KIND_PRIORITY = {faults.FATAL: 0, faults.TOO_LONG: 1, faults.COUNTED: 1, faults.UNREACHABLE: 2}


def request_deadline(timeout: float, min_tokens_per_s: float | None, max_tokens: int | None,
                     n: int) -> float:
    """Seconds one request of n choices may take in all: --request_timeout, or the time n ×
    max_tokens take at --min_tokens_per_s where that is longer. A long reasoning generation
    that keeps producing finishes; a server trickling bytes is still cut off."""
    if not max_tokens or not min_tokens_per_s:
        return timeout
    return max(timeout, n * max_tokens / min_tokens_per_s)


class BaseLLM(ABC):
    def __init__(self, model: str, base_url: str, api_key: str, sampling: dict[str, Any], *,
                 timeout: float = 600.0, max_retries: int = 2, max_concurrent: int = 16,
                 rpm: float | None = None, tpm: float | None = None,
                 initial_concurrent: int | None = None,
                 min_tokens_per_s: float | None = DEFAULT_MIN_TOKENS_PER_S) -> None:
        self.model = model
        self.base_url = base_url  # one URL, or several separated by commas
        # Each request's deadline in all (asyncio.timeout) and between bytes (the SDK's
        # timeout): `timeout`, or longer for what may be generated (deadline()).
        self.timeout, self.min_tokens_per_s = timeout, min_tokens_per_s
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
        self.identity = ModelIdentity(model, self.redact)  # which model answered

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
        deadline = self.deadline(n)
        options["timeout"] = deadline  # between bytes: a generation is silent till it ends
        async with self.limit.slot(tokens):
            try:
                async with asyncio.timeout(deadline):
                    response = await self._send(body, options)
            except TimeoutError:
                raise RequestFailed(f"cut off: no complete answer within {deadline:g} s (the "
                                    f"whole request's deadline: {self.deadline_rule(n)})",
                                    status=None, kind=faults.COUNTED) from None
        return _completions(response, None, self.redact, self.params.get("top_logprobs", 0))

    def deadline(self, n: int) -> float:
        return request_deadline(self.timeout, self.min_tokens_per_s, self._most_tokens(), n)

    def deadline_rule(self, n: int) -> str:
        if self.deadline(n) == self.timeout:
            return f"--request_timeout {self.timeout:g} s"
        return (f"{'n=%d × ' % n if n > 1 else ''}max_tokens {self._most_tokens()} at "
                f"--min_tokens_per_s {self.min_tokens_per_s:g}, more than --request_timeout "
                f"{self.timeout:g} s")

    def _most_tokens(self) -> int | None:
        return self.params.get("max_tokens", self.params.get("max_completion_tokens"))

    async def _send(self, body: dict, options: dict) -> Any:
        """The request through the pool; the SDK's errors become RequestFailed."""
        try:
            # The SDK's documented `post` with a plain JSON body: chat.completions.create
            # first walks every request through its TypedDict transform, ~0.5 ms CPU per
            # request and an identity on the plain strings and numbers sent here
            # (benchmarks/bench_client_overhead.py). Retries and errors stay the SDK's;
            # the pool picks the endpoint and moves the request if that one is dead or
            # answers as another model.
            return await self.pool.request(lambda client: client.post(
                "/chat/completions", cast_to=ChatCompletion, body=body, options=options),
                check=self._check_model)
        except WrongModel as exc:
            raise RequestFailed(_short(self.redact(str(exc))), status=200) from None
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

    async def _check_model(self, endpoint: Any, response: Any) -> None:
        """WrongModel if the reply is from a model its endpoint does not serve as --model."""
        await self.identity.check_async(endpoint.url, getattr(response, "model", None),
                                        getattr(response, "system_fingerprint", None),
                                        lambda: listing(endpoint.client))

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
                initial_concurrent=None if kind is LocalLLM else SLOW_START_LEVEL,
                min_tokens_per_s=settings.min_tokens_per_s)
