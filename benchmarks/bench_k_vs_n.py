"""k responses in one request (n=k) against k separate requests, on the embedded engine.

The same problems (load_problems("both", P), the kit's prompts), k responses each, max_tokens 128,
temperature 0.7, against the engine with 8 slots (n_parallel, serve_llm's default). Both sides use
openai.AsyncOpenAI + DefaultAioHttpClient + a semaphore, like the kit. "Same concurrency" is read
two ways:
- requests (the headline figure): the same number of HTTP requests in flight on both sides
  (default 8, as in DESIGN.md's measurement): 8 requests of n=k against 8 requests of n=1;
- sequences (without --quick, for information): the same number of sampled sequences in flight
  (8 = the slots): 8/k requests of n=k against 8 requests of n=1. Here a request of n=k holds its
  slots until its longest response ends, so short responses leave slots idle.

Tokens are counted by us, the same way on both sides: every returned text is re-tokenized by the
engine's own tokenizer (POST /tokenize). The engine's usage.completion_tokens is printed beside it
to show that it undercounts with n>1. (Re-tokenizing misses the end-of-sequence token of a response
that stopped by itself: at most one token per response, on both sides.)

Sides run A B B A (A B with --quick) to cancel drift on a shared machine; the ratio is
tokens/s(n=k) ÷ tokens/s(k requests) over the summed runs of each side.
"""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (ContentionMonitor, base_parser, engine, load_average,  # noqa: E402
                    tokenize_counter, wait_for_quiet, write_summary)


async def run_side(base_url: str, model: str, problems, k: int, together: bool,
                   in_flight: int, max_tokens: int, ignore_eos: bool,
                   limit_s: float = 420.0, match: str = "requests") -> dict:
    import openai

    from collectkit.tasks import prompts

    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=600,
                                http_client=openai.DefaultAioHttpClient(timeout=600))
    per_request = k if together and match == "sequences" else 1
    slots = asyncio.Semaphore(max(1, in_flight // per_request))
    extra = {"ignore_eos": True} if ignore_eos else None

    async def one(problem, n: int):
        async with slots:
            response = await client.chat.completions.create(
                model=model, messages=prompts.build_messages(problem), n=n, max_tokens=max_tokens,
                temperature=0.7, extra_body=extra)
        return response

    jobs = ([one(p, k) for p in problems] if together
            else [one(p, 1) for p in problems for _ in range(k)])
    started = time.perf_counter()
    try:
        responses = await asyncio.wait_for(asyncio.gather(*jobs), limit_s)
    except asyncio.TimeoutError:
        raise SystemExit(f"RESULT k vs n: not measured — a side took over {limit_s:.0f} s; the "
                         "machine is too busy (another engine running?)") from None
    finally:
        await client.close()
    wall = time.perf_counter() - started
    texts = [c.message.content or "" for r in responses for c in r.choices]
    reasons = [c.finish_reason for r in responses for c in r.choices]
    usage = sum(r.usage.completion_tokens for r in responses if r.usage)
    return {"wall_s": wall, "texts": texts, "responses": len(texts), "usage_tokens": usage,
            "length_stops": reasons.count("length")}


def measure(handle, problems, args, match: str, order: list[bool], count_tokens) -> dict:
    """Runs the two sides in `order`; sums tokens and wall time per side."""
    totals = {side: {"wall_s": 0.0, "tokens": 0, "usage_tokens": 0, "responses": 0,
                     "length_stops": 0, "runs": []} for side in (True, False)}
    for together in order:
        side = asyncio.run(run_side(handle.base_url, handle.model_id, problems, args.k,
                                    together, args.in_flight, args.max_tokens,
                                    args.ignore_eos, args.limit_s, match))
        tokens = sum(count_tokens(t) for t in side["texts"])
        total = totals[together]
        total["wall_s"] += side["wall_s"]
        total["tokens"] += tokens
        for key in ("usage_tokens", "responses", "length_stops"):
            total[key] += side[key]
        total["runs"].append(round(tokens / side["wall_s"], 2))
        print(f"  [same {match}] {'n=k in one request' if together else 'k separate requests':20s}"
              f" {side['responses']} responses, {tokens:,} tokens (usage says "
              f"{side['usage_tokens']:,}), {side['length_stops']} cut by max_tokens, "
              f"{side['wall_s']:.1f} s → {tokens / side['wall_s']:.1f} tokens/s", flush=True)
    rate = {side: t["tokens"] / t["wall_s"] for side, t in totals.items()}
    return {"n_eq_k_tokens_per_s": round(rate[True], 2),
            "k_requests_tokens_per_s": round(rate[False], 2),
            "n_eq_k_runs": totals[True]["runs"], "k_requests_runs": totals[False]["runs"],
            "n_eq_k_usage_vs_counted": [totals[True]["usage_tokens"], totals[True]["tokens"]],
            "k_requests_usage_vs_counted": [totals[False]["usage_tokens"],
                                            totals[False]["tokens"]],
            "ratio": round(rate[True] / rate[False], 3)}


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=None, help="default 8 (quick 4)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--in-flight", type=int, default=8,
                        help="requests (or, for the sequence-matched figure, sequences) in flight")
    parser.add_argument("--n-parallel", type=int, default=8, help="engine slots")
    parser.add_argument("--limit-s", type=float, default=420.0,
                        help="give up on a side after this long (a busy machine)")
    parser.add_argument("--ignore-eos", action="store_true",
                        help="every response runs to max_tokens: equal work on both sides")
    parser.add_argument("--wait-quiet", type=float, default=0.0,
                        help="first wait up to this many seconds for other engines to end")
    args = parser.parse_args()

    from collectkit.tasks.load import load_problems

    wait_for_quiet(args.wait_quiet)

    count = args.problems or (4 if args.quick else 8)
    problems = load_problems("both", count)
    order = [True, False] if args.quick else [True, False, False, True]
    print(f"k vs n: {count} problems × k={args.k}, max_tokens {args.max_tokens}, "
          f"{args.in_flight} in flight, engine n_parallel={args.n_parallel}, "
          f"order {' '.join('n=k' if o else 'k×n=1' for o in order)}; {load_average()}",
          flush=True)
    figures = {"problems": count, "k": args.k, "max_tokens": args.max_tokens,
               "in_flight": args.in_flight, "n_parallel": args.n_parallel,
               "ignore_eos": args.ignore_eos}
    with ContentionMonitor() as monitor, engine(n_parallel=args.n_parallel) as handle:
        count_tokens = tokenize_counter(handle.base_url)
        # Warm-up, every slot used once: a fresh engine's first full batch runs markedly slower.
        asyncio.run(run_side(handle.base_url, handle.model_id, problems,
                             -(-2 * args.n_parallel // len(problems)), False,
                             2 * args.n_parallel, 32, False, args.limit_s))
        figures["same_requests"] = measure(handle, problems, args, "requests", order,
                                           count_tokens)
        if not args.quick:
            figures["same_sequences"] = measure(handle, problems, args, "sequences",
                                                [True, False], count_tokens)
    main_figures = figures["same_requests"]
    figures["machine"] = monitor.verdict()
    print(f"\n  machine during the run: {monitor.verdict()}")
    for match in ("requests", "sequences"):
        if f"same_{match}" in figures:
            f = figures[f"same_{match}"]
            print(f"  same {match} in flight: n=k {f['n_eq_k_tokens_per_s']:.1f} tokens/s "
                  f"(usage reported {f['n_eq_k_usage_vs_counted'][0]:,} of "
                  f"{f['n_eq_k_usage_vs_counted'][1]:,} counted), k requests "
                  f"{f['k_requests_tokens_per_s']:.1f} tokens/s → ratio {f['ratio']:.3f}")
    goals = [{"what": "engine: tokens/s n=k ÷ k requests (same requests in flight)",
              "value": main_figures["ratio"], "goal": "info (≈ 1: n=k costs nothing)",
              "met": None}]
    if "same_sequences" in figures:
        goals.append({"what": "engine: tokens/s n=k ÷ k requests (same sequences in flight)",
                      "value": figures["same_sequences"]["ratio"], "goal": "info", "met": None})
    write_summary(args.summary_json, "k vs n", figures, goals)
    print(f"RESULT k vs n: n=k in one request {main_figures['n_eq_k_tokens_per_s']:.1f} tokens/s"
          f" ÷ k separate requests {main_figures['k_requests_tokens_per_s']:.1f} tokens/s = "
          f"{main_figures['ratio']:.3f} ({args.in_flight} requests in flight each side; tokens "
          f"counted with the engine's /tokenize){' — CONTENDED' if monitor.contended else ''}")


if __name__ == "__main__":
    main()
