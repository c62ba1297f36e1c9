"""Engine saturation: does collectkit with its defaults keep the embedded engine busy?

The engine is started the way `python -m collectkit.serve_llm` starts it (n_parallel slots,
max_model_len from the kit's Settings). One workload for everything: P problems
(load_problems("both", P)) asked exactly as the kit asks them (`kit_messages`: its default
protocols, the authors' 5-shot MMLU-Pro prompt of ~2,000 tokens and the boxed MATH-500 prompt;
tests/tasks/test_bench_prompts.py fails if the two sides' messages differ) × k=4 (the kit's default)
sampled responses, max_tokens 128, temperature 0.7 (the kit's default).

- bare loop: openai.AsyncOpenAI + DefaultAioHttpClient + a semaphore of c requests (n=1 each,
  P×k of them) + asyncio.gather, for c in the sweep; its best tokens/s is what the engine reaches.
- kit: `run_collection` with the kit's defaults (k=4 as one request of n=4 per problem,
  batch_size, max_concurrent), only max_tokens set to 128; its whole call is timed.

Tokens are counted the same way on both sides by re-tokenizing every returned text with the
engine's own tokenizer (POST /tokenize): its usage.completion_tokens undercounts with n>1.
Ratio (goal ≥ 0.9): kit tokens/s ÷ best bare-loop tokens/s. Without --quick the kit also runs
forced to k requests of n=1 per problem (this engine starts a request of n=k only once k slots are
free at the same moment, as its log shows, but evaluates the prompt once for all k), at smaller
max_concurrent values, and the engine is restarted with other n_parallel (slot) counts.
A fresh engine is warmed up first (every slot used once): its first full batch runs slower.
"""
from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (ContentionMonitor, base_parser, engine, load_average,  # noqa: E402
                    tokenize_counter, wait_for_quiet, write_summary)

MAX_TOKENS = 128
GOAL = 0.9


class TooSlow(RuntimeError):
    pass


def kit_messages(problem, protocol: str | None = None) -> list[dict]:
    """Exactly the messages the kit sends for `problem` (inference._ask: protocols.messages with
    the run's --protocol, by default the kit's default protocols). Figures measured before this
    sent the old zero-shot prompts (prompts.build_messages) on the bare side: other work."""
    from collectkit.tasks import protocols
    from collectkit.collect.settings import Settings

    return protocols.messages(problem, Settings().protocol if protocol is None else protocol)


async def bare_loop(base_url: str, model: str, problems, k: int, concurrency: int,
                    limit_s: float, max_tokens: int = MAX_TOKENS) -> tuple[float, list[str]]:
    import openai

    from collectkit.collect.settings import Settings

    defaults = Settings()
    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=600,
                                http_client=openai.DefaultAioHttpClient(timeout=600))
    slots = asyncio.Semaphore(concurrency)

    async def one(problem):
        async with slots:
            response = await client.chat.completions.create(
                model=model, messages=kit_messages(problem), max_tokens=max_tokens,
                temperature=defaults.temperature, stop=list(defaults.stop))
        return response.choices[0].message.content or ""

    started = time.perf_counter()
    try:
        texts = await asyncio.wait_for(
            asyncio.gather(*(one(p) for p in problems for _ in range(k))), limit_s)
    except asyncio.TimeoutError:
        raise TooSlow(f"bare loop at concurrency {concurrency} took over {limit_s:.0f} s") \
            from None
    finally:
        await client.close()
    return time.perf_counter() - started, texts


def warm_up(handle, problems, slots: int, limit_s: float) -> None:
    """Every slot used once (2 × slots short requests): a fresh engine's first full batch runs
    markedly slower (page faults in its KV cache), which would penalize whatever runs first."""
    per_problem = -(-2 * slots // len(problems))  # ceiling
    asyncio.run(bare_loop(handle.base_url, handle.model_id, problems, per_problem, 2 * slots,
                          limit_s, max_tokens=32))


def kit_run(base_url: str, model: str, problems, limit_s: float,
            n_per_request: bool | None = None, **changes) -> dict:
    """run_collection's path (collect()). `n_per_request` True/False forces the kit's LLM to send
    one request of n=k / k requests of n=1 per problem; None leaves the choice to the kit."""
    from collectkit.collect.settings import Settings
    from collectkit.analyze.live import LiveGrader
    from collectkit.collect.run import collect
    from collectkit.collect.client import create_llm
    from collectkit.store.results import load_results

    with tempfile.TemporaryDirectory(prefix="collectkit-bench-sat-") as scratch:
        settings = Settings(model=model, api_base=base_url, max_tokens=MAX_TOKENS,
                            output_dir=scratch, **changes)
        output = Path(scratch) / "results.jsonl"
        llm = None
        if n_per_request is not None:
            llm = create_llm(settings)
            llm.supports_n = n_per_request
        started = time.perf_counter()
        try:
            stats = asyncio.run(asyncio.wait_for(
                collect(settings, problems, output_path=output, progress=True, llm=llm,
                        live=LiveGrader()), limit_s))
        except asyncio.TimeoutError:
            raise TooSlow(f"kit run {changes or 'with defaults'} took over {limit_s:.0f} s") \
                from None
        wall = time.perf_counter() - started
        assert stats.done == len(problems), stats.line()
        rows = load_results(output)
    texts = [r["full_response"] for row in rows for r in row["responses"]]
    return {"wall_s": wall, "texts": texts, "settings": settings,
            "usage_tokens": stats.completion_tokens, "n_per_request": stats.n_per_request}


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, help="problems (default 8, quick 6)")
    parser.add_argument("--sweep", help="bare-loop concurrencies (default 1,2,4,8,16; "
                        "quick 2,4,8,16)")
    parser.add_argument("--n-parallel", type=int, help="engine slots (default: serve_llm's)")
    parser.add_argument("--other-n-parallel", default=None,
                        help="also try these slot counts (default 4,16; quick: none)")
    parser.add_argument("--kit-max-concurrent", default=None,
                        help="also run the kit at these max_concurrent values (default 1,2; "
                        "quick: none)")
    parser.add_argument("--kit-forced", default=None,
                        help="also run the kit forced to these request modes, comma-separated "
                        "from 'n=k' (one request of n=k) and 'k×n=1' (default: k×n=1; quick: "
                        "none)")
    parser.add_argument("--limit-s", type=float, default=420.0,
                        help="give up on a run after this long (a busy machine)")
    parser.add_argument("--wait-quiet", type=float, default=0.0,
                        help="first wait up to this many seconds for other engines to end")
    args = parser.parse_args()

    from collectkit.collect.settings import Settings
    from collectkit.tasks.load import load_problems
    from collectkit.cli.serve import build_parser as serve_parser

    defaults = Settings()
    default_slots = serve_parser().get_default("n_parallel")
    slots = args.n_parallel or default_slots
    count = args.problems or (6 if args.quick else 8)
    sweep = [int(c) for c in (args.sweep or ("2,4,8,16" if args.quick else "1,2,4,8,16"))
             .split(",")]
    other_slots = [int(s) for s in (args.other_n_parallel if args.other_n_parallel is not None
                                    else ("" if args.quick else "4,16")).split(",") if s]
    kit_mcs = [int(s) for s in (args.kit_max_concurrent if args.kit_max_concurrent is not None
                                else ("" if args.quick else "1,2")).split(",") if s]
    if args.kit_forced is None:
        args.kit_forced = "" if args.quick else "k×n=1"
    args.kit_forced = [m.strip() for m in args.kit_forced.split(",") if m.strip()]
    if set(args.kit_forced) - {"n=k", "k×n=1"}:
        parser.error("--kit-forced takes n=k and/or k×n=1")
    problems = load_problems("both", count)
    k = defaults.k_responses
    print(f"engine saturation: {count} problems × k={k}, max_tokens {MAX_TOKENS}; kit defaults "
          f"batch_size={defaults.batch_size}, max_concurrent={defaults.max_concurrent}; engine "
          f"n_parallel={slots} (serve_llm default {default_slots}), max_model_len "
          f"{defaults.max_model_len}; {load_average()}", flush=True)

    wait_for_quiet(args.wait_quiet)
    monitor = ContentionMonitor().__enter__()
    figures: dict = {"problems": count, "k": k, "max_tokens": MAX_TOKENS, "n_parallel": slots,
                     "kit_batch_size": defaults.batch_size,
                     "kit_max_concurrent": defaults.max_concurrent}
    sweep_rates: dict[int, float] = {}
    kit_rates: dict[str, float] = {}
    slot_rates: dict[int, dict[str, float]] = {}
    try:
        with engine(n_parallel=slots, max_model_len=defaults.max_model_len) as handle:
            count_tokens = tokenize_counter(handle.base_url)
            warm_up(handle, problems, slots, args.limit_s)
            # Kit with defaults first and last, the sweep in between: drift shows as a gap.
            kit_walls, kit_tokens = [], []
            for position in ("first", "sweep", "last"):
                if position == "sweep":
                    for concurrency in sweep:
                        wall, texts = asyncio.run(bare_loop(handle.base_url, handle.model_id,
                                                            problems, k, concurrency,
                                                            args.limit_s))
                        tokens = sum(count_tokens(t) for t in texts)
                        sweep_rates[concurrency] = tokens / wall
                        print(f"  bare loop, {concurrency:2d} requests in flight: {tokens:,} "
                              f"tokens in {wall:.1f} s → {tokens / wall:.1f} tokens/s",
                              flush=True)
                    for forced in args.kit_forced:
                        run = kit_run(handle.base_url, handle.model_id, problems, args.limit_s,
                                      n_per_request=forced == "n=k")
                        tokens = sum(count_tokens(t) for t in run["texts"])
                        kit_rates[f"forced {forced}"] = tokens / run["wall_s"]
                        print(f"  kit forced to {forced} per problem (usage says "
                              f"{run['usage_tokens']:,}): {tokens:,} tokens in "
                              f"{run['wall_s']:.1f} s → {tokens / run['wall_s']:.1f} tokens/s",
                              flush=True)
                    for mc in kit_mcs:
                        run = kit_run(handle.base_url, handle.model_id, problems, args.limit_s,
                                      max_concurrent=mc)
                        tokens = sum(count_tokens(t) for t in run["texts"])
                        kit_rates[f"max_concurrent={mc}"] = tokens / run["wall_s"]
                        print(f"  kit, max_concurrent={mc} (×n={k}): {tokens:,} tokens in "
                              f"{run['wall_s']:.1f} s → {tokens / run['wall_s']:.1f} tokens/s",
                              flush=True)
                    continue
                run = kit_run(handle.base_url, handle.model_id, problems, args.limit_s)
                tokens = sum(count_tokens(t) for t in run["texts"])
                kit_n_per_request = run["n_per_request"]
                kit_walls.append(run["wall_s"])
                kit_tokens.append(tokens)
                print(f"  kit defaults ({position}): {tokens:,} tokens (usage says "
                      f"{run['usage_tokens']:,}; one request of n={k} per problem: "
                      f"{run['n_per_request']}) in "
                      f"{run['wall_s']:.1f} s → {tokens / run['wall_s']:.1f} tokens/s",
                      flush=True)
            kit_rate = sum(kit_tokens) / sum(kit_walls)
        for other in other_slots:
            with engine(n_parallel=other, max_model_len=defaults.max_model_len) as handle:
                count_tokens = tokenize_counter(handle.base_url)
                warm_up(handle, problems, other, args.limit_s)
                wall, texts = asyncio.run(bare_loop(handle.base_url, handle.model_id, problems,
                                                    k, other, args.limit_s))
                bare = sum(count_tokens(t) for t in texts) / wall
                run = kit_run(handle.base_url, handle.model_id, problems, args.limit_s)
                kit = sum(count_tokens(t) for t in run["texts"]) / run["wall_s"]
                slot_rates[other] = {"bare_at_n_parallel": bare, "kit_defaults": kit}
                print(f"  engine n_parallel={other}: bare loop at {other} in flight "
                      f"{bare:.1f} tokens/s, kit defaults {kit:.1f} tokens/s", flush=True)
    except TooSlow as exc:
        print(f"RESULT engine saturation: not measured — {exc}; {monitor.verdict()}")
        write_summary(args.summary_json, "engine saturation", {"error": str(exc)}, [
            {"what": "engine: kit tokens/s ÷ best bare tokens/s", "value": None,
             "goal": f"≥ {GOAL}", "met": None}])
        sys.exit(2)

    monitor.__exit__(None, None, None)
    print(f"\n  machine during the run: {monitor.verdict()}")
    figures["machine"] = monitor.verdict()
    best_c = max(sweep_rates, key=sweep_rates.get)
    best = sweep_rates[best_c]
    ratio = kit_rate / best
    reached = [c for c in sorted(sweep_rates) if sweep_rates[c] <= kit_rate * 1.0]
    matched = max(reached) if reached else None
    print(f"\n  best bare loop: {best:.1f} tokens/s at {best_c} requests in flight; kit defaults "
          f"{kit_rate:.1f} tokens/s (runs: "
          f"{', '.join(f'{t / w:.1f}' for t, w in zip(kit_tokens, kit_walls))})")
    per_request = k if kit_n_per_request else 1
    print(f"  the kit's defaults keep up to {defaults.max_concurrent} requests × "
          f"n={per_request} = {defaults.max_concurrent * per_request} sequences in flight "
          f"against {slots} engine slots; its rate is at least the bare loop's at "
          f"{matched if matched is not None else 'no tried number of'} requests in flight")
    figures.update({
        "sweep_tokens_per_s": {str(c): round(r, 2) for c, r in sweep_rates.items()},
        "best_concurrency": best_c, "best_tokens_per_s": round(best, 2),
        "kit_tokens_per_s": round(kit_rate, 2), "kit_n_per_request": kit_n_per_request,
        "kit_runs_tokens_per_s": [round(t / w, 2) for t, w in zip(kit_tokens, kit_walls)],
        "kit_other_max_concurrent": {key: round(r, 2) for key, r in kit_rates.items()},
        "other_n_parallel": {str(s): {key: round(v, 2) for key, v in r.items()}
                             for s, r in slot_rates.items()},
        "ratio": round(ratio, 3), "load_after": load_average()})
    write_summary(args.summary_json, "engine saturation", figures, [
        {"what": "engine: kit defaults tokens/s ÷ best bare-loop tokens/s",
         "value": round(ratio, 3), "goal": f"≥ {GOAL}", "met": ratio >= GOAL}])
    print(json.dumps(figures), file=sys.stderr)
    print(f"RESULT engine saturation: kit defaults {kit_rate:.1f} tokens/s ÷ best bare loop "
          f"{best:.1f} tokens/s (at {best_c} in flight, n_parallel={slots}) = {ratio:.3f} "
          f"(goal ≥ {GOAL}){' — CONTENDED' if monitor.contended else ''}")


if __name__ == "__main__":
    main()
