"""Extract and grade the answers of collected results; write processed rows and a summary.

    python -m collectkit.answer_extraction -i results/model_MATH_500.jsonl --by-category

Never queries a model: it only reads results files. All inputs are read and checked before
anything is written, and each output is written to a temporary file and then renamed, so a bad
input leaves every existing file as it was (exit 2, one line). A last line still being written
(a collection running or killed) is skipped and counted; a bad line elsewhere is an error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from collectkit import protocols
from collectkit.grading import MATCH_MODES, grade_rows
from collectkit.protocols import ProtocolError
from collectkit.lengths import truncation_summary, truncation_warnings
from collectkit.metrics import accuracy_table, summarize
from collectkit.store import StoreError, write_json_atomic, write_text_atomic

PROCESSED_SUFFIX = ".processed.jsonl"
SUMMARY_SUFFIX = ".summary.json"
SKIPPED_SUFFIXES = (PROCESSED_SUFFIX, ".errors.jsonl")
REQUIRED_FIELDS = ("unique_id", "answer_correct", "responses")
PRINTED_COLUMNS = ["n_problems", "n_responses", "k", "accuracy", "ci_low", "ci_high", "pass@k",
                   "maj@k", "unparsed_rate"]


class InputError(Exception):
    """A results file cannot be used; the message is one line naming the file (and line)."""


def results_files(path: Path) -> list[Path]:
    """The results files at `path`: the file itself, or a directory's `*.jsonl` files other
    than processed outputs and error logs."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or directory")
    files = sorted(p for p in path.glob("*.jsonl") if not p.name.endswith(SKIPPED_SUFFIXES))
    if not files:
        raise InputError(f"{path}: no results files (*.jsonl) in this directory")
    return files


def read_results(path: Path) -> list[dict[str, Any]]:
    """The rows of one results file (a problem seen twice keeps its later row)."""
    return read_results_counting(path)[0]


def read_results_counting(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(rows, number of torn last lines skipped: 0 or 1)."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    lines = text.splitlines()
    skipped = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not text.endswith("\n"):  # still being written
                skipped += 1
                continue
            raise InputError(f"{path} line {number}: malformed JSON ({exc})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path} line {number}: expected a JSON object")
        missing = [field for field in REQUIRED_FIELDS if field not in row]
        if missing:
            raise InputError(f"{path} line {number}: missing field(s) {', '.join(missing)}")
        responses = row["responses"]
        if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
            raise InputError(f"{path} line {number}: 'responses' must be a list of objects")
        rows.pop(str(row["unique_id"]), None)
        rows[str(row["unique_id"])] = row
    if not rows:
        raise InputError(f"{path}: no results rows (the file is empty"
                         f"{' but for a torn last line' if skipped else ''})")
    return list(rows.values()), skipped


def grade_file(path: str | Path, match: str = "first", workers: int | None = None,
               timeout_s: int = 5, protocol: str | None = None) -> list[dict[str, Any]]:
    """Read one results file and return its rows graded (see grading.grade_rows); `protocol`
    reads the rows that record none (outputs collected elsewhere)."""
    return grade_rows(read_results(Path(path)), match=match, workers=workers, timeout_s=timeout_s,
                      unrecorded_protocol=protocol)


def output_paths(source: Path, output: Path | None, many_inputs: bool) -> tuple[Path, Path]:
    """(processed, summary) paths for one results file."""
    stem = source.name[: -len(".jsonl")] if source.name.endswith(".jsonl") else source.name
    if output is None:
        folder = source.parent
    elif many_inputs or output.is_dir() or not output.name.endswith(".jsonl"):
        folder = output
    else:
        base = output.name.removesuffix(".jsonl").removesuffix(".processed")
        return output, output.with_name(base + SUMMARY_SUFFIX)
    return folder / (stem + PROCESSED_SUFFIX), folder / (stem + SUMMARY_SUFFIX)


def write_graded(source: Path, rows: list[dict[str, Any]], processed: Path, summary_path: Path,
                 match: str) -> dict[str, Any]:
    """Write the processed rows and their summary; returns the summary."""
    summary = {"source": str(source), "match": match, **summarize(rows),
               "grading_timeouts": sum(bool(r.get("grading_timeout")) for row in rows
                                       for r in row.get("responses") or []),
               "truncation": truncation_summary(rows)}
    write_text_atomic(processed, jsonl_text(rows))
    write_json_atomic(summary_path, summary)
    return summary


def jsonl_text(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def format_report(rows: list[dict[str, Any]], by_category: bool, by_level: bool) -> str:
    """Tables printed after grading: per dataset always, per category / level on request."""
    if not any(row.get("responses") for row in rows):
        return "(no responses)"
    sections = [("dataset", True), ("category", by_category), ("level", by_level)]
    parts = []
    for by, wanted in sections:
        table = accuracy_table(rows, by=by)[PRINTED_COLUMNS] if wanted else None
        if table is not None and len(table):
            parts.append(table.to_string(float_format=lambda value: f"{value:.3f}"))
    return "\n\n".join(parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
                        "'answer is (X)' (default: first)")
    parser.add_argument("--protocol", default=None,
                        help="for rows that record no protocol (outputs collected elsewhere): "
                        "how to read their answers, e.g. json_answer or multiple_choice; one "
                        "per family (open-ended, multiple choice), comma-separated. Rows that "
                        "record theirs keep it")
    parser.add_argument("--workers", type=int, default=None,
                        help="math-verify worker processes (default: CPU count)")
    parser.add_argument("--timeout", type=int, default=5,
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
    try:
        files = results_files(args.input)
        many = args.input.is_dir()
        if many and args.output is not None and args.output.name.endswith(".jsonl"):
            raise InputError(f"{args.output}: with a directory input, --output is a directory")
        if not many and args.output is not None and args.output.resolve() == files[0].resolve():
            raise InputError(f"{args.output}: the output would overwrite the input")
        loaded = []
        for path in files:
            rows, skipped = read_results_counting(path)
            if skipped:
                print(f"{path}: skipped {skipped} incomplete last line (still being written, "
                      "or cut off by a stopped run)", file=sys.stderr)
            loaded.append((path, rows))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    graded = grade_rows([row for _, rows in loaded for row in rows], match=args.match,
                        workers=args.workers, timeout_s=args.timeout,
                        unrecorded_protocol=args.protocol)
    start = 0
    for path, rows in loaded:
        file_rows, start = graded[start : start + len(rows)], start + len(rows)
        processed, summary_path = output_paths(path, args.output, many)
        try:
            summary = write_graded(path, file_rows, processed, summary_path, args.match)
        except StoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if summary["grading_timeouts"]:
            print(f"{path}: {summary['grading_timeouts']} response(s) took longer than --timeout "
                  f"{args.timeout} s to grade: counted unparsed (grading_timeout)",
                  file=sys.stderr)
        print(f"== {path} ({len(file_rows)} problems) -> {processed}, {summary_path.name}")
        print(format_report(file_rows, args.by_category, args.by_level))
        max_tokens = (file_rows[0].get("sampling") or {}).get("max_tokens")
        for warning in truncation_warnings({name: (figures["n_truncated"],
                                                   figures["n_responses"])
                                            for name, figures in summary["truncation"].items()},
                                           max_tokens):
            print(f"warning: {warning}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
