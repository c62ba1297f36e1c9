"""Run every benchmark in sequence (`make bench`) and print a final table of figures against goals.

The stub-server benchmarks (client overhead, checkpoint, live grading) run in full; the embedded-engine ones
(k vs n, engine saturation) with --quick, which keeps the whole run near 20 minutes on 2 cores.
`--quick` makes every benchmark quick; `--full` runs the engine ones in full too.
`benchmarks/bench_grading.py` runs too when it exists.

Engine timings are only as good as the machine is quiet: the load average and any other running
llama.cpp server are printed first, since two engines on 2 cores slow each other many times over.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import other_engines  # noqa: E402  (also restores Ctrl-C when started in background)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# (name, script, runs --quick under a plain `make bench`)
BENCHMARKS = [
    ("client overhead", "bench_client_overhead.py", False),
    ("checkpoint", "bench_checkpoint.py", False),
    ("live grading", "bench_live_grading.py", False),
    ("endpoints", "bench_endpoints.py", True),
    ("grading", "bench_grading.py", False),
    ("grading agreement", "bench_grading_agreement.py", False),
    ("explore", "bench_explore.py", False),
    ("export", "bench_export.py", False),
    ("large run", "bench_large_run.py", False),  # small default sizes: ~1 min
    ("k vs n", "bench_k_vs_n.py", True),
    ("engine saturation", "bench_engine_saturation.py", True),
]
LIMIT_S = 20 * 60


def supports(script: Path, flag: str) -> bool:
    """Whether a script (e.g. one written by someone else) accepts a flag, from its --help."""
    try:
        done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                              text=True, timeout=60, cwd=REPO)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and flag in done.stdout


def run(name: str, script: Path, quick: bool, summary: Path, wait_quiet: float) -> dict:
    command = [sys.executable, str(script)]
    if quick and supports(script, "--quick"):
        command.append("--quick")
    if wait_quiet and supports(script, "--wait-quiet"):
        command += ["--wait-quiet", str(wait_quiet)]
    if supports(script, "--summary-json"):
        command += ["--summary-json", str(summary)]
    print(f"\n{'=' * 100}\n{name}: {' '.join(command[1:])}  "
          f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})\n{'=' * 100}",
          flush=True)
    started = time.monotonic()
    last_line = ""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.strip():
                last_line = line.strip()
        code = process.wait(timeout=LIMIT_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        # SIGINT, then SIGTERM: either runs the script's finally blocks, which stop its servers.
        for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            process.send_signal(stop)
            try:
                process.wait(30)
                break
            except subprocess.TimeoutExpired:
                continue
        if isinstance(exc, KeyboardInterrupt):
            raise
        code = f"stopped after {LIMIT_S // 60} min"
    elapsed = time.monotonic() - started
    result = {"name": name, "code": code, "elapsed_s": elapsed, "last_line": last_line,
              "goals": []}
    if summary.exists():
        data = json.loads(summary.read_text())
        result["goals"] = data.get("goals", [])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="every benchmark with --quick")
    mode.add_argument("--full", action="store_true", help="no benchmark with --quick")
    parser.add_argument("--only", help="comma-separated script names or benchmark names")
    parser.add_argument("--wait-quiet", type=float, default=120.0,
                        help="engine benchmarks first wait up to this long for other inference "
                        "servers to end (default 120 s)")
    parser.add_argument("--skip-engine", action="store_true",
                        help="leave out the embedded-engine benchmarks")
    args = parser.parse_args()

    print(f"collectkit benchmarks; {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    engines = other_engines()
    if engines:
        print("warning: other inference servers are running; engine timings will be low:\n  "
              + "\n  ".join(f"PID {pid}: {command}" for pid, command in engines))
    selected = []
    for name, script, engine_bound in BENCHMARKS:
        path = HERE / script
        if not path.exists():
            print(f"(skipping {name}: {script} not present)")
            continue
        if args.only and not any(o.strip() in (name, script, script[:-3])
                                 for o in args.only.split(",")):
            continue
        if args.skip_engine and engine_bound:
            continue
        selected.append((name, path, args.quick or (engine_bound and not args.full)))

    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="collectkit-bench-") as scratch:
        try:
            for i, (name, path, quick) in enumerate(selected):
                results.append(run(name, path, quick, Path(scratch) / f"{i}.json",
                                   args.wait_quiet))
        except KeyboardInterrupt:
            print("\ninterrupted; the benchmark that was running has been stopped")

    print(f"\n{'=' * 100}\nsummary ({(time.monotonic() - started) / 60:.1f} min in all; load "
          f"average now {' '.join(f'{x:.2f}' for x in os.getloadavg())})\n{'=' * 100}")
    rows = []
    for result in results:
        for goal in result["goals"]:
            met = goal.get("met")
            rows.append((goal["what"], "n/a" if goal.get("value") is None else str(goal["value"]),
                         str(goal.get("goal", "")),
                         "yes" if met is True else "NO" if met is False else "-"))
        if not result["goals"]:
            rows.append((f"{result['name']}: see its last line below", "", "", "-"))
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'figure':{width}s}  {'value':>10s}  {'goal':<42s}  met")
    for what, value, goal, met in rows:
        print(f"{what:{width}s}  {value:>10s}  {goal:<42s}  {met}")
    print()
    for result in results:
        status = "ok" if result["code"] == 0 else f"exit {result['code']}"
        print(f"[{result['name']}, {result['elapsed_s']:.0f} s, {status}] {result['last_line']}")
    return 0 if all(r["code"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
