"""The endpoint pool over real sockets: three stub servers, one killed mid-run, one coming back."""
from __future__ import annotations

import asyncio

import openai
import pytest

from collectkit.collect.settings import split_urls
from collectkit.collect.endpoints import EndpointPool, probe_models, served_models
from collectkit.collect.faults import redact_url
from stub_server import StubServer

MESSAGES = [{"role": "user", "content": "What is 6 * 7?"}]


def ask(problem_id: int):
    async def send(client: openai.AsyncOpenAI):
        response = await client.chat.completions.create(
            model="stub-model", messages=MESSAGES, seed=problem_id, max_tokens=4)
        return problem_id, response.choices[0].message.content
    return send


async def drive(pool: EndpointPool, count: int, in_flight: int, on_done=None) -> dict:
    """`count` problems through the pool, `in_flight` at a time; problem id → answer."""
    answers: dict[int, list[str]] = {}
    slots = asyncio.Semaphore(in_flight)

    async def one(problem_id: int) -> None:
        async with slots:
            pid, text = await pool.request(ask(problem_id))
        answers.setdefault(pid, []).append(text)
        if on_done:
            await on_done(len(answers))

    await asyncio.gather(*(one(i) for i in range(count)))
    return answers


@pytest.fixture
def three_stubs():
    servers = [StubServer(completion_tokens=4, delay=0.03) for _ in range(3)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_split_urls_and_public_url():
    assert split_urls("http://a/v1/, http://b/v1 http://a/v1") == ["http://a/v1", "http://b/v1"]
    assert split_urls(["http://a/v1,http://b/v1", "http://c/v1"]) == [
        "http://a/v1", "http://b/v1", "http://c/v1"]
    assert "sk-secret" not in redact_url("http://user:sk-secret@host:8000/v1")


def test_load_spreads_over_all_endpoints(three_stubs):
    async def run():
        pool = EndpointPool([s.base_url for s in three_stubs], "stub", max_retries=0)
        try:
            answers = await drive(pool, 60, in_flight=9)
        finally:
            await pool.aclose()
        return answers, pool.report()

    answers, report = asyncio.run(run())
    assert sorted(answers) == list(range(60)) and all(len(a) == 1 for a in answers.values())
    served = [row["served"] for row in report]
    assert sum(served) == 60 and min(served) >= 15, served  # least-in-flight spreads evenly
    assert [s.stats()["total_requests"] for s in three_stubs] == served


def test_killed_endpoint_is_taken_out_and_its_problems_go_elsewhere(three_stubs):
    victim = three_stubs[1]

    async def kill_after_some(done: int) -> None:
        if done == 20 and victim.process.poll() is None:
            await asyncio.to_thread(victim.kill)

    async def run():
        pool = EndpointPool([s.base_url for s in three_stubs], "stub", max_retries=1,
                            probe_interval=0.1)
        try:
            answers = await drive(pool, 120, in_flight=12, on_done=kill_after_some)
        finally:
            await pool.aclose()
        return answers, pool.report()

    answers, report = asyncio.run(run())
    assert sorted(answers) == list(range(120)), "every problem answered"
    assert all(len(a) == 1 for a in answers.values()), "and exactly once"
    assert all(f"seed={i} " in answers[i][0] for i in range(120))
    assert all(row["served"] > 0 for row in report), report  # load on all three
    assert report[1]["times_down"] == 1 and report[1]["up"] is False
    assert report[1]["failovers"] >= 1, "requests in flight on the killed server moved"
    assert report[0]["served"] + report[2]["served"] + report[1]["served"] == 120


def test_endpoint_that_returns_is_used_again(three_stubs):
    first, second, _ = three_stubs
    port = second.port

    async def run():
        pool = EndpointPool([first.base_url, second.base_url], "stub", max_retries=0,
                            probe_interval=0.1)
        try:
            await asyncio.to_thread(second.kill)
            await drive(pool, 10, in_flight=2)
            assert pool.endpoints[1].up is False
            revived = await asyncio.to_thread(StubServer, completion_tokens=4, port=port)
            try:
                for _ in range(100):
                    if pool.endpoints[1].up:
                        break
                    await asyncio.sleep(0.05)
                assert pool.endpoints[1].up, "the probe took it back"
                await drive(pool, 20, in_flight=4)
                return revived.stats()["total_requests"], pool.report()
            finally:
                await asyncio.to_thread(revived.stop)
        finally:
            await pool.aclose()

    revived_requests, report = asyncio.run(run())
    assert revived_requests >= 5, revived_requests
    assert report[1]["times_down"] == 1 and report[1]["up"] is True


def test_a_timeout_is_the_callers_failure_not_a_dead_endpoint(three_stubs):
    slow = three_stubs[0]
    slow.set_faults([{"kind": "stall", "seconds": 3}])

    async def run():
        pool = EndpointPool([slow.base_url, three_stubs[1].base_url], "stub", max_retries=0,
                            timeout=0.5)
        try:
            with pytest.raises(openai.APITimeoutError):
                await pool.request(ask(1))
            return pool.report()
        finally:
            await pool.aclose()

    report = asyncio.run(run())
    assert report[0]["up"] is True and report[0]["times_down"] == 0


def test_single_dead_endpoint_fails_each_request_as_unreachable(three_stubs):
    lone = three_stubs[0]
    lone.kill()

    async def run():
        pool = EndpointPool([lone.base_url], "stub", max_retries=0)
        try:
            for problem_id in range(2):
                with pytest.raises(openai.APIConnectionError):
                    await pool.request(ask(problem_id))
            return pool.report()
        finally:
            await pool.aclose()

    assert asyncio.run(run())[0]["times_down"] == 0  # one URL: nothing to fail over to


def test_all_endpoints_dead_reaches_the_caller(three_stubs):
    for server in three_stubs[:2]:
        server.kill()

    async def run():
        pool = EndpointPool([s.base_url for s in three_stubs[:2]], "stub", max_retries=0,
                            probe_interval=0.1)
        try:
            with pytest.raises(openai.APIConnectionError):
                await pool.request(ask(1))
            with pytest.raises(openai.APIConnectionError):
                await pool.request(ask(2))
        finally:
            await pool.aclose()

    asyncio.run(run())


def test_probe_models_tells_no_answer_from_a_refusal(three_stubs):
    live, dead_url = three_stubs[0], three_stubs[2].base_url
    three_stubs[2].kill()
    assert probe_models(live.base_url) == (200, ["stub-model"])
    assert served_models(dead_url) == [] and probe_models(dead_url) == (None, [])
