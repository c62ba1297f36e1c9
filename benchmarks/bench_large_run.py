"""A reasoning-size run at two sizes: time and peak memory of every step, and how they grow.

    .venv/bin/python benchmarks/bench_large_run.py [--problems 100] [--k 4] [--response-kb 4]
        [--scale 4] [--steps collect,resume,shards,merge,extract,explore,export] [--workdir DIR]

Size A is --problems × --k responses of --response-kb each (the stub server answers that many
bytes: `--completion-tokens` = KB × 256 words of 4 bytes); size B the same with responses
--scale times longer. For each size a fresh stub server (tests/stub_server.py, a real socket)
serves `collectkit run`, and every step runs as its own process, `python -m collectkit …`, whose
wall time and peak resident memory (ru_maxrss from os.wait4: that process or the largest of the
children it waited for, such as extract's grading workers) are printed:
  collect   `collectkit run` of the whole run;        resume   the same command again (no work)
  shards    `collectkit run --shard I/4`, I = 0…3 (wall summed, peak the largest)
  merge     `collectkit merge` of those 4 files;      extract  `collectkit extract -i X.jsonl`
  explore   `collectkit explore X.processed.jsonl --html` export  `collectkit export … --format all`
Then the ratios B ÷ A of time and memory beside the ratio of the bytes: memory that stays flat
has a ratio near 1, time that grows linearly a ratio near the bytes' (issue 26's goal: memory
within 1.3× between a 124 MB and a 1 GB run). Files are deleted as soon as no later step needs
them; the disk holds at most about 3 × the results file (the export's shapes beside the
processed file). The defaults are small so `make bench` stays quick; issue 26's sizes:
`--problems 500 --k 16 --response-kb 16 --scale 4` (124 MB and 496 MB results files).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, StubServer, base_parser, load_average, write_summary  # noqa: E402

STEPS = ("collect", "resume", "shards", "merge", "extract", "explore", "export")
FLAT = ("extract", "explore", "export")  # issue 26: peak memory flat within 1.3×
FLAT_GOAL = 1.3
SHARDS = 4
STEM = "stub-model_MATH_500"


def measure(args: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """(wall s, peak RSS MB) of `python -m collectkit ARGS`; a failure raises with its stderr."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "COLLECTKIT_STATE_DIR": str(cwd / "state")}
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "collectkit", *args], cwd=cwd,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # the rusage of this child alone
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"collectkit {' '.join(args[:3])} … exited {process.returncode}: "
                           f"{log.read_text(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def mb(path: Path) -> float:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def one_size(label: str, problems: int, k: int, kb: float, steps: list[str],
             folder: Path) -> dict:
    """Every step at one size: {step: (wall s, peak MB)}, and the files' sizes in MB."""
    folder.mkdir(parents=True)
    tokens = max(1, round(kb * 256))
    figures: dict = {"steps": {}, "files": {}}
    print(f"\nsize {label}: {problems} problems × k={k} × {kb:g} KB responses", flush=True)
    with StubServer(completion_tokens=tokens, extra_args=["--tag-prompt"]) as stub:
        run = ["run", "--model", stub.model, "--api-base", stub.base_url, "--dataset", "math500",
               "--num-problems", str(problems), "--k-responses", str(k), "--max-tokens",
               str(tokens), "--quiet", "--max-retries", "0"]

        def step(name: str, args: list[str]) -> None:
            wall, peak = measure(args, folder, folder / f"{name}.log")
            figures["steps"][name] = (wall, peak)
            print(f"  {name:<8s} {wall:8.2f} s  {peak:8.0f} MB", flush=True)

        if "shards" in steps or "merge" in steps:
            walls, peaks = [], []
            for index in range(SHARDS):
                wall, peak = measure([*run, "--output-dir", str(folder / "shards"),
                                      "--shard", f"{index}/{SHARDS}"], folder,
                                     folder / f"shard{index}.log")
                walls.append(wall)
                peaks.append(peak)
            figures["steps"]["shards"] = (sum(walls), max(peaks))
            print(f"  {'shards':<8s} {sum(walls):8.2f} s  {max(peaks):8.0f} MB  "
                  f"({SHARDS} runs, wall summed)", flush=True)
            if "merge" in steps:
                files = sorted((folder / "shards").glob(f"*_shard-*-of-{SHARDS}.jsonl"))
                step("merge", ["merge", *map(str, files), "--output",
                               str(folder / "merged.jsonl")])
                figures["files"]["merged"] = mb(folder / "merged.jsonl")
            shutil.rmtree(folder / "shards")
            (folder / "merged.jsonl").unlink(missing_ok=True)
        results = folder / "whole" / f"{STEM}.jsonl"
        processed = results.with_name(f"{STEM}.processed.jsonl")
        step("collect", [*run, "--output-dir", str(results.parent)])
        figures["files"]["results"] = mb(results)
        if "resume" in steps:
            step("resume", [*run, "--output-dir", str(results.parent)])
    if not {"extract", "explore", "export"} & set(steps):
        return figures
    step("extract", ["extract", "-i", str(results)])
    figures["files"]["processed"] = mb(processed)
    results.unlink()  # the processed file is what explore and export read
    if "explore" in steps:
        step("explore", ["explore", str(processed), "--html", str(folder / "explore.html")])
        figures["files"]["html"] = mb(folder / "explore.html")
    if "export" in steps:
        step("export", ["export", str(processed), "--format", "all", "--out",
                        str(folder / "export")])
        figures["files"]["export"] = mb(folder / "export")
    shutil.rmtree(folder)
    return figures


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=100, help="MATH-500 problems (≤ 500)")
    parser.add_argument("--k", type=int, default=4, help="responses per problem")
    parser.add_argument("--response-kb", type=float, default=4.0, help="KB per response, size A")
    parser.add_argument("--scale", type=float, default=4.0,
                        help="size B's responses are this many times longer (default 4)")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"comma-separated, of {', '.join(STEPS)}")
    parser.add_argument("--workdir", help="folder for the runs' files (default: the system's "
                        "temporary folder); removed afterwards")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.k, args.response_kb = min(args.problems, 40), min(args.k, 4), 2.0
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown or "collect" not in steps and set(steps) & {"resume", "extract", "explore",
                                                          "export"}:
        parser.error(f"--steps: unknown {unknown}" if unknown else
                     "--steps: resume, extract, explore and export need collect")
    print(f"bench_large_run; {load_average()}")
    root = Path(tempfile.mkdtemp(prefix="collectkit-bench-large-", dir=args.workdir))
    try:
        a = one_size("A", args.problems, args.k, args.response_kb, steps, root / "a")
        b = one_size("B", args.problems, args.k, args.response_kb * args.scale, steps, root / "b")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(a, b, args)


def report(a: dict, b: dict, args) -> None:
    size_a = a["files"].get("results") or a["files"].get("merged") or 0
    size_b = b["files"].get("results") or b["files"].get("merged") or 0
    bytes_ratio = size_b / size_a if size_a else float("nan")
    print(f"\nresults file: A {size_a:.1f} MB, B {size_b:.1f} MB (B ÷ A = {bytes_ratio:.2f}); "
          + "; ".join(f"{name} A {a['files'][name]:.1f} / B {b['files'].get(name, 0):.1f} MB"
                      for name in ("processed", "html", "export") if name in a["files"]))
    print(f"\n{'step':<9s}{'A wall s':>10s}{'A peak MB':>11s}{'B wall s':>10s}{'B peak MB':>11s}"
          f"{'time B÷A':>10s}{'mem B÷A':>9s}{'MB peak/MB file B':>19s}")
    ratios = {}
    for name in STEPS:
        if name not in a["steps"]:
            continue
        (wall_a, peak_a), (wall_b, peak_b) = a["steps"][name], b["steps"][name]
        ratios[name] = (wall_b / wall_a, peak_b / peak_a)
        print(f"{name:<9s}{wall_a:10.2f}{peak_a:11.0f}{wall_b:10.2f}{peak_b:11.0f}"
              f"{ratios[name][0]:10.2f}{ratios[name][1]:9.2f}"
              f"{peak_b / size_b if size_b else float('nan'):19.2f}")
    flat = {name: ratios[name][1] for name in FLAT if name in ratios}
    write_summary(args.summary_json, "large run", {"a": a, "b": b, "bytes_ratio": bytes_ratio}, [
        {"what": f"{name}: peak memory B÷A at {bytes_ratio:.1f}× the bytes", "value":
         round(ratio, 2), "goal": f"<= {FLAT_GOAL}", "met": ratio <= FLAT_GOAL}
        for name, ratio in flat.items()])
    print(f"\npeak memory B ÷ A at {bytes_ratio:.2f}× the bytes: "
          + ", ".join(f"{name} {ratio:.2f}×" for name, ratio in flat.items())
          + f" (goal <= {FLAT_GOAL}×, issue 26)")


if __name__ == "__main__":
    main()
