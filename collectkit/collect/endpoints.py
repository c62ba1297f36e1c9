"""Several OpenAI-compatible base URLs used as one: least-requests-in-flight, health, /v1/models.

Each request goes to the answering endpoint with the fewest requests in flight (ties: the one that
has served fewest). An endpoint that stops answering (connection refused or reset, after the SDK's
own retries) is taken out and probed with GET /v1/models until it answers, then taken back; the
request that found it dead goes to another endpoint at once, so the caller never sees the failure
and no attempt is counted. A timeout is not "stopped answering": the server took the request, so it
is the caller's failure to count. Only when no endpoint answers does the connection error reach the
caller (an unreachable, uncounted failure). An endpoint whose reply comes from a model it does not
serve as --model (the caller's `check` raises model_identity.WrongModel) is taken out for the rest
of the run, with one warning, and the request goes to another; the last endpoint left stays.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, TypeVar

import openai

from collectkit.collect.settings import split_urls
from collectkit.collect.faults import server_took_it
from collectkit.collect.model_identity import WrongModel
from collectkit.serve.probe import (MAX_MODELS_BYTES, PROBE_TIMEOUT_S, probe_listing,  # noqa: F401
                                    probe_models, served_models)
from collectkit.store.redact import Redactor, redact_url, shorten, url_secrets

log = logging.getLogger("collectkit")

T = TypeVar("T")
PROBE_INTERVAL_S = 1.0


async def answers(client: openai.AsyncOpenAI, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True if GET /v1/models answers at all (any HTTP status: the server is up) within
    `timeout` in all (a server trickling bytes does not answer)."""
    try:
        async with asyncio.timeout(timeout):
            await client.with_options(max_retries=0, timeout=timeout).models.list()
    except openai.APIStatusError:
        return True
    except (openai.APIConnectionError, openai.APIResponseValidationError, TimeoutError,
            ValueError):
        return False
    return True


async def listing(client: openai.AsyncOpenAI,
                  timeout: float = PROBE_TIMEOUT_S) -> list[tuple[str, str | None]] | None:
    """(id, root) per model GET /v1/models lists (vLLM gives each served name the model path as
    root), or None when the endpoint lists nothing: no such route, an error, no answer within
    `timeout` in all."""
    try:
        async with asyncio.timeout(timeout):
            page = await client.with_options(max_retries=0, timeout=timeout).models.list()
        return [(model.id, root if isinstance(root := getattr(model, "root", None), str)
                 else None) for model in page.data if isinstance(model.id, str)]
    except (openai.APIError, TimeoutError, ValueError, AttributeError, TypeError):
        return None


def is_endpoint_down(error: BaseException) -> bool:
    """No server took the request (refused, reset, closed; the SDK has already retried): the
    same line faults.py draws between unreachable and counted failures. A timeout after the
    server accepted the request is not "down"."""
    return isinstance(error, openai.APIConnectionError) and not server_took_it(error)


@dataclass(eq=False)
class Endpoint:
    url: str
    client: openai.AsyncOpenAI = field(repr=False)
    in_flight: int = 0
    served: int = 0
    failovers: int = 0  # requests that found it dead and went elsewhere
    up: bool = True
    downs: int = 0
    taken_out: str = ""  # why it answers no more requests this run (another model)
    probe: asyncio.Task | None = field(default=None, repr=False)

    def report(self) -> dict[str, Any]:
        report = {"url": redact_url(self.url), "served": self.served,
                  "failovers": self.failovers, "times_down": self.downs, "up": self.up}
        if self.taken_out:
            report["taken_out"] = self.taken_out
        return report


class EndpointPool:
    """One `openai.AsyncOpenAI` per base URL; `await pool.request(lambda client: ...)`."""

    def __init__(self, urls: str | Iterable[str], api_key: str, *, timeout: float = 600.0,
                 max_retries: int = 2, probe_interval: float = PROBE_INTERVAL_S,
                 http_hooks: dict[str, list] | None = None) -> None:
        self.urls = split_urls(urls)
        if not self.urls:
            raise ValueError("no endpoint URL given")
        self.endpoints = [Endpoint(url, openai.AsyncOpenAI(
            base_url=url, api_key=api_key, timeout=timeout, max_retries=max_retries,
            http_client=openai.DefaultAioHttpClient(timeout=timeout, event_hooks=http_hooks)))
            for url in self.urls]
        self.probe_interval = probe_interval
        self.redact = Redactor([api_key, *(s for url in self.urls for s in url_secrets(url))])

    def __len__(self) -> int:
        return len(self.endpoints)

    def pick(self) -> Endpoint:
        """The least busy endpoint that answers; when none does, the least busy of all (its
        request then fails as unreachable, as with a single URL). One taken out for answering
        as another model is never picked while another is left."""
        kept = [e for e in self.endpoints if not e.taken_out] or self.endpoints
        candidates = [e for e in kept if e.up] or kept
        return min(candidates, key=lambda e: (e.in_flight, e.served))

    async def request(self, send: Callable[[openai.AsyncOpenAI], Awaitable[T]],
                      check: Callable[[Endpoint, T], Awaitable[None]] | None = None) -> T:
        """send(client) on the least busy endpoint; moves to another one if that one is dead,
        or if `await check(endpoint, result)` raises WrongModel (it answers as another model:
        taken out for the rest of the run, unless it is the last one left)."""
        while True:
            endpoint = self.pick()
            was_up = endpoint.up
            endpoint.in_flight += 1
            try:
                result = await send(endpoint.client)
            except openai.APIConnectionError as error:
                if not was_up or len(self.endpoints) == 1 or not is_endpoint_down(error):
                    raise
                endpoint.failovers += 1
                self.take_out(endpoint, error)
                continue
            finally:
                endpoint.in_flight -= 1
            endpoint.served += 1
            if check is not None:
                try:
                    await check(endpoint, result)
                except WrongModel as wrong:
                    if not self.take_out_for_good(endpoint, wrong):
                        raise
                    endpoint.failovers += 1
                    continue
            return result

    def take_out_for_good(self, endpoint: Endpoint, why: BaseException | str) -> bool:
        """Out of the pool for the rest of the run, with one warning; False (kept) when it is
        the last endpoint left."""
        if endpoint.taken_out:
            return True
        if not any(e is not endpoint and not e.taken_out for e in self.endpoints):
            return False
        endpoint.taken_out = shorten(why, 200, self.redact)
        log.warning("endpoint %s taken out of the pool for the rest of the run: %s",
                    redact_url(endpoint.url), endpoint.taken_out)
        return True

    def take_out(self, endpoint: Endpoint, reason: BaseException | str) -> None:
        if not endpoint.up:
            return
        endpoint.up = False
        endpoint.downs += 1
        log.warning("endpoint %s stopped answering (%s); probing %s/models until it is back",
                    redact_url(endpoint.url), shorten(reason, 200, self.redact),
                    redact_url(endpoint.url))
        endpoint.probe = asyncio.ensure_future(self._probe_until_back(endpoint))

    async def _probe_until_back(self, endpoint: Endpoint) -> None:
        started = time.monotonic()
        while not await answers(endpoint.client):
            await asyncio.sleep(self.probe_interval)
        endpoint.up = True
        endpoint.probe = None
        log.warning("endpoint %s answers again after %.1f s; taken back",
                    redact_url(endpoint.url), time.monotonic() - started)

    def report(self) -> list[dict[str, Any]]:
        """Per endpoint: URL (no credentials), requests served, failovers, times down."""
        return [e.report() for e in self.endpoints]

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            if endpoint.probe is not None:
                endpoint.probe.cancel()
            await endpoint.client.close()
