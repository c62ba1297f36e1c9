"""Scaling out: requests/s over 1, 2 and 4 endpoints; adaptive concurrency ÷ the best fixed one.

Part 1 — endpoints. Each stub server stands for one GPU server: every request takes --delay
seconds and it holds at most --capacity at once (more are answered 429, so a client that
overloads one endpoint while another idles pays for it). The kit's own collect() (k=1: one
request per problem) keeps `capacity × endpoints` requests in flight over the URL list. Ideal
scaling is N × capacity ÷ delay; the ratio printed is req/s with 4 endpoints ÷ with 1 (ideal 4).
The client's own ceiling is measured first (4 endpoints, no delay, no limit): it must be far
above the scaled figures, or the client would be the limit.

Part 2 — adaptive concurrency. One stub that holds --capacity requests at once and answers the
rest 429 with Retry-After (a rate-limited API). Fixed concurrency levels are tried, then the AIMD
controller as a remote run uses it (max 64, slow start); the ratio printed is adaptive req/s ÷ the
best fixed req/s (a level a user would have to know in advance). Requests
that fail after the SDK's retries are counted as lost (they would be failed rows).
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import StubServer, base_parser, load_average, write_summary  # noqa: E402
import logging  # noqa: E402

from collectkit.collect.concurrency import SLOW_START_LEVEL, AdaptiveConcurrency  # noqa: E402
from collectkit.collect.endpoints import EndpointPool  # noqa: E402

MESSAGES = [{"role": "user", "content": "What is 6 * 7?"}]


async def drive(urls: list[str], requests: int, limit: AdaptiveConcurrency,
                max_retries: int) -> tuple[float, int]:
    """(answered requests per second, requests lost) for `requests` sent through the pool."""
    pool = EndpointPool(urls, "EMPTY", max_retries=max_retries, http_hooks=limit.http_hooks())
    lost = 0

    async def one(index: int) -> None:
        nonlocal lost
        async with limit.slot():
            try:
                await pool.request(lambda client: client.chat.completions.create(
                    model="stub-model", messages=MESSAGES, max_tokens=8, seed=index))
            except Exception:  # noqa: BLE001 — a failed request is a lost one here
                lost += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(requests)))
    finally:
        await pool.aclose()
    return (requests - lost) / (time.perf_counter() - started), lost


def start_stubs(count: int, delay: float, capacity: int, retry_after: float) -> list[StubServer]:
    extra = (["--max-in-flight", str(capacity), "--retry-after", str(retry_after)]
             if capacity else [])
    return [StubServer(completion_tokens=8, delay=delay, extra_args=extra) for _ in range(count)]


def stop_all(servers: list[StubServer]) -> None:
    for server in servers:
        server.stop()


def overloads(servers: list[StubServer]) -> int:
    return sum(int(s.stats()["status_counts"].get("429", 0)) for s in servers)


def collect_rate(urls: list[str], problems: list, in_flight: int) -> float:
    """Problems per second (one request each, k=1) through the kit's own collect()."""
    from collectkit.collect.settings import Settings
    from collectkit.analyze.live import LiveGrader
    from collectkit.collect.run import run_collection

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(model="stub-model", api_base=",".join(urls), api_key="EMPTY",
                            k_responses=1, max_tokens=8, max_concurrent=in_flight,
                            batch_size=in_flight, max_retries=5, output_dir=folder)
        stats = run_collection(settings, problems, progress=False, live=LiveGrader())
    assert stats.done == len(problems), stats.line()
    return stats.done / stats.wall_s


def endpoints_part(args) -> dict:
    from collectkit.tasks.load import load_problems

    figures = {}
    problems = load_problems("both", args.requests)
    servers = start_stubs(4, 0.0, 0, 0)
    try:
        ceiling = collect_rate([s.base_url for s in servers], problems, 64)
    finally:
        stop_all(servers)
    figures["client_ceiling_rps"] = round(ceiling, 1)
    print(f"client ceiling (collect(), 4 endpoints, no delay, 64 in flight): {ceiling:.0f} req/s")
    for count in (1, 2, 4):
        servers = start_stubs(count, args.delay, args.capacity, 0.05)
        try:
            rps = collect_rate([s.base_url for s in servers], problems, args.capacity * count)
            rejected = overloads(servers)
            served = [s.stats()["total_requests"] for s in servers]
        finally:
            stop_all(servers)
        ideal = count * args.capacity / args.delay
        figures[f"rps_{count}"] = round(rps, 1)
        print(f"{count} endpoint(s): {rps:6.1f} req/s (ideal {ideal:.0f}; {rps / ideal:.0%}), "
              f"served {served}, {rejected} 429s from imbalance")
    figures["scaling_4_over_1"] = round(figures["rps_4"] / figures["rps_1"], 2)
    figures["ceiling_over_4"] = round(ceiling / figures["rps_4"], 1)
    print(f"client ceiling ÷ 4-endpoint rate: {figures['ceiling_over_4']}× (the client is not "
          "the limit when this is well above 1)")
    return figures


def adaptive_part(args) -> dict:
    figures, fixed = {}, {}
    servers = start_stubs(1, args.delay, args.capacity, args.retry_after)
    try:
        urls = [servers[0].base_url]
        for level in (args.capacity // 2, args.capacity, 2 * args.capacity, 4 * args.capacity,
                      64):
            rps, lost = asyncio.run(drive(urls, args.requests,
                                          AdaptiveConcurrency(level, adaptive=False), 10))
            fixed[level] = rps
            print(f"fixed {level:3d} in flight: {rps:6.1f} req/s, {lost} lost")
        limit = AdaptiveConcurrency(64, initial=SLOW_START_LEVEL)  # as a remote-mode run does
        rps, lost = asyncio.run(drive(urls, args.requests, limit, 10))
        report = limit.report()
        print(f"adaptive (max 64, slow start from {SLOW_START_LEVEL}): {rps:6.1f} req/s, "
              f"{lost} lost; final level "
              f"{report['final']}, lowest {report['lowest']}, {report['changes']} changes, "
              f"{report['overload_responses']} 429s seen")
    finally:
        stop_all(servers)
    best_level = max(fixed, key=fixed.get)
    figures.update({f"fixed_{k}_rps": round(v, 1) for k, v in fixed.items()},
                   adaptive_rps=round(rps, 1), adaptive_lost=lost, best_fixed_level=best_level,
                   adaptive_over_best_fixed=round(rps / fixed[best_level], 2),
                   adaptive_over_fixed_64=round(rps / fixed[64], 2))
    print(f"adaptive ÷ fixed 64 (the same bound without adaptation): "
          f"{figures['adaptive_over_fixed_64']}")
    return figures


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds per request at a stub")
    parser.add_argument("--capacity", type=int, default=8, help="requests a stub holds at once")
    parser.add_argument("--retry-after", type=float, default=0.5,
                        help="Retry-After of the rate-limited stub's 429s (part 2)")
    args = parser.parse_args()
    if args.quick:
        args.requests = 400
    logging.getLogger("collectkit").setLevel(logging.ERROR)  # one line per level change
    print(load_average())
    figures = {**endpoints_part(args), **adaptive_part(args)}
    write_summary(args.summary_json, "endpoints", figures, [
        {"what": "req/s 4 endpoints ÷ 1", "value": figures["scaling_4_over_1"], "goal": "≥ 3.6",
         "met": figures["scaling_4_over_1"] >= 3.6},
        {"what": "adaptive ÷ best fixed concurrency", "value": figures["adaptive_over_best_fixed"],
         "goal": "≥ 0.8", "met": figures["adaptive_over_best_fixed"] >= 0.8}])
    print(f"req/s 4 endpoints ÷ 1 endpoint: {figures['scaling_4_over_1']} (ideal 4.0); "
          f"adaptive ÷ best fixed (fixed {figures['best_fixed_level']}): "
          f"{figures['adaptive_over_best_fixed']}")


if __name__ == "__main__":
    main()
