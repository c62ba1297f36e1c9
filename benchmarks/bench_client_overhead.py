"""Client overhead: collectkit's real collection path against a bare SDK loop, on the stub server.

Both sides send the same 2,000 problems (`load_problems("both", 2000)`, the kit's prompts), one
request per problem with n=k (k=4 by default, the kit's default), at the same concurrency (64),
through the same transport (openai.AsyncOpenAI + DefaultAioHttpClient, same timeout/retries):

- kit:  `collectkit.collect.run.collect()` — sliding window of batch_size=64 problems,
        max_concurrent=64, a results line appended and flushed per problem, manifest, the tqdm bar
        ON (drawn on the child's stderr, which goes to a file).
- bare: AsyncOpenAI + asyncio.Semaphore(64) + asyncio.gather over all problems, writing nothing.

Each measurement runs in a fresh child process (so no run inherits another's warm state) against
one stub server process; CPU is the child's own getrusage(RUSAGE_SELF) user+system time over the
timed section (the stub's CPU is never counted). Variants are interleaved, their order rotated
every repetition, and medians reported: this 2-core machine is shared and noisy.

Also reported, for the bare loop only: three transports side by side (SDK default httpx, SDK +
DefaultAioHttpClient, raw aiohttp without the SDK).

Ratios (goal ≥ 0.95 for both): throughput = kit req/s ÷ bare req/s;
CPU efficiency = bare CPU/request ÷ kit CPU/request.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (StubServer, base_parser, cpu_seconds, load_average, median,  # noqa: E402
                    now, spread, write_summary)

THIS = Path(__file__).resolve()
KIT = "kit"
LABELS = {
    KIT: "collectkit collect() (SDK client.post + DefaultAioHttpClient)",
    "sdk_aiohttp": "bare: SDK chat.completions.create + DefaultAioHttpClient",
    "sdk_aiohttp_post": "bare: SDK client.post + DefaultAioHttpClient",
    "sdk_httpx": "bare: SDK chat.completions.create, default httpx",
    "raw_aiohttp": "bare: raw aiohttp, no SDK",
}
TIMEOUT = 600.0
MAX_RETRIES = 2


# ------------------------------------------------------------------ child side

def child(args) -> None:
    import asyncio

    from collectkit.tasks import prompts
    from collectkit.collect.settings import Settings
    from collectkit.tasks.load import load_problems

    problems = load_problems("both", args.problems)
    settings = Settings(model=args.model, api_base=args.base_url, api_key="EMPTY",
                        k_responses=args.k, max_tokens=args.max_tokens,
                        batch_size=max(64, args.concurrency), max_concurrent=args.concurrency,
                        max_retries=MAX_RETRIES, request_timeout=TIMEOUT, output_dir=args.out)
    # What the kit's LocalLLM sends: the same for every variant.
    params = {"temperature": settings.temperature, "max_tokens": settings.max_tokens,
              "stop": list(settings.stop)}
    if args.k > 1:
        params["n"] = args.k

    if args.child == KIT:
        from collectkit.analyze.live import LiveGrader
        from collectkit.collect.run import collect

        async def work() -> int:
            stats = await collect(settings, problems, output_path=Path(args.out) / "results.jsonl",
                                  progress=True, live=LiveGrader())
            assert stats.done == len(problems) and stats.failed == 0, stats.line()
            return stats.responses
    elif args.child in ("sdk_aiohttp", "sdk_httpx", "sdk_aiohttp_post"):
        import openai
        from openai.types.chat import ChatCompletion

        async def work() -> int:
            http_client = (None if args.child == "sdk_httpx"
                           else openai.DefaultAioHttpClient(timeout=TIMEOUT))
            client = openai.AsyncOpenAI(base_url=args.base_url, api_key="EMPTY", timeout=TIMEOUT,
                                        max_retries=MAX_RETRIES, http_client=http_client)
            slots = asyncio.Semaphore(args.concurrency)

            async def one(problem) -> int:
                async with slots:
                    if args.child == "sdk_aiohttp_post":  # the call collectkit's LLM makes
                        response = await client.post(
                            "/chat/completions", cast_to=ChatCompletion, body={
                                "model": args.model,
                                "messages": prompts.build_messages(problem), **params})
                    else:
                        response = await client.chat.completions.create(
                            model=args.model, messages=prompts.build_messages(problem),
                            **params)
                return len(response.choices)

            try:
                return sum(await asyncio.gather(*(one(p) for p in problems)))
            finally:
                await client.close()
    elif args.child == "raw_aiohttp":
        import aiohttp

        async def work() -> int:
            url = args.base_url.rstrip("/") + "/chat/completions"
            headers = {"Authorization": "Bearer EMPTY"}
            slots = asyncio.Semaphore(args.concurrency)
            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=1000),
                    timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:

                async def one(problem) -> int:
                    body = {"model": args.model, "messages": prompts.build_messages(problem),
                            **params}
                    async with slots:
                        async with session.post(url, json=body, headers=headers) as response:
                            response.raise_for_status()
                            data = await response.json()
                    return len(data["choices"])

                return sum(await asyncio.gather(*(one(p) for p in problems)))
    else:
        raise SystemExit(f"unknown variant {args.child}")

    cpu0, wall0 = cpu_seconds(), now()
    responses = asyncio.run(work())
    wall, cpu = now() - wall0, cpu_seconds() - cpu0
    assert responses == len(problems) * args.k, (responses, len(problems), args.k)
    print(json.dumps({"variant": args.child, "requests": len(problems), "responses": responses,
                      "wall_s": wall, "cpu_s": cpu}))


# ------------------------------------------------------------------ parent side

def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--k", type=int, default=4, help="n=k responses in one request")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--completion-tokens", type=int, default=64,
                        help="stub words per response (~4 chars each)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 7, quick 5)")
    parser.add_argument("--transport-reps", type=int, default=3,
                        help="repetitions for the httpx and raw-aiohttp loops (information only)")
    parser.add_argument("--child", help=argparse_hidden())
    parser.add_argument("--base-url", help=argparse_hidden())
    parser.add_argument("--model", default="stub-model", help=argparse_hidden())
    parser.add_argument("--out", help=argparse_hidden())
    args = parser.parse_args()
    if args.child:
        return child(args)

    reps = args.reps or (5 if args.quick else 7)
    transport_reps = min(reps, args.transport_reps)
    core = [KIT, "sdk_aiohttp", "sdk_aiohttp_post"]
    extra = ["sdk_httpx", "raw_aiohttp"]
    variants = core + extra
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    print(f"client overhead: {args.problems} problems, k={args.k} (n={args.k} per request), "
          f"concurrency {args.concurrency}, stub {args.completion_tokens} words/response; "
          f"{reps} interleaved repetitions ({transport_reps} for the extra transports); "
          f"{load_average()}", flush=True)
    with StubServer(completion_tokens=args.completion_tokens) as stub, \
            tempfile.TemporaryDirectory(prefix="collectkit-bench-client-") as scratch:
        for rep in range(reps):
            this_rep = core + (extra if rep < transport_reps else [])
            shift = rep % len(this_rep)
            for variant in this_rep[shift:] + this_rep[:shift]:
                out = Path(scratch) / f"{variant}-{rep}"
                out.mkdir()
                child_args = [str(THIS), "--child", variant, "--base-url", stub.base_url,
                              "--model", stub.model, "--out", str(out),
                              "--problems", str(args.problems), "--k", str(args.k),
                              "--concurrency", str(args.concurrency),
                              "--max-tokens", str(args.max_tokens)]
                result = run_child_logged(child_args, out / "stderr.txt")
                runs[variant].append(result)
                print(f"  rep {rep + 1} {variant:16s} {result['requests'] / result['wall_s']:7.0f}"
                      f" req/s  {1000 * result['cpu_s'] / result['requests']:.3f} ms CPU/req",
                      flush=True)

    def rps(variant: str) -> list[float]:
        return [r["requests"] / r["wall_s"] for r in runs[variant]]

    def cpu_ms(variant: str) -> list[float]:
        return [1000 * r["cpu_s"] / r["requests"] for r in runs[variant]]

    def paired(bare: str) -> tuple[list[float], list[float]]:
        """Per repetition (same machine conditions): kit/bare req/s and bare/kit CPU."""
        return ([k / b for k, b in zip(rps(KIT), rps(bare))],
                [b / k for k, b in zip(cpu_ms(KIT), cpu_ms(bare))])

    print("\nmedians [min–max] over repetitions:")
    print(f"  {'variant':58s} {'requests/s':>24s}   {'client CPU ms/request':>24s}")
    for variant in variants:
        print(f"  {LABELS[variant]:58s} {spread(rps(variant)):>24s}   "
              f"{spread(cpu_ms(variant)):>24s}")
    rps_ratios, cpu_ratios = paired("sdk_aiohttp")
    post_rps_ratios, post_cpu_ratios = paired("sdk_aiohttp_post")
    print("  per-rep kit/bare req/s  (bare = chat.completions.create): "
          + ", ".join(f"{r:.3f}" for r in rps_ratios))
    print("  per-rep bare/kit CPU    (bare = chat.completions.create): "
          + ", ".join(f"{r:.3f}" for r in cpu_ratios))
    print("  per-rep kit/bare req/s  (bare = client.post, the kit's call): "
          + ", ".join(f"{r:.3f}" for r in post_rps_ratios))
    print("  per-rep bare/kit CPU    (bare = client.post, the kit's call): "
          + ", ".join(f"{r:.3f}" for r in post_cpu_ratios))
    rps_ratio, cpu_ratio = median(rps_ratios), median(cpu_ratios)
    post_rps_ratio, post_cpu_ratio = median(post_rps_ratios), median(post_cpu_ratios)
    kit_extra_us = 1000 * (median(cpu_ms(KIT)) - median(cpu_ms("sdk_aiohttp_post")))
    print(f"  collectkit's own bookkeeping (kit − bare client.post loop): "
          f"{kit_extra_us:.0f} µs CPU per problem")
    figures = {
        "problems": args.problems, "k": args.k, "concurrency": args.concurrency, "reps": reps,
        **{f"{v}_req_per_s": round(median(rps(v)), 1) for v in variants},
        **{f"{v}_cpu_ms_per_req": round(median(cpu_ms(v)), 4) for v in variants},
        "throughput_ratio": round(rps_ratio, 4), "cpu_efficiency_ratio": round(cpu_ratio, 4),
        "same_call_throughput_ratio": round(post_rps_ratio, 4),
        "same_call_cpu_efficiency_ratio": round(post_cpu_ratio, 4),
        "kit_bookkeeping_us_per_problem": round(kit_extra_us, 1),
    }
    write_summary(args.summary_json, "client overhead", figures, [
        {"what": "client: kit req/s ÷ bare SDK loop req/s", "value": round(rps_ratio, 3),
         "goal": "≥ 0.95", "met": rps_ratio >= 0.95},
        {"what": "client: bare SDK loop CPU/req ÷ kit CPU/req", "value": round(cpu_ratio, 3),
         "goal": "≥ 0.95", "met": cpu_ratio >= 0.95},
        {"what": "client (same SDK call): bare CPU/req ÷ kit CPU/req",
         "value": round(post_cpu_ratio, 3), "goal": "info", "met": None},
    ])
    print(f"transports (bare loop, CPU ms/request): SDK+httpx {median(cpu_ms('sdk_httpx')):.3f}, "
          f"SDK+aiohttp {median(cpu_ms('sdk_aiohttp')):.3f}, "
          f"raw aiohttp {median(cpu_ms('raw_aiohttp')):.3f}; requests/s "
          f"{median(rps('sdk_httpx')):.0f}, {median(rps('sdk_aiohttp')):.0f}, "
          f"{median(rps('raw_aiohttp')):.0f}")
    print(f"RESULT client overhead: kit/bare requests/s = {rps_ratio:.3f}, bare/kit CPU per "
          f"request = {cpu_ratio:.3f} (goal ≥ 0.95; kit {median(rps(KIT)):.0f} req/s "
          f"{median(cpu_ms(KIT)):.3f} ms CPU/req vs bare chat.completions.create loop "
          f"{median(rps('sdk_aiohttp')):.0f} req/s {median(cpu_ms('sdk_aiohttp')):.3f} ms; "
          f"vs a bare loop making the kit's own SDK call: {post_rps_ratio:.3f} req/s, "
          f"{post_cpu_ratio:.3f} CPU)")


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


def run_child_logged(child_args: list[str], stderr_path: Path) -> dict:
    """Like common.run_child, but the child's stderr (the progress bar) goes to a file."""
    import subprocess

    with open(stderr_path, "w") as stderr:
        done = subprocess.run([sys.executable, *child_args], stdout=subprocess.PIPE,
                              stderr=stderr, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"child {child_args[2]} failed ({done.returncode}):\n"
                           f"{stderr_path.read_text()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
