"""Extract and grade the answers of collected results; write processed rows and a summary.

    python -m collectkit.answer_extraction -i results/model_MATH_500.jsonl --by-category

Never queries a model: it only reads results files. All inputs are read and checked before
anything is written, and each output is written to a temporary file and then renamed, so a bad
input leaves every existing file as it was (exit 2, one line). A last line still being written
(a collection running or killed) is skipped and counted; a bad line elsewhere is an error.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from collectkit.tasks import protocols
from collectkit.cli.args import ArgumentParser
from collectkit.grade.grading import MATCH_MODES, Extractor, GradingConfig, grade_rows  # noqa: F401
from collectkit.analyze.stream import Pending, grade_pending, read_for_grading, write_graded_stream
from collectkit.analyze.lengths import truncation_warnings
from collectkit.analyze.metrics import accuracy_table, responses_frame
from collectkit.tasks.protocols import ProtocolError
# The results files are read and written by collectkit.store.results; re-exported for existing callers.
from collectkit.analyze.summary import write_graded  # noqa: F401  (the old name)
from collectkit.grade.grading import grade_file  # noqa: F401  (the old name)
from collectkit.store.results import (PROCESSED_SUFFIX, REQUIRED_FIELDS, SKIPPED_SUFFIXES,  # noqa: F401
                                      SUMMARY_SUFFIX, InputError, jsonl_text, output_paths,
                                      read_results, read_results_counting, results_files)
from collectkit.store.append import StoreError

PRINTED_COLUMNS = ["n_problems", "n_responses", "k", "accuracy", "ci_low", "ci_high", "pass@k",
                   "maj@k", "unparsed_rate"]


def format_report(rows: list[dict[str, Any]] | pd.DataFrame, by_category: bool,
                  by_level: bool) -> str:
    """Tables printed after grading (from graded rows or their responses_frame): per dataset
    always, per category / level on request."""
    rows = responses_frame(rows)
    if rows.empty:
        return "(no responses)"
    sections = [("dataset", True), ("category", by_category), ("level", by_level)]
    parts = []
    for by, wanted in sections:
        table = accuracy_table(rows, by=by)[PRINTED_COLUMNS] if wanted else None
        if table is not None and len(table):
            parts.append(table.to_string(float_format=lambda value: f"{value:.3f}"))
    return "\n\n".join(parts)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m collectkit.answer_extraction",
        description="Extract answers from collected responses, grade them (MMLU-Pro: official "
        "letter cascade, never a random guess; MATH: math-verify, gold first) and report accuracy, "
        "95% CI, pass@k, maj@k and the unparsed rate. Writes X.processed.jsonl (each response "
        "gains extracted_answer and is_correct) and X.summary.json, which always holds the "
        "overall, per-dataset, per-category and per-level figures; --by-category / --by-level "
        "only choose which tables are printed. Never queries a model.")
    parser.add_argument("-i", "--input", required=True, type=Path,
                        help="a results .jsonl file, or a directory of them (*.processed.jsonl "
                        "and *.errors.jsonl are skipped)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output file (X.processed.jsonl; the summary goes beside it) or "
                        "directory; default: beside each input")
    parser.add_argument("--by-category", action="store_true", help="print a table per category")
    parser.add_argument("--by-level", action="store_true", help="print a table per MATH level")
    parser.add_argument("--match", choices=MATCH_MODES, default="first",
                        help="multiple choice: take the first (official) or the last "
                        "'answer is (X)' / 'Answer: X' (default: first)")
    parser.add_argument("--protocol", default=None,
                        help="for rows that record no protocol (outputs collected elsewhere): "
                        "how to read their answers, e.g. json_answer or multiple_choice; one "
                        "per family (open-ended, multiple choice), comma-separated. Rows that "
                        "record theirs keep it")
    parser.add_argument("--workers", type=int, default=None,
                        help="math-verify worker processes (default: CPU count)")
    parser.add_argument("--verify-timeout", dest="timeout", type=int, default=5,
                        hidden=("--timeout",),
                        help="math-verify timeout per parse/compare step, seconds (default: 5)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        protocols.by_family(args.protocol)
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loaded: list[Pending] = []
    try:
        files = results_files(args.input)
        many = args.input.is_dir()
        if many and args.output is not None and args.output.name.endswith(".jsonl"):
            raise InputError(f"{args.output}: with a directory input, --output is a directory")
        if not many and args.output is not None and args.output.resolve() == files[0].resolve():
            raise InputError(f"{args.output}: the output would overwrite the input")
        extract = Extractor(args.match, unrecorded_protocol=args.protocol, texts=False)
        for path in files:  # every input checked before anything is written
            loaded.append(read_for_grading(path, extract))
            if loaded[-1].torn:
                print(f"{path}: skipped {loaded[-1].torn} incomplete last line (still being "
                      "written, or cut off by a stopped run)", file=sys.stderr)
    except (InputError, ProtocolError) as exc:  # ProtocolError: a row recording an unknown one
        for pending in loaded:
            pending.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        grade_pending(loaded, GradingConfig(args.match, args.workers, args.timeout))
        for pending in loaded:
            if write_one(pending, args, many):
                return 2
    finally:
        for pending in loaded:
            pending.close()
    return 0


def write_one(pending: Pending, args: Any, many: bool) -> int:
    """Write one file's processed rows and summary, print its tables; 2 on an unusable output."""
    path = pending.source
    processed, summary_path = output_paths(path, args.output, many)
    try:
        summary, frame = write_graded_stream(pending, processed, summary_path, args.match)
    except (StoreError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if summary["grading_timeouts"]:
        print(f"{path}: {summary['grading_timeouts']} response(s) took longer than --timeout "
              f"{args.timeout} s to grade: counted unparsed (grading_timeout)", file=sys.stderr)
    print(f"== {path} ({len(pending.index)} problems) -> {processed}, {summary_path.name}")
    print(format_report(frame, args.by_category, args.by_level))
    max_tokens = (pending.skeletons[0].get("sampling") or {}).get("max_tokens")
    for warning in truncation_warnings({name: (figures["n_truncated"], figures["n_responses"])
                                        for name, figures in summary["truncation"].items()},
                                       max_tokens):
        print(f"warning: {warning}")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
