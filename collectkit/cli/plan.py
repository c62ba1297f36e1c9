"""collectkit plan — how many problems × k a run needs before every benchmark's 95% interval
(the anytime-valid confidence sequence `collectkit run --target-halfwidth` stops on) is narrower
than ± the target, from a stated accuracy or a pilot run, and what collecting them would cost.

  collectkit plan --target-halfwidth 0.03 --accuracy 0.6 --dataset math500 --k-responses 4
  collectkit plan --target-halfwidth 0.02 --pilot runs/pilot.processed.jsonl --dataset both

The numbers come from simulated runs (collectkit/analyze/planning.py says how); nothing is sent.
`collectkit run --dry_run --target-halfwidth H` prints the same, from the rows already collected.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from collectkit.cli.args import ArgumentParser
from collectkit.cli.run import SETTING_FLAGS
from collectkit.analyze.run_plan import plan_lines
from collectkit.collect.pricing import PriceError
from collectkit.collect.settings import ConfigError, Settings
from collectkit.store.append import StoreError
from collectkit.tasks.load import ProblemError

PLAN_FLAGS = ("model", "dataset", "dataset_fields", "dataset_source", "num_problems",
              "subset_seed", "protocol", "k_responses", "max_tokens", "prices")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m collectkit.cli.plan", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target_halfwidth", type=float, required=True,
                        help="the half-width to reach, e.g. 0.02")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--accuracy", type=float,
                        help="the accuracy you expect (each benchmark), e.g. 0.6")
    source.add_argument("--pilot", type=Path,
                        help="a run's results or processed file: its per-problem pass rates")
    for name in PLAN_FLAGS:
        kind, help_text = SETTING_FLAGS[name]
        parser.add_argument(f"--{name}", type=kind, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load({name: getattr(args, name) for name in PLAN_FLAGS})
        for line in plan_lines(settings, args.target_halfwidth, args.accuracy, args.pilot):
            print(line)
    except (ConfigError, ProblemError, StoreError, PriceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
