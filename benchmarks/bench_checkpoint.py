"""Checkpoint cost: what writing every finished problem costs, and what resuming costs.

1. Write cost of whole runs of 1,000 and 10,000 problems × k=8 against the stub server (kit
   defaults otherwise: batch_size, max_concurrent; progress bar on, drawn to a file). Method:
   the writer is the only place the run writes (one `AppendWriter.append` per problem —
   dumps_line, write, flush — plus the manifest, `write_json_atomic`, at start and end); it runs
   synchronously on the event loop, so the time spent inside it is exactly the time checkpointing
   takes away from the run. Each run's child process wraps those two functions with perf_counter
   (wall) and thread_time (CPU) accumulators — the code inside is untouched. "Total run minus a
   no-write run" was rejected: it subtracts two noisy ~10–60 s figures on a shared 2-core machine
   to find a difference of a few hundred ms. Ratio 10k/1k of the writer time: linear ≈ 10 (×
   the bytes ratio, since rows differ in size); goal ≤ 12. The 10,000-problem run's peak RSS
   (the child's own ru_maxrss): goal ≤ 500 MB.
2. Resume cost: a synthetic 100,000-problem results file (real problem rows, k=8 responses of a
   few hundred characters, ~2% of problems with a failed attempt in the errors file, a torn last
   line) read by what a resumed run calls: `store.recover_torn_tail` (both files) +
   `store.scan_results` (ids, and every line checked whole and of this run's settings) +
   `store.scan_errors`. Goal ≤ 2 s. `results.load_results` (every row
   parsed) for information. Each timing in a fresh child process; the file is in the page cache
   (just written), i.e. a warm-cache figure.
"""
from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (StubServer, base_parser, cpu_seconds, load_average, max_rss_mb,  # noqa: E402
                    median, run_child, spread, write_summary)

THIS = Path(__file__).resolve()
RESUME_GOAL_S = 2.0
RATIO_GOAL = 12.0
RSS_GOAL_MB = 500.0


# ------------------------------------------------------------------ child: one collection run

def child_run(args) -> None:
    import asyncio

    from collectkit.store import append as store
    from collectkit.collect.settings import Settings
    from collectkit.analyze.live import LiveGrader
    from collectkit.collect.run import collect
    from collectkit.tasks.load import load_problems

    timers = {"append": [0, 0.0, 0.0], "manifest": [0, 0.0, 0.0]}  # calls, wall, cpu

    def timed(name, function):
        def wrapper(*a, **kw):
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            try:
                return function(*a, **kw)
            finally:
                slot = timers[name]
                slot[0] += 1
                slot[1] += time.perf_counter() - wall0
                slot[2] += time.thread_time() - cpu0
        return wrapper

    store.AppendWriter.append = timed("append", store.AppendWriter.append)
    store.write_json_atomic = timed("manifest", store.write_json_atomic)
    from collectkit.collect import manifest as run_manifest  # imported the name: patch it there too
    run_manifest.store.write_json_atomic = store.write_json_atomic

    problems = load_problems("both", args.problems)
    assert len(problems) == args.problems
    settings = Settings(model=args.model, api_base=args.base_url, api_key="EMPTY",
                        k_responses=args.k, max_tokens=args.max_tokens, output_dir=args.out)
    output = Path(args.out) / "results.jsonl"
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    stats = asyncio.run(collect(settings, problems, output_path=output, progress=True,
                                live=LiveGrader()))
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    assert stats.done == args.problems and stats.failed == 0, stats.line()
    print(json.dumps({
        "problems": args.problems, "rows": timers["append"][0], "bytes": output.stat().st_size,
        "writer_wall_s": timers["append"][1] + timers["manifest"][1],
        "writer_cpu_s": timers["append"][2] + timers["manifest"][2],
        "append_wall_s": timers["append"][1], "manifest_wall_s": timers["manifest"][1],
        "manifest_writes": timers["manifest"][0],
        "run_wall_s": wall, "run_cpu_s": cpu, "max_rss_mb": max_rss_mb()}))


# ------------------------------------------------------------------ child: resume / load

def child_resume(args) -> None:
    from collectkit.store import append as store
    from collectkit.collect.attempts import row_tail
    from collectkit.store.results import load_results

    tail = row_tail(bench_sampling(args.k))  # what a run knows before it resumes (not timed)
    results = Path(args.file)
    errors = store.errors_path(results)
    with open(results, "ab") as handle:  # a killed writer's torn last line, cut by the resume
        handle.write(b'{"unique_id": "torn/1", "dataset": "math500", "problem": "What is')
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    if args.child == "resume":
        cut = store.recover_torn_tail(results) + store.recover_torn_tail(errors)
        scan = store.scan_results(results, tail)
        failures, bad = store.scan_errors(errors)
        assert not scan.corrupt and not bad and not scan.other, (scan.corrupt[:3], bad[:3])
        done = scan.ids
        figures = {"cut_bytes": cut, "ids": len(done), "failures": len(failures)}
    else:
        store.recover_torn_tail(results)
        rows = load_results(results)
        figures = {"rows": len(rows)}
    print(json.dumps({"seconds": time.perf_counter() - wall0, "cpu_s": cpu_seconds() - cpu0,
                      "max_rss_mb": max_rss_mb(), **figures}))


def bench_sampling(k: int) -> dict:
    """The sampling settings every synthesized row carries, as a run of the kit writes them."""
    from collectkit.tasks import prompts
    from collectkit.collect.settings import Settings
    from collectkit.collect.client import sampling_params
    from collectkit.collect.manifest import run_signature

    settings = Settings(k_responses=k)
    return run_signature(settings, sampling_params(settings), prompts)


def synthesize(path: Path, rows: int, k: int, seed: int = 0) -> dict:
    """A results file of `rows` real problems (ids made unique past the 12,532 real ones), each
    with k responses of a few hundred characters, and an errors file for ~2% of them."""
    from collectkit.store import jsonl
    from collectkit.store import append as store
    from collectkit.tasks.load import load_problems

    rng = random.Random(seed)
    problems = load_problems("both")
    sampling = bench_sampling(k)
    words = ("the so we get answer is therefore let x be equal to step first then sum of "
             "\\frac{1}{2} value factor prime (A) (B) (C) (D) number which gives").split()
    texts = []
    for _ in range(2000):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(40, 90)))
        texts.append(body + rng.choice([" The answer is (B).", " So \\boxed{12}.", ""]))
    reasons = ["stop"] * 4 + ["length"]
    errors = store.errors_path(path)
    written = 0
    with open(path, "w", encoding="utf-8") as out, open(errors, "w", encoding="utf-8") as err:
        for i in range(rows):
            problem = problems[i % len(problems)]
            record = problem.record()
            if i >= len(problems):
                record["unique_id"] = f"{record['unique_id']}#{i // len(problems)}"
            responses = [{"full_response": rng.choice(texts), "finish_reason": rng.choice(reasons),
                          "reasoning_content": None,
                          "usage": {"prompt_tokens": 180, "completion_tokens": 1400}
                          if j == 0 else None} for j in range(k)]
            failed = rng.random() < 0.02
            if failed:
                err.write(jsonl.dumps_line({
                    "unique_id": record["unique_id"], "attempt": 1, "counted": True,
                    "error": "500 InternalServerError: Stub server injected HTTP 500.",
                    "time": "2025-01-01T00:00:00+0000",
                    "partial_responses": responses[:rng.randint(0, k - 1)]}))
            row = {**record, "responses": responses, "attempts": 2 if failed else 1,
                   "model": "smollm2-135m-instruct", "sampling": sampling, "status": "ok"}
            line = jsonl.dumps_line(row)  # as the kit's writer writes it (U+0085 escaped)
            out.write(line)
            written += len(line.encode())
    return {"rows": rows, "bytes": written, "error_rows": sum(1 for _ in open(errors))}


# ------------------------------------------------------------------ parent

def main() -> None:
    import argparse

    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--completion-tokens", type=int, default=64,
                        help="stub words per response (~300 characters)")
    parser.add_argument("--resume-rows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, help="runs per size (default 3 for 1k / 2 for 10k; "
                        "quick 3 / 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="stub-model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--problems", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "run":
        return child_run(args)
    if args.child in ("resume", "load"):
        return child_resume(args)

    small, large = (int(s) for s in args.sizes.split(","))
    reps = {small: args.reps or 3, large: args.reps or (1 if args.quick else 2)}
    print(f"checkpoint cost: k={args.k}, runs of {small:,} and {large:,} problems; "
          f"{load_average()}", flush=True)
    runs: dict[int, list[dict]] = {small: [], large: []}
    with StubServer(completion_tokens=args.completion_tokens) as stub, \
            tempfile.TemporaryDirectory(prefix="collectkit-bench-ckpt-") as scratch:
        order = [small, large] * max(reps.values())
        for i, size in enumerate(order):
            if len(runs[size]) >= reps[size]:
                continue
            out = Path(scratch) / f"run-{i}"
            out.mkdir()
            result = run_child([str(THIS), "--child", "run", "--base-url", stub.base_url,
                                "--model", stub.model, "--out", str(out), "--problems", str(size),
                                "--k", str(args.k), "--max-tokens", str(args.max_tokens)])
            runs[size].append(result)
            print(f"  {size:>6,} problems: writer {result['writer_wall_s']:.3f} s wall "
                  f"({result['writer_cpu_s']:.3f} s CPU) for {result['bytes'] / 1e6:.1f} MB in "
                  f"{result['rows']:,} rows; run {result['run_wall_s']:.1f} s wall, "
                  f"{result['run_cpu_s']:.1f} s CPU; max RSS {result['max_rss_mb']:.0f} MB",
                  flush=True)

    def med(size: int, key: str) -> float:
        return median([r[key] for r in runs[size]])

    writer_ratio = med(large, "writer_wall_s") / med(small, "writer_wall_s")
    writer_cpu_ratio = med(large, "writer_cpu_s") / med(small, "writer_cpu_s")
    bytes_ratio = med(large, "bytes") / med(small, "bytes")
    run_ratio = med(large, "run_wall_s") / med(small, "run_wall_s")
    rss_large = max(r["max_rss_mb"] for r in runs[large])
    print("\nmedians [min–max]:")
    for size in (small, large):
        per_row = [1e6 * r["append_wall_s"] / r["rows"] for r in runs[size]]
        per_mb = [r["writer_wall_s"] / (r["bytes"] / 1e6) * 1e3 for r in runs[size]]
        share = [100 * r["writer_wall_s"] / r["run_wall_s"] for r in runs[size]]
        print(f"  {size:>6,} problems: writer {spread([r['writer_wall_s'] for r in runs[size]])} s"
              f"; {spread(per_row)} µs per row; {spread(per_mb)} ms per MB; "
              f"{spread(share, 2)} % of the run's wall time")
    print(f"  ratios {large:,}/{small:,}: writer wall {writer_ratio:.2f}, writer CPU "
          f"{writer_cpu_ratio:.2f}, bytes {bytes_ratio:.2f}, whole-run wall {run_ratio:.2f}")
    print(f"  peak RSS of the {large:,}-problem run: {rss_large:.0f} MB "
          f"(goal ≤ {RSS_GOAL_MB:.0f})", flush=True)

    # ---- resume
    resume_reps = 3
    with tempfile.TemporaryDirectory(prefix="collectkit-bench-resume-") as scratch:
        path = Path(scratch) / "big.jsonl"
        started = time.perf_counter()
        made = synthesize(path, args.resume_rows, args.k)
        print(f"\nresume: synthesized {made['rows']:,} rows, {made['bytes'] / 1e6:.0f} MB "
              f"(+{made['error_rows']:,} error rows) in {time.perf_counter() - started:.1f} s",
              flush=True)
        resumes = [run_child([str(THIS), "--child", "resume", "--file", str(path),
                              "--k", str(args.k)])
                   for _ in range(resume_reps)]
        assert all(r["ids"] == args.resume_rows and r["cut_bytes"] > 0 for r in resumes), resumes
        loads = [run_child([str(THIS), "--child", "load", "--file", str(path)])
                 for _ in range(1 if args.quick else 2)]
    resume_s = median([r["seconds"] for r in resumes])
    load_s = median([r["seconds"] for r in loads])
    print(f"  resume scan (recover_torn_tail ×2 + scan_results + scan_errors): "
          f"{spread([r['seconds'] for r in resumes])} s, max RSS "
          f"{max(r['max_rss_mb'] for r in resumes):.0f} MB")
    print(f"  results.load_results (every row parsed): {spread([r['seconds'] for r in loads])} s, "
          f"max RSS {max(r['max_rss_mb'] for r in loads):.0f} MB")

    figures = {
        "k": args.k, "sizes": [small, large],
        **{f"writer_s_{size}": round(med(size, "writer_wall_s"), 4) for size in (small, large)},
        **{f"bytes_{size}": int(med(size, "bytes")) for size in (small, large)},
        **{f"run_wall_s_{size}": round(med(size, "run_wall_s"), 2) for size in (small, large)},
        "writer_ratio": round(writer_ratio, 3), "writer_cpu_ratio": round(writer_cpu_ratio, 3),
        "bytes_ratio": round(bytes_ratio, 3), "run_wall_ratio": round(run_ratio, 3),
        "max_rss_mb_large": round(rss_large, 1), "resume_rows": args.resume_rows,
        "resume_file_mb": round(made["bytes"] / 1e6, 1), "resume_s": round(resume_s, 3),
        "load_results_s": round(load_s, 3),
    }
    write_summary(args.summary_json, "checkpoint", figures, [
        {"what": f"checkpoint: writer time {large:,}/{small:,} problems",
         "value": round(writer_ratio, 2), "goal": f"≤ {RATIO_GOAL:g}",
         "met": writer_ratio <= RATIO_GOAL},
        {"what": f"checkpoint: resume scan of {args.resume_rows:,} rows (s)",
         "value": round(resume_s, 3), "goal": f"≤ {RESUME_GOAL_S:g}",
         "met": resume_s <= RESUME_GOAL_S},
        {"what": f"checkpoint: peak RSS of the {large:,}-problem run (MB)",
         "value": round(rss_large), "goal": f"≤ {RSS_GOAL_MB:g}",
         "met": rss_large <= RSS_GOAL_MB},
        {"what": f"checkpoint: results.load_results of {args.resume_rows:,} rows (s)",
         "value": round(load_s, 2), "goal": "info", "met": None},
    ])
    print(f"RESULT checkpoint: writer time {large:,}/{small:,} = {writer_ratio:.2f} (goal ≤ "
          f"{RATIO_GOAL:g}; bytes ratio {bytes_ratio:.2f}), resume scan of "
          f"{args.resume_rows:,} rows {resume_s:.2f} s (goal ≤ {RESUME_GOAL_S:g}), peak RSS "
          f"{rss_large:.0f} MB (goal ≤ {RSS_GOAL_MB:g}), load_results {load_s:.1f} s")


if __name__ == "__main__":
    main()
