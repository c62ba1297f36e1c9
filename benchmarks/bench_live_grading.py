"""Live grading's cost to collection: throughput with live grading ÷ without, on the stub server.

Runs of `collect()` (kit defaults: batch_size 64, max_concurrent 16) against the stub server,
each in a fresh child process, alternated A B B A … (A: live grading on, B: --no_live_grading).
Collection throughput = problems ÷ the time from the run's start to its last row written (the
collector's own work; a clock wrapped around AppendWriter.append, the one place rows are
written). The end-to-end wall (to the final live figures, which wait for the last rows' grades)
is printed beside it. The default `--delay 0.05` (each answer after 50 ms, 64 in flight: ~1,000
problems/s at most) stands for a fast server; `--delay 0` measures the stub at full speed, where
the worker's CPU competes with the collector and the stub on the same cores. Goal: ≥ 0.95.
The live runs must have graded every problem (asserted).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (StubServer, base_parser, cpu_seconds, load_average, median,  # noqa: E402
                    run_child, spread, write_summary)

THIS = Path(__file__).resolve()
GOAL = 0.95


def child_run(args) -> None:
    import asyncio

    from collectkit.analyze.live import LiveGrader
    from collectkit.collect.run import collect
    from collectkit.collect.settings import Settings
    from collectkit.store import append as store
    from collectkit.tasks.load import load_problems

    last = [0.0]
    append = store.AppendWriter.append

    def timed(self, row):
        append(self, row)
        last[0] = time.perf_counter()

    store.AppendWriter.append = timed
    problems = load_problems("both", args.problems)
    settings = Settings(model=args.model, api_base=args.base_url, api_key="EMPTY",
                        k_responses=args.k, max_tokens=args.max_tokens, output_dir=args.out,
                        live_grading=args.live == "on")
    output = Path(args.out) / f"results-{args.live}.jsonl"
    started, cpu0 = time.perf_counter(), cpu_seconds()
    stats = asyncio.run(collect(settings, problems, output_path=output, progress=False,
                                live=LiveGrader()))
    wall = time.perf_counter() - started
    assert stats.done == args.problems and stats.failed == 0, stats.line()
    graded = sum(b["problems"] for b in (stats.live or {"benchmarks": {}})["benchmarks"].values())
    if args.live == "on":
        assert graded == args.problems, stats.live
    print(json.dumps({"collect_s": last[0] - started, "wall_s": wall, "graded": graded,
                      "cpu_s": cpu_seconds() - cpu0}))


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=2000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.05, help="stub seconds per answer")
    parser.add_argument("--reps", type=int, help="runs per mode (default 4; quick 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--live", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="stub-model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_run(args)

    reps = args.reps or (2 if args.quick else 4)
    print(f"live grading: {args.problems:,} problems (MATH-500 + MMLU-Pro) × k={args.k}, stub "
          f"delay {args.delay} s, {reps} runs per mode alternated; {load_average()}")
    times: dict[str, list[float]] = {"on": [], "off": []}
    walls: dict[str, list[float]] = {"on": [], "off": []}
    order = [mode for i in range(reps) for mode in (("on", "off") if i % 2 == 0 else
                                                   ("off", "on"))]
    with StubServer(completion_tokens=args.max_tokens, delay=args.delay) as stub, \
            tempfile.TemporaryDirectory(prefix="collectkit-bench-live-") as scratch:
        for index, mode in enumerate(order):
            out = Path(scratch) / str(index)
            out.mkdir()
            figures = run_child([str(THIS), "--child", "run", "--live", mode, "--base-url",
                                 stub.base_url, "--out", str(out), "--problems",
                                 str(args.problems), "--k", str(args.k), "--max-tokens",
                                 str(args.max_tokens)])
            times[mode].append(figures["collect_s"])
            walls[mode].append(figures["wall_s"])
            print(f"  run {index + 1:2d} live {mode:3s}: collected in {figures['collect_s']:.2f} s "
                  f"({args.problems / figures['collect_s']:.0f} problems/s), wall "
                  f"{figures['wall_s']:.2f} s, collector CPU {figures['cpu_s']:.2f} s, graded "
                  f"{figures['graded']}", flush=True)
    throughput = {mode: [args.problems / t for t in times[mode]] for mode in times}
    ratio = median(throughput["on"]) / median(throughput["off"])
    print(f"problems/s with live grading {spread(throughput['on'])}, without "
          f"{spread(throughput['off'])}; end-to-end wall with {spread(walls['on'])} s, without "
          f"{spread(walls['off'])} s; {load_average()}")
    write_summary(args.summary_json, "live grading", {"throughput": throughput, "walls": walls},
                  [{"what": "live grading: throughput with ÷ without", "value": round(ratio, 3),
                    "goal": f"≥ {GOAL}", "met": ratio >= GOAL}])
    print(f"collection throughput with live grading ÷ without: {ratio:.3f} (goal ≥ {GOAL})")


if __name__ == "__main__":
    main()
