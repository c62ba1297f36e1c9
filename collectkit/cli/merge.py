"""`collectkit merge SHARD_FILES… [--output FILE]`: join the results files of a run's shards.

Each `collectkit run --shard I/N` writes X_shard-I-of-N.jsonl; this writes X.jsonl (or --output)
with each problem once, its manifest combining the shards' (sum of their counts, the list of
shard files). Shards of other sampling settings are refused; an existing file is replaced only
when a merge wrote it. Exit 0 merged (warnings on stderr: a problem in two shards, a shard
missing or unfinished, a torn last line); 2 nothing merged (one line saying why).
"""
from __future__ import annotations

import sys
from pathlib import Path

from collectkit.cli.args import ArgumentParser, fail
from collectkit.store.append import StoreError
from collectkit.workflow.steps import merge


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="collectkit merge", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", type=Path, metavar="SHARD_FILE",
                        help="the shards' results files (X_shard-I-of-N.jsonl)")
    parser.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="the merged results file (default: X.jsonl beside the shards, "
                        "when their names share X)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        report = merge(args.inputs, output=args.output)
    except StoreError as exc:
        return fail(parser.prog, str(exc))
    print(report.line())
    for warning in report.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
