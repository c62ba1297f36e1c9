"""Export speed: 100,000 graded responses to Parquet (goal: under 10 s), then every shape.

    .venv/bin/python benchmarks/bench_export.py [--quick] [--responses 100000] [--k 8]

Writes a processed file of real problems (the bundled MATH-500 and MMLU-Pro rows) with k graded
responses each, whose texts are the problems' own solutions (MATH) or chain-of-thought
(MMLU-Pro) plus a final answer, half right and half wrong. Then times, in this process:
1. `responses` to Parquet: read the processed file (one checked pass, training_data/inputs.py),
   build and write `responses.parquet` (and its `datasets` folder) chunk by chunk;
2. `python -m collectkit.export --format all` in-process: every shape to Parquet and
   `datasets` folders (load_from_disk), and the card.
No engine is started. The last line holds the ratio that matters.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import base_parser, max_rss_mb, write_summary  # noqa: E402

from collectkit.cli import export as export_cli  # noqa: E402
from collectkit.store import jsonl  # noqa: E402
from collectkit.training_data import writers  # noqa: E402
from collectkit.training_data.inputs import Inputs  # noqa: E402
from collectkit.tasks.load import load_problems  # noqa: E402

GOAL_S = 10.0


def write_processed(path: Path, responses: int, k: int) -> tuple[int, int]:
    problems = load_problems("both", None)
    count = -(-responses // k)
    sampling = {"model": "bench-model", "k_responses": k, "temperature": 0.7, "max_tokens": 2048,
                "protocols": "boxed@0123456789ab,mmlu_pro_official@0123456789ab"}
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(count):
            problem = problems[number % len(problems)]
            basis = (problem.explanation_correct or problem.question)[:1500]
            answers = []
            for index in range(min(k, responses - written)):
                right = index % 2 == 0
                answer = problem.answer_correct if right else f"wrong{index}"
                answers.append({
                    "full_response": f"{basis}\nAttempt {index}. The answer is \\boxed{{{answer}}}",
                    "finish_reason": "length" if index == k - 1 else "stop",
                    "reasoning_content": None,
                    "usage": {"prompt_tokens": 200, "completion_tokens": 400} if index == 0
                    else None, "model": "bench-model", "system_fingerprint": None,
                    "extracted_answer": answer, "is_correct": right,
                    "answer_group": 0 if right else index})
            written += len(answers)
            row = {**problem.record(), "unique_id": f"{problem.unique_id}#{number}",
                   "responses": answers, "attempts": 1, "model": "bench-model",
                   "sampling": sampling, "status": "ok"}
            handle.write(jsonl.dumps_line(row))  # as the kit writes it (U+0085 escaped)
    return count, written


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()
    if args.quick:
        args.responses = min(args.responses, 20_000)
    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        processed = folder / "bench.processed.jsonl"
        problems, responses = write_processed(processed, args.responses, args.k)
        size_mb = processed.stat().st_size / 1e6
        print(f"{problems:,} problems, {responses:,} responses, {size_mb:.0f} MB processed file")

        started = time.perf_counter()
        (folder / "parquet").mkdir()
        with Inputs([processed]) as inputs:
            read_s = time.perf_counter() - started
            counts = writers.write_shapes(inputs.rows(), ["responses"], folder / "parquet",
                                          inputs.kinds)
        parquet_s = time.perf_counter() - started
        build_s = parquet_s - read_s  # the rows read back, built and written in one pass
        parquet_mb = (folder / "parquet" / "responses.parquet").stat().st_size / 1e6
        print(f"responses → Parquet: {parquet_s:.2f} s (checked pass {read_s:.2f} s, build and "
              f"write {build_s:.2f} s), {parquet_mb:.1f} MB, {counts['responses']:,} rows")

        started = time.perf_counter()
        code = export_cli.main([str(processed), "--format", "all", "--out", str(folder / "all")])
        all_s = time.perf_counter() - started
        print(f"--format all (6 shapes, Parquet + datasets folders + card): {all_s:.2f} s, exit {code}")
        print(f"peak RSS {max_rss_mb():.0f} MB")
        figures = {"problems": problems, "responses": responses, "processed_mb": round(size_mb),
                   "parquet_s": round(parquet_s, 2), "read_s": round(read_s, 2),
                   "build_s": round(build_s, 2), "parquet_mb": round(parquet_mb, 1),
                   "all_shapes_s": round(all_s, 2), "peak_rss_mb": round(max_rss_mb())}
        write_summary(args.summary_json, "export", figures, [
            {"what": f"{responses:,} responses → Parquet (s)", "value": round(parquet_s, 2),
             "goal": f"< {GOAL_S:.0f}", "met": parquet_s < GOAL_S}])
        print(f"{responses:,} responses → Parquet in {parquet_s:.2f} s "
              f"(goal < {GOAL_S:.0f} s: {'met' if parquet_s < GOAL_S else 'NOT met'})")
        return code
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
