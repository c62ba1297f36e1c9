"""The explorer on a big run: open time and filter time of the notebook widget.

    .venv/bin/python benchmarks/bench_explore.py [--problems 12000] [--k 8] [--chars 1000] [--reps 3]

Writes a synthetic processed run (half MATH-style rows with \\boxed answers and levels, half
MMLU-Pro-style rows with 10 options; seeded right/wrong/unparsed answers, answer groups, some
responses cut off by max_tokens, some problems retried; each response about --chars characters),
then measures, in this process:
- open: `Explorer.open(file)` — read and parse the file, build the per-problem frame, build the
  widgets and draw the first page (median of --reps);
- filter: each filter toggled on (and off again), a benchmark, a category, a search and each sort,
  timed from the change to the redrawn page (median and worst);
- the offline HTML of the first 200 problems (`explore_html.export`), for information.
Goals (issue 19): open < 3 s, every filter < 0.5 s. The last line holds the figures.
"""
from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import base_parser, load_average, write_summary  # noqa: E402

from collectkit.explorer.data import FILTERS, SORTS  # noqa: E402
from collectkit.explorer.html import export  # noqa: E402
from collectkit.explorer.widget import Explorer  # noqa: E402

WORDS = ("we compute the sum of both sides so that the value follows from the equation and "
         "therefore the result is").split()
MATH_CATEGORIES = ["Algebra", "Geometry", "Number Theory", "Precalculus", "Prealgebra",
                   "Intermediate Algebra", "Counting & Probability"]
MCQ_CATEGORIES = ["law", "math", "physics", "biology", "history", "economics", "engineering"]


def synthetic_row(index: int, k: int, chars: int, rng: random.Random) -> dict:
    mcq = index % 2 == 1
    gold = "ABCDEFGHIJ"[rng.randrange(10)] if mcq else str(rng.randrange(1000))
    skill = rng.random()
    responses = []
    for _ in range(k):
        cut = rng.random() < 0.05
        right = not cut and rng.random() < skill
        answer = None if cut or rng.random() < 0.05 else (
            gold if right else ("ABCDEFGHIJ"[rng.randrange(10)] if mcq else str(rng.randrange(50))))
        right = answer == gold
        body = " ".join(rng.choice(WORDS) for _ in range(chars // 6))
        ending = "" if answer is None else (f" The answer is ({answer})." if mcq
                                            else f" So the answer is $\\boxed{{{answer}}}$.")
        responses.append({
            "full_response": body + ending, "finish_reason": "length" if cut else "stop",
            "reasoning_content": None, "usage": {"prompt_tokens": 200,
                                                 "completion_tokens": rng.randrange(50, 2000)},
            "model": "synthetic", "system_fingerprint": None, "extracted_answer": answer,
            "is_correct": right, "answer_group": None if answer is None else (
                0 if right else 1 + (hash(answer) % 7))})
    category = (MCQ_CATEGORIES if mcq else MATH_CATEGORIES)[index % 7]
    return {"unique_id": f"mmlu_pro/{index}" if mcq else f"test/synthetic/{index}.json",
            "dataset": "mmlu_pro" if mcq else "math500",
            "problem": f"Problem {index}: " + " ".join(rng.choice(WORDS) for _ in range(40)),
            "is_mcq": mcq, "choices": [f"option {c}" for c in "ABCDEFGHIJ"] if mcq else None,
            "choice_index_correct": "ABCDEFGHIJ".index(gold) if mcq else None,
            "explanation_correct": None, "answer_correct": gold, "category": category,
            "level": None if mcq else 1 + index % 5, "subject": None if mcq else category,
            "responses": responses, "attempts": 2 if rng.random() < 0.02 else 1,
            "model": "synthetic", "sampling": {"k_responses": k}, "status": "ok"}


def write_run(path: Path, problems: int, k: int, chars: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as out:
        for index in range(problems):
            out.write(json.dumps(synthetic_row(index, k, chars, rng)) + "\n")


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def filter_times(explorer: Explorer) -> dict[str, float]:
    times = {}
    for name in FILTERS:
        if explorer.toggles[name].disabled:
            continue
        times[f"filter {name}"] = timed(lambda: setattr(explorer.toggles[name], "value", True))
        explorer.toggles[name].value = False
    times["benchmark"] = timed(lambda: setattr(explorer.benchmark, "value", "math500"))
    times["category"] = timed(lambda: setattr(explorer.category, "value", "Algebra"))
    explorer.benchmark.value = explorer.category.value = "(all)"
    times["search"] = timed(lambda: setattr(explorer.search, "value", "equation therefore"))
    explorer.search.value = ""
    for sort in SORTS:
        if sort != "file":
            times[f"sort {sort}"] = timed(lambda: setattr(explorer.sort, "value", sort))
    times["show a problem"] = timed(lambda: explorer.show(3))
    return times


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=12_000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--chars", type=int, default=1000, help="characters per response")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.reps = 1
    with tempfile.TemporaryDirectory(prefix="bench-explore-") as scratch:
        path = Path(scratch) / "synthetic.processed.jsonl"
        write_run(path, args.problems, args.k, args.chars)
        size_mb = path.stat().st_size / 1e6
        print(f"{args.problems} problems x k={args.k}, {size_mb:.0f} MB processed file; "
              f"{load_average()}")
        opens, explorer = [], None
        for _ in range(args.reps):
            explorer = None
            started = time.perf_counter()
            explorer = Explorer.open(path, html_path=Path(scratch) / "explorer.html")
            opens.append(time.perf_counter() - started)
        times = filter_times(explorer)
        html_s = timed(lambda: export(explorer.data, Path(scratch) / "first.html",
                                      max_problems=200))
        html_mb = (Path(scratch) / "first.html").stat().st_size / 1e6
    for what, seconds in times.items():
        print(f"  {what:28s} {seconds * 1000:8.1f} ms")
    open_s, worst = statistics.median(opens), max(times.values())
    figures = {"problems": args.problems, "k": args.k, "file_mb": round(size_mb),
               "open_s": round(open_s, 2), "opens_s": [round(o, 2) for o in opens],
               "filter_median_s": round(statistics.median(times.values()), 3),
               "filter_worst_s": round(worst, 3), "html_200_s": round(html_s, 2),
               "html_200_mb": round(html_mb, 1)}
    write_summary(args.summary_json, "explore", figures, [
        {"what": "explorer open, 12k x 8 (s)", "value": figures["open_s"], "goal": "< 3 s",
         "met": open_s < 3},
        {"what": "explorer worst filter (s)", "value": figures["filter_worst_s"],
         "goal": "< 0.5 s", "met": worst < 0.5}])
    print(f"HTML of the first 200 problems: {html_s:.2f} s, {html_mb:.1f} MB")
    print(f"open {open_s:.2f} s (runs: {', '.join(f'{o:.2f}' for o in opens)}); filters: median "
          f"{figures['filter_median_s'] * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
