"""Adaptive concurrency for rate-limited APIs: additive increase, multiplicative decrease (AIMD).

The in-flight limit starts at `initial` (default max_concurrent) and, below max_concurrent, doubles
after each round of successes until the first overload (TCP's slow start: no burst of 429s at the
start against a rate-limited API). Every HTTP response is observed (the SDK's retries
included, through the HTTP client's response hook), so a 429 or 503 is seen even when the SDK's
retry then succeeds: the limit halves, at most once per round of requests (a response to a request
sent before the last decrease does not halve it again; a retry sent after it may). After `level`
successes in a row
the limit grows by one, up to max_concurrent. Optional --rpm / --tpm limits are leaky buckets
(aiolimiter) taken before a request starts. The SDK stays the only retry layer.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

from aiolimiter import AsyncLimiter

log = logging.getLogger("collectkit")

OVERLOAD_STATUSES = frozenset({429, 503})
# Where a remote API run starts before slow start finds its level (local servers start at max).
SLOW_START_LEVEL = 4
# The decrease epoch in which this task last sent a request (set by the request hook).
_request_epoch: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "collectkit_request_epoch", default=None)
# True while this task's request waits out a 429/503 inside the SDK (Retry-After): it loads no
# server, so it is not counted in flight; the SDK's retry waits for room like a new request.
_parked: contextvars.ContextVar[bool] = contextvars.ContextVar("collectkit_parked", default=False)


@dataclass(frozen=True)
class LevelChange:
    at_s: float  # seconds since the controller was made
    level: int
    reason: str


class AdaptiveConcurrency:
    """`async with limit.slot(tokens): ...` around each request; `await limit.observe(response)`
    as the HTTP client's response hook."""

    def __init__(self, max_concurrent: int, *, initial: int | None = None, minimum: int = 1,
                 adaptive: bool = True, rpm: float | None = None,
                 tpm: float | None = None) -> None:
        if max_concurrent < 1 or minimum < 1:
            raise ValueError("concurrency limits must be at least 1")
        self.maximum = max_concurrent
        self.minimum = min(minimum, max_concurrent)
        self.adaptive = adaptive
        self.level = max(self.minimum, min(initial or max_concurrent, max_concurrent))
        self.slow_start = adaptive and self.level < max_concurrent
        self.in_flight = 0
        self.lowest = self.level
        self.overloads = 0
        self.changes: list[LevelChange] = []
        self._successes = 0
        self._epoch = 0
        self._started = time.monotonic()
        self._condition: asyncio.Condition | None = None
        self.rpm = AsyncLimiter(rpm, 60) if rpm else None
        # Capacity is one minute's worth, but a single request larger than that still passes.
        self.tpm = AsyncLimiter(tpm, 60) if tpm else None

    @asynccontextmanager
    async def slot(self, tokens: int = 0) -> AsyncIterator[None]:
        if self.rpm is not None:
            await self.rpm.acquire()
        if self.tpm is not None and tokens:
            await self.tpm.acquire(min(tokens, self.tpm.max_rate))
        condition = self._get_condition()
        async with condition:
            await condition.wait_for(lambda: self.in_flight < self.level)
            self.in_flight += 1
        _parked.set(False)
        try:
            yield
        finally:
            async with condition:
                if not _parked.get():
                    self.in_flight -= 1
                _parked.set(False)
                condition.notify_all()

    def http_hooks(self) -> dict[str, list]:
        """Event hooks for the HTTP client under the SDK: they see every send, retries too."""
        return {"request": [self.before_send], "response": [self.observe]}

    async def before_send(self, request: Any) -> None:
        _request_epoch.set(self._epoch)
        if _parked.get():  # the SDK's retry: back to the server once there is room again
            condition = self._get_condition()
            async with condition:
                await condition.wait_for(lambda: self.in_flight < self.level)
                self.in_flight += 1
            _parked.set(False)

    async def observe(self, response: Any) -> None:
        """Every response, retried ones included (GETs such as health probes do not count)."""
        if response.request.method != "POST":
            return
        self.record(response.status_code, _request_epoch.get())
        if self.adaptive and response.status_code in OVERLOAD_STATUSES and not _parked.get():
            _parked.set(True)
            self.in_flight -= 1
        if self.level > self.in_flight and self._condition is not None:
            async with self._condition:
                self._condition.notify_all()

    def record(self, status: int, epoch: int | None = None) -> None:
        if not self.adaptive:
            return
        if status in OVERLOAD_STATUSES:
            self.overloads += 1
            self._successes = 0
            self.slow_start = False
            if (epoch is None or epoch == self._epoch) and self.level > self.minimum:
                self._epoch += 1
                self._set(max(self.minimum, self.level // 2), f"HTTP {status}")
        elif status < 400:
            self._successes += 1
            if self._successes >= self.level and self.level < self.maximum:
                self._successes = 0
                grown = 2 * self.level if self.slow_start else self.level + 1
                self._set(min(grown, self.maximum), f"{self.level} successes in a row")

    def _set(self, level: int, reason: str) -> None:
        old, self.level = self.level, level
        self.lowest = min(self.lowest, level)
        self.changes.append(LevelChange(round(time.monotonic() - self._started, 3), level, reason))
        logger = log.warning if level < old else log.info
        logger("concurrency %d → %d (%s)", old, level, reason)

    def _get_condition(self) -> asyncio.Condition:
        if self._condition is None:  # made inside the running loop
            self._condition = asyncio.Condition()
        return self._condition

    def report(self) -> dict[str, Any]:
        """For the manifest: final and lowest level, overload responses seen, limits."""
        return {"final": self.level, "lowest": self.lowest, "max": self.maximum,
                "overload_responses": self.overloads, "changes": len(self.changes),
                "adaptive": self.adaptive, "rpm": self.rpm.max_rate if self.rpm else None,
                "tpm": self.tpm.max_rate if self.tpm else None}
