"""python -m collectkit.run_inference — collect k responses per problem into a JSONL file.

Running the same command again continues where it stopped: completed problems are skipped,
failed ones retried until --max_attempts (within a run too, in rounds).

Exit codes: 0 every planned problem has its k responses (or --target-halfwidth or
--target-difference was reached: the manifest's reason says so); 1 some are unfinished (out of attempts);
2 bad input, an unusable file or folder, a full disk, a refused key or a model not served (one
line on stderr; nothing collected is lost); 3 stopped early: no server answered (the line says
why: a host that does not resolve, a refused port); 130 Ctrl-C;
143 SIGTERM; 4 (--batch) a batch is still running: run the same command later. The manifest says
the same in "status" and "reason".
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator

from tqdm.contrib.logging import logging_redirect_tqdm

from collectkit.collect.attempts import context_advice
from collectkit.collect.batch.driver import BatchError, BatchMode, BatchReport
from collectkit.cli.args import ArgumentParser
from collectkit.collect.settings import ConfigError, Settings
from collectkit.analyze.live import LIVE_LOGGER, LiveGrader, report_lines
from collectkit.analyze.run_plan import plan_lines
from collectkit.collect.run import CollectionError, resolve_output_path, run_collection
from collectkit.collect.pricing import PriceError, cost_line, estimate_open_problems
from collectkit.tasks.load import ProblemError
from collectkit.tasks.protocols import with_recommended_sampling
from collectkit.collect.manifest import ConfigMismatch
from collectkit.store.append import StoreError
from collectkit.tasks.registry import listing_lines

# flag → Settings field, for the flags that map one to one
SETTING_FLAGS = {
    "model": (str, "model id as the server knows it (default: the embedded model)"),
    "api_mode": (str, "local (vLLM / embedded engine) or remote (OpenAI-compatible API)"),
    "api_key_env": (str, "name of the variable holding the API key (default OPENAI_API_KEY; "
                         "local mode never sends it: COLLECTKIT_SERVER_API_KEY, VLLM_API_KEY "
                         "or the variable named here)"),
    "dataset": (str, "datasets, comma-separated: names (--list_datasets), both (default: "
                "math500,mmlu_pro), your own .jsonl/.json/.csv/.parquet file, or "
                "hf:ORG/NAME[:CONFIG][@REVISION]"),
    "dataset_fields": (str, "hf: datasets: FIELD=COLUMN,… mapping its columns onto the fields "
                       "(question=problem,answer_correct=answer; split=train)"),
    "dataset_source": (str, "bundled (default, offline) or hub (Hugging Face)"),
    "num_problems": (str, "N or all (N: a seeded random sample, stratified over categories)"),
    "subset_seed": (int, "which random sample --num_problems draws (default 0)"),
    "shard": (str, "I/N (0 <= I < N): collect only problems I, I+N, I+2N, … of the run, into "
              "its own file X_shard-I-of-N.jsonl; `collectkit merge` joins the N files"),
    "protocol": (str, "how problems are asked and read: mmlu_pro_official (MMLU-Pro's "
                 "default), mmlu_pro_zero_shot, multiple_choice (other MCQ's default), boxed "
                 "(open-ended default), qwen_boxed, r1, json_answer; comma-separated"),
    "k_responses": (int, "responses per problem"),
    "temperature": (float, "sampling temperature (default 0.7)"),
    "max_tokens": (int, "max tokens per response (default 2048)"),
    "top_p": (float, "nucleus sampling"),
    "seed": (int, "sampling seed (separate requests get seed, seed+1, …)"),
    "repetition_penalty": (float, "local engines only"),
    "reasoning_effort": (str, "none, minimal, low, medium or high: the top-level "
                              "reasoning_effort field (APIs and templates that take it)"),
    "thinking": (str, "on or off: chat_template_kwargs.enable_thinking (Qwen3-style templates "
                      "on a local vLLM or llama.cpp server)"),
    "thinking_budget": (int, "thinking tokens at most (local vLLM with --reasoning-config, "
                             "llama.cpp's server; see README)"),
    "logprobs": (int, "store each response's token logprobs, and the top N alternatives per "
                      "token when N > 0 (0: the sampled tokens only)"),
    "batch_size": (int, "problems scheduled at a time"),
    "max_concurrent": (int, "HTTP requests in flight at most; fewer while the server answers "
                            "429/503 (adaptive)"),
    "rpm": (float, "requests per minute at most (default: no limit)"),
    "tpm": (float, "tokens per minute at most: prompt estimate + max_tokens × n (default: none)"),
    "prices": (str, "JSON price table replacing entries of the bundled one (for the cost)"),
    "max_attempts": (int, "counted attempts per problem before giving up (default 3)"),
    "retry_backoff_s": (float, "pause before the first retry round, doubling each round "
                               "(default 2)"),
    "output_dir": (str, "folder for results (default results/)"),
    "request_timeout": (float, "the most seconds one request may take in all (default 600), "
                               "unless its generation may take longer (--min_tokens_per_s)"),
    "min_tokens_per_s": (float, "the slowest generation waited for, in tokens per second of a "
                                "whole request: a request may take n × max_tokens / this "
                                "seconds where that exceeds --request_timeout (default 10)"),
    "max_retries": (int, "the openai SDK's retries per request (default 2)"),
    "server_port": (int, "local server port, used when --api_base is not given"),
    "target_halfwidth": (float, "stop once every benchmark's 95%% interval (an anytime-valid "
                         "confidence sequence) has a half-width below this, e.g. 0.02 "
                         "(default 0: collect the whole selection); a smaller one later "
                         "extends the same file"),
    "compare_with": (str, "another run's results or processed file: collect its problems and "
                     "show the paired difference to it live (this run − that one)"),
    "target_difference": (float, "with --compare-with: stop once every benchmark's paired "
                          "difference interval excludes 0 or is narrower than ± this"),
}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m collectkit.run_inference",
                                     description=__doc__)
    for name, (kind, help_text) in SETTING_FLAGS.items():
        parser.add_argument(f"--{name}", type=kind, help=help_text)
    parser.add_argument("--api_base", action="append",
                        help="API base URL (default: local server, or OpenAI in remote mode); "
                        "several, comma-separated or repeated, are used together")
    parser.add_argument("--api_key", help="the key itself (prefer --api_key_env or .env)")
    parser.add_argument("--stop-sequence", dest="stop", action="append", hidden=("--stop",),
                        help="stop sequence (repeatable; at most 4 for OpenAI)")
    parser.add_argument("--output_file", help="results file; a bare name goes inside "
                        "--output_dir (default: derived from model and dataset, so the same "
                        "command resumes)")
    parser.add_argument("--retry_failed", action="store_true",
                        help="only retry problems that failed before")
    parser.add_argument("--allow_config_change", action="store_true",
                        help="continue a file collected under other sampling settings")
    parser.add_argument("--repair", action="store_true",
                        help="move corrupt lines to X.corrupt.jsonl and collect them again")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--no_live_grading", action="store_true",
                        help="do not grade rows while collecting (no live accuracy, no "
                        "--target-halfwidth)")
    parser.add_argument("--batch", action="store_true",
                        help="through the provider's batch API (half price): submit, and merge "
                        "finished batches when the same command runs again")
    parser.add_argument("--batch_wait", type=float, default=0.0, metavar="SECONDS",
                        help="with --batch, wait up to this long for the batch to finish")
    parser.add_argument("--list_datasets", action="store_true",
                        help="print the known datasets (rows, bundled or Hub, answer kind, "
                        "source) and exit")
    parser.add_argument("--dry_run", action="store_true",
                        help="print the problems, requests, tokens and cost a run would take; "
                        "send nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_datasets:
        print("\n".join(listing_lines()))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    overrides = {name: getattr(args, name) for name in SETTING_FLAGS}
    overrides.update(api_key=args.api_key, stop=tuple(args.stop) if args.stop else None,
                     api_base=",".join(args.api_base) if args.api_base else None,
                     live_grading=False if args.no_live_grading else None)
    try:
        settings = with_recommended_sampling(Settings.load(overrides), given=overrides)
        output = resolve_output_path(settings, args.output_file)
        if args.dry_run:
            print(estimate_open_problems(settings, output, batch=args.batch).line())
            if settings.target_halfwidth:
                print("\n".join(dry_run_plan(settings, output)))
            return 0
        with live_log_lines():
            stats = run_collection(settings, output_path=output,
                                   retry_failed=args.retry_failed, repair=args.repair,
                                   allow_config_change=args.allow_config_change,
                                   progress=not args.quiet, stop_on_sigterm=True,
                                   live=LiveGrader(),
                                   batch=BatchMode(wait_s=args.batch_wait) if args.batch
                                   else None)
    except (ConfigError, CollectionError, ConfigMismatch, ProblemError, StoreError,
            PriceError, BatchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted("Ctrl-C", 130)
    except asyncio.CancelledError:
        return _interrupted("SIGTERM", 143)
    print(stats.line())
    for line in report_lines(stats.live, stats.target_reached, stats.not_needed):
        print(line)
    for warning in stats.truncation_warnings(settings.max_tokens):
        print(f"warning: {warning}", file=sys.stderr)
    if stats.cost:
        print(cost_line(stats.cost))
    if stats.batch:
        print(BatchReport(**stats.batch).line())
        if stats.batch["pending"]:
            return 4
    if stats.stopped_early:
        print(f"stopped early: {stats.stopped_early}; rerun the same command to continue",
              file=sys.stderr)
        return 3
    if stats.too_long:
        print(f"context too small: {context_advice(stats, settings.max_tokens)}",
              file=sys.stderr)
    if stats.unfinished > len(stats.too_long):
        print(f"unfinished: {stats.unfinished - len(stats.too_long)} problems have no result "
              f"after --max_attempts "
              f"{settings.max_attempts}; see {stats.output_path.removesuffix('.jsonl')}"
              ".errors.jsonl, or raise --max_attempts and rerun", file=sys.stderr)
    if stats.unfinished:
        return 1
    return 0


def dry_run_plan(settings: Settings, output: Path) -> list[str]:
    """--dry_run with --target-halfwidth: the plan from the rows already collected."""
    if not output.exists() or not output.stat().st_size:
        return [f"plan: nothing collected yet in {output}; collectkit plan --target-halfwidth "
                f"{settings.target_halfwidth:g} --accuracy A says how many problems it takes"]
    try:
        return plan_lines(settings, settings.target_halfwidth, pilot=output)
    except ValueError as exc:  # the file lacks a benchmark of the selection
        return [f"plan: {exc}"]


@contextlib.contextmanager
def live_log_lines() -> Iterator[None]:
    """The live figures' periodic line on stderr, above the progress bar."""
    logger = logging.getLogger(LIVE_LOGGER)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with logging_redirect_tqdm(loggers=[logger]):
            yield
    finally:
        logger.removeHandler(handler)


def _interrupted(by: str, code: int) -> int:
    print(f"interrupted ({by}): finished problems are saved; run the same command to continue",
          file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
