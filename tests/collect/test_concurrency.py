"""Adaptive concurrency (AIMD) against the stub over real sockets: 429 storms, a capacity limit."""
from __future__ import annotations

import asyncio
import time

import pytest

from collectkit.collect.concurrency import AdaptiveConcurrency
from collectkit.collect.endpoints import EndpointPool
from stub_server import StubServer

MESSAGES = [{"role": "user", "content": "What is 6 * 7?"}]


async def drive(limit: AdaptiveConcurrency, pool: EndpointPool, count: int,
                levels: list[int] | None = None) -> dict[int, str]:
    """`count` requests, all queued at once; the controller decides how many are in flight."""
    answers: dict[int, str] = {}
    peak = 0

    async def one(problem_id: int) -> None:
        nonlocal peak
        async with limit.slot(tokens=50):
            peak = max(peak, limit.in_flight)
            response = await pool.request(lambda client: client.chat.completions.create(
                model="stub-model", messages=MESSAGES, seed=problem_id, max_tokens=4))
        answers[problem_id] = response.choices[0].message.content
        if levels is not None:
            levels.append(limit.level)

    await asyncio.gather(*(one(i) for i in range(count)))
    assert peak <= limit.maximum
    return answers


def pool_for(server: StubServer, limit: AdaptiveConcurrency, retries: int) -> EndpointPool:
    return EndpointPool(server.base_url, "stub", max_retries=retries, http_hooks=limit.http_hooks())


def test_decrease_halves_once_per_round_and_increase_adds_one_per_window():
    limit = AdaptiveConcurrency(16)
    limit.record(429, epoch=0)
    assert limit.level == 8
    limit.record(429, epoch=0)  # started before the decrease: same congestion event
    assert limit.level == 8
    limit.record(503, epoch=1)
    assert limit.level == 4
    for _ in range(3):
        limit.record(200)
    assert limit.level == 4
    limit.record(200)
    assert limit.level == 5
    for _ in range(200):
        limit.record(200)
    assert limit.level == 16, "bounded by max_concurrent"
    assert limit.report()["lowest"] == 4 and limit.report()["overload_responses"] == 3
    fixed = AdaptiveConcurrency(8, adaptive=False)
    fixed.record(429)
    assert fixed.level == 8


def test_429_storm_lowers_then_recovers_and_loses_nothing():
    with StubServer(completion_tokens=4, delay=0.02) as server:
        server.set_faults([{"kind": "429", "retry_after": 0.01}] * 40)

        async def run():
            limit = AdaptiveConcurrency(16)
            pool = pool_for(server, limit, retries=8)
            levels: list[int] = []
            try:
                answers = await drive(limit, pool, 400, levels)
            finally:
                await pool.aclose()
            return limit, answers, levels

        limit, answers, levels = asyncio.run(run())
        stats = server.stats()
    assert sorted(answers) == list(range(400)), "nothing lost"
    assert all(f"seed={i} " in text for i, text in answers.items())
    assert stats["status_counts"]["429"] == 40 and limit.overloads == 40
    assert limit.lowest <= 4, limit.report()  # fell
    assert min(levels) < 16 and levels[-1] == 16, "then grew back to max_concurrent"
    assert [c.level for c in limit.changes][-1] == 16


def test_capacity_limited_server_settles_near_its_capacity():
    with StubServer(completion_tokens=4, delay=0.02,
                    extra_args=["--max-in-flight", "6", "--retry-after", "0.01"]) as server:
        async def run():
            limit = AdaptiveConcurrency(32)
            pool = pool_for(server, limit, retries=10)
            try:
                answers = await drive(limit, pool, 300)
            finally:
                await pool.aclose()
            return limit, answers

        limit, answers = asyncio.run(run())
    assert len(answers) == 300
    assert limit.overloads > 0 and limit.lowest <= 6
    assert limit.level <= 16, limit.report()  # it does not climb back to 32 against a 6-slot server


def test_rpm_limit_spaces_requests():
    with StubServer(completion_tokens=4) as server:
        async def run():
            limit = AdaptiveConcurrency(8, rpm=600)  # 10 per second, a minute's burst allowed
            limit.rpm.max_rate, limit.rpm.time_period = 2, 0.2  # same rate, burst of 2
            pool = pool_for(server, limit, retries=0)
            started = time.monotonic()
            try:
                await drive(limit, pool, 12)
            finally:
                await pool.aclose()
            return time.monotonic() - started

        elapsed = asyncio.run(run())
    assert elapsed >= 0.8, elapsed  # 12 requests at 10/s after a burst of 2


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError):
        AdaptiveConcurrency(0)
