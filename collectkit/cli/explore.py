"""Explore every sample of one or more processed runs from a shell (the notebook widget is
`collectkit.explorer.widget`, the data side `collectkit.explorer.data`):

    python -m collectkit.explore RESULTS… [--html OUT.html] [--filter wrong] [--max-problems N]

Without --html it prints each filter's count per run; with it, it writes one offline HTML file
(inline CSS/JS, the data embedded, no CDN) of the problems the filters keep, cut at --max-mb /
--max-problems, and says what it kept. A filter keeps a problem when (exactly):
"""
from __future__ import annotations

import sys
from pathlib import Path

from collectkit.cli.args import ArgumentParser
from collectkit.explorer.data import (FILTERS, SORT_LABELS, SORTS, Explore, locate_answer, page,
                                      problem_table)
from collectkit.explorer.sources import vote_key
from collectkit.explorer.html import export
from collectkit.store.results import InputError
from collectkit.store.append import StoreError

__doc__ += "".join(f"- {name}: {meaning};\n" for name, meaning in FILTERS.items())
__all__ = ["FILTERS", "SORTS", "SORT_LABELS", "Explore", "build_parser", "locate_answer", "main",
           "page", "problem_table", "vote_key"]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m collectkit.explore",
                                     description="Explore every sample of processed runs; "
                                                 "--html writes one offline HTML file.")
    parser.add_argument("inputs", nargs="+", metavar="RESULTS",
                        help="processed (or raw: graded here) results files or folders; one run each")
    parser.add_argument("--html", type=Path, metavar="OUT.html", help="write the explorer here")
    parser.add_argument("--labels", help="comma-separated run names (default: file names)")
    parser.add_argument("--run", help="the run whose problems are listed (default: the first)")
    parser.add_argument("--filter", action="append", default=[], choices=list(FILTERS),
                        help="keep only problems passing this filter (repeatable)")
    parser.add_argument("--benchmark", help="keep one benchmark (math500, mmlu_pro, …)")
    parser.add_argument("--category", help="keep one category")
    parser.add_argument("--level", type=int, help="keep one MATH level")
    parser.add_argument("--search", default="", help="keep questions containing this text")
    parser.add_argument("--sort", default="file", choices=list(SORTS), help="order of the list")
    parser.add_argument("--max-problems", type=int, help="keep at most this many problems")
    parser.add_argument("--max-mb", type=float, default=25.0,
                        help="size cap of the HTML file in MB (default 25): problems past it are left out")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m collectkit.explore` (and `collectkit explore`): counts, or --html OUT.html."""
    args = build_parser().parse_args(argv)
    try:
        if args.html is not None and args.html.suffix.lower() not in (".html", ".htm"):
            raise InputError(f"--html {args.html}: give an .html path (the kit writes no "
                             "other kind of file there)")
        if args.max_problems is not None and args.max_problems < 1:
            raise InputError("--max-problems must be at least 1")
        labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
        data = Explore.load(args.inputs, labels)
        if args.run is not None and args.run not in data.labels:
            raise InputError(f"--run {args.run!r} is not one of the runs: {', '.join(data.labels)}")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with data:  # its files stay open until the problems are written
        return report(data, args)


def report(data: Explore, args) -> int:
    """Print each run's counts; with --html, write the explorer file."""
    selection = {"filters": args.filter, "run": args.run, "benchmark": args.benchmark,
                 "category": args.category, "level": args.level, "search": args.search,
                 "sort": args.sort}
    for label in data.labels:
        counts = data.counts(label)
        print(f"{label}: {counts.pop('all')} problems; "
              + ", ".join(f"{name} {count}" for name, count in counts.items()))
    if args.html is None:
        return 0
    try:
        written = export(data, args.html, selection, args.max_problems, args.max_mb)
    except StoreError as exc:  # a full or read-only disk, a folder that cannot be made: one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the kit did not write, a link leading out of the folder
        print(f"error: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.html} ({written['bytes'] / 1e6:.1f} MB): {written['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
