"""Compare runs side by side: two models, two temperatures, two protocols.

    python -m collectkit.compare results/a.jsonl results/b.jsonl [--out DIR]

Each input is a results file (raw: graded here, or `*.processed.jsonl`: grades kept) or a
directory of them. Every figure is per benchmark, never MATH-500 and MMLU-Pro pooled:
- a leaderboard (accuracy with 95% interval, category macro-average, pass@k, maj@k, unparsed);
- per-category accuracy, one column per run, with intervals;
- paired differences on the problems both runs answered, each run against the first: the mean
  per-problem difference, its 95% paired-bootstrap interval and p-value (H0: no difference);
- agreement between runs: response i of one run against response i of the other — both right,
  only one right, both wrong, same extracted answer, and Cohen's kappa on right/wrong.
With --out: the per-response table as CSV and Parquet, the tables as CSV, and the figure as PNG.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from collectkit.cli.args import ArgumentParser
from collectkit.store.results import InputError
from collectkit.workflow.comparison import compare
# the comparison's tables, importable from here as before
from collectkit.analyze.compare import agreement, category_table, export, leaderboard, load_runs, paired_bootstrap, paired_differences, responses_table, side_by_side  # noqa: F401


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m collectkit.compare", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR",
                        help="results files (raw or .processed.jsonl) or folders of them")
    parser.add_argument("--labels", help="comma-separated run names (default: file names)")
    parser.add_argument("--out", type=Path, help="folder for CSV, Parquet and the figure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
        comparison = compare(args.inputs, labels)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(comparison.report())
    if args.out:
        written = comparison.export(args.out)
        comparison.plot(save_to=args.out)
        print(f"\nwrote {', '.join(sorted(written))} and categories.png to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["agreement", "category_table", "export", "leaderboard", "load_runs",
           "paired_bootstrap", "paired_differences", "responses_table", "side_by_side"]
