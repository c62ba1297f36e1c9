"""Export processed (graded) results as training data: a Hugging Face `datasets` dataset and
Parquet files per shape, with a dataset card.

    python -m collectkit.export results/m_MATH_500.processed.jsonl --format all --out export/

writes, per shape, `OUT/<shape>/` (as `datasets.Dataset.save_to_disk` lays it out; read it back
with `datasets.load_from_disk`) and `OUT/<shape>.parquet` (`pandas.read_parquet`), and `OUT/README.md`,
a dataset card saying how the data was made (sources, models, protocols, sampling, the rules of
each shape: see export_shapes.py). `--push_to_hub ORG/NAME` then uploads the files it wrote (and
nothing else in the folder) to a private dataset repository, public with `--public`, with the token
from HF_TOKEN (or huggingface-cli login): export_hub.py. The folder may hold the user's own files:
the kit replaces only what it wrote there, refuses links that lead out of it, and replaces the
previous export whole (written beside it, then renamed into place): export_folder.py. Exit codes:
0 written (and pushed); 2 bad input, an unwritable folder, or an entry the kit did not write (one
line; nothing existing is touched before every input has been read); 3 written locally but the
push failed (one line); 130 / 143 Ctrl-C / SIGTERM (the previous export unchanged).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from collectkit.training_data import hub as export_hub
from collectkit.cli.args import ArgumentParser
from collectkit.training_data.folder import ExportError, Interrupted
from collectkit.training_data.shapes import SHAPES
from collectkit.training_data.dataset import export


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m collectkit.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("processed", nargs="+", help="X.processed.jsonl files")
    parser.add_argument("--format", default="all", choices=(*SHAPES, "all"),
                        help="which shape to write (default: all)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--push_to_hub", metavar="ORG/NAME",
                        help="upload the files this export wrote (nothing else in --out) as a "
                        "private Hub dataset (token: HF_TOKEN)")
    parser.add_argument("--public", action="store_true",
                        help="with --push_to_hub: make the repository public")
    parser.add_argument("--private", dest="public", action="store_false", default=False,
                        help=argparse.SUPPRESS)  # the default now; kept for old scripts
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    shapes = SHAPES if args.format == "all" else (args.format,)
    if args.push_to_hub and "/" not in args.push_to_hub:
        print(f"error: --push_to_hub {args.push_to_hub}: expected ORG/NAME", file=sys.stderr)
        return 2
    try:
        written = export(args.processed, shapes, args.out)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt) as stop:  # Ctrl-C while reading: nothing written
        replaced = getattr(stop, "replaced", False)
        print(f"interrupted: {args.out} holds the "
              f"{'new export (it was in place)' if replaced else 'previous export, unchanged'}",
              file=sys.stderr)
        return 128 + getattr(stop, "signal_number", 2)
    print(", ".join(f"{shape}: {count:,} rows" for shape, count in written["counts"].items())
          + f" → {args.out}")
    if args.push_to_hub:
        try:
            pushed = export_hub.push(Path(args.out), written["files"], args.push_to_hub,
                                     args.public)
        except export_hub.PushError as exc:
            print(f"error: could not push to {args.push_to_hub} ({exc}); the export is in "
                  f"{args.out}", file=sys.stderr)
            return 3
        print(pushed.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
