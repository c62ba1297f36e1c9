"""Collect k responses per problem: batches, bounded concurrency, one writer, resume, rounds.

Every finished problem is appended as soon as it finishes; failed attempts go to the errors file
as rows of their own (see faults.py for what is counted). Problems that failed are retried within
the run, in rounds with a growing pause, until they reach max_attempts; a rerun continues the same
way. A 401/403/404 stops the run at once: it is the run's cause, not the problem's.
"""
from __future__ import annotations

import asyncio
import logging
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any


from collectkit.store import foreign_files
from collectkit.tasks import prompts
from collectkit.tasks import protocols
from collectkit.store import append as store
from collectkit.collect.attempts import Recorder, RunStats
from collectkit.collect.settings import Settings
from collectkit.collect.context_fit import hold_back
from collectkit.collect.live_hooks import LiveFigures, LiveGrading
from collectkit.collect.faults import Redactor, url_secrets
from collectkit.collect.client import BaseLLM, create_llm, sampling_params
from collectkit.collect.rounds import rounds
from collectkit.collect.pricing import load_prices, run_cost
from collectkit.collect.resume import plan_todo, resume_scan
from collectkit.collect.shards import shard_file, take_shard
from collectkit.tasks.load import Problem, file_tag, load_problems
from collectkit.collect.manifest import check_signature, run_signature, write_manifest
from collectkit.collect.server_check import CollectionError, check_server

if TYPE_CHECKING:  # types only: collect() drives a batch through BatchMode.drive
    from collectkit.collect.batch.driver import BatchMode

# At the end of a run, the live figures wait this long at most for the last rows' grades.
FINAL_GRADING_WAIT_S = 120.0

__all__ = ["CollectionError", "RunStats", "check_server", "collect", "default_output_path",
           "resolve_output_path", "run_collection"]



log = logging.getLogger("collectkit")


def default_output_path(settings: Settings) -> Path:
    model = re.sub(r"[^\w.-]+", "_", settings.model).strip("_")
    tag = file_tag(settings.dataset, settings.dataset_fields)  # a data file: its stem
    return shard_file(Path(settings.output_dir) / f"{model}_{tag}.jsonl", settings.shard)


def resolve_output_path(settings: Settings, output_file: str | Path | None) -> Path:
    """--output_file NAME goes inside --output_dir (the seed's meaning); a path with a folder
    part is used as given; with --shard, the name gets the shard's tag (shards.shard_file)."""
    if not output_file:
        return default_output_path(settings)
    output = Path(output_file)
    return shard_file(output if output.parent != Path(".") else Path(settings.output_dir) / output,
                      settings.shard)


def run_collection(settings: Settings, problems: list[Problem] | None = None, *,
                   stop_on_sigterm: bool = False, **kwargs: Any) -> RunStats:
    """Blocking entry point for scripts. Notebooks `await collect(...)` instead; called where an
    event loop already runs (a notebook cell), it runs the collection on its own loop in a worker
    thread and waits for it, so the running loop is never re-entered. With stop_on_sigterm,
    SIGTERM cancels the run like Ctrl-C (CancelledError("SIGTERM") is raised)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop_running = False  # not run inside this handler: every error would carry its context
    else:
        loop_running = True
    if not loop_running:
        if stop_on_sigterm:
            return asyncio.run(_cancel_on_sigterm(collect(settings, problems, **kwargs)))
        return asyncio.run(collect(settings, problems, **kwargs))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="collectkit-collect") as pool:
        return pool.submit(asyncio.run, collect(settings, problems, **kwargs)).result()


async def _cancel_on_sigterm(work):
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    loop.add_signal_handler(signal.SIGTERM, task.cancel, "SIGTERM")
    try:
        return await work
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def collect(settings: Settings, problems: list[Problem] | None = None, *,
                  output_path: str | Path | None = None, retry_failed: bool = False,
                  allow_config_change: bool = False, repair: bool = False,
                  llm: BaseLLM | None = None, progress: bool = True,
                  batch: BatchMode | None = None, live: LiveGrading | None = None) -> RunStats:
    """Collect into `output_path` online, or with `batch` through a batch API (batch.py): the
    same plan, rows and files either way. `live` grades rows as they come (the live figures,
    --target-halfwidth, --compare-with; analyze.live.LiveGrader): without it, none."""
    path = Path(output_path) if output_path else default_output_path(settings)
    if batch is not None and (settings.target_halfwidth or settings.compare_with):
        raise CollectionError("--target-halfwidth and --compare-with watch an online run; a "
                              "batch is priced and sent whole: drop --batch or them")
    if live is None and batch is None and (settings.target_halfwidth or settings.compare_with):
        raise CollectionError("--target-halfwidth and --compare-with need live grading: pass "
                              "live=LiveGrader() (collectkit.collect and collectkit run do)")
    sampling = run_signature(settings, sampling_params(settings), prompts)
    api_key = settings.resolve_api_key()
    redact = Redactor([api_key, *(secret for url in settings.base_urls
                                  for secret in url_secrets(url))])
    prices = load_prices(settings.prices)
    foreign_files.refuse_foreign(path)
    check_signature(path, sampling, allow_config_change)
    if problems is None:  # before anything is sent or written: bad data stops here; given
        problems = take_shard(load_problems(  # problems are used as given, never sliced again
            settings.dataset, settings.problem_limit, settings.dataset_source,
            seed=settings.subset_seed, fields=settings.dataset_fields), settings.shard)
    compare = same_problems(settings, live) if settings.compare_with and live else None
    if compare is not None:
        problems = [p for p in problems if p.unique_id in compare]
    if batch is None:
        check_server(settings, api_key)
    stats = RunStats(output_path=str(path))
    with store.AppendWriter(path) as results, \
            store.AppendWriter(store.errors_path(path)) as errors:
        done, failures = resume_scan(results, errors, sampling, allow_config_change, repair,
                                      settings.k_responses)
        todo = plan_todo(problems, done, failures, settings.max_attempts, retry_failed, stats)
        llm = None if batch else llm or create_llm(settings)
        recorder = Recorder(results, errors, failures, stats, settings.k_responses,
                            settings.model, sampling, redact)
        figures = live.figures(settings, problems, path, done, recorder, compare) if (
            live is not None and batch is None and settings.live_grading) else None
        if batch is None:  # what the server's context cannot hold is not sent (context_fit.py)
            todo = await asyncio.to_thread(hold_back, settings, api_key, todo, recorder, lambda
                                           problem: protocols.messages(problem, settings.protocol))
        write_manifest(path, settings, sampling, stats, status="running")
        started = time.monotonic()
        status, reason = "failed", "unknown"
        try:
            if batch is None:
                await rounds(todo, llm, settings, recorder, progress, figures)
                if figures is not None:  # the last rows' grades, for the final figures
                    await asyncio.to_thread(figures.wait, FINAL_GRADING_WAIT_S)
            else:
                report = await asyncio.to_thread(batch.drive, settings, path, recorder,
                                                 todo, problems)
                stats.batch = asdict(report)
            if stats.target_reached:
                stats.not_needed = stats.planned - stats.done
            stats.unfinished += stats.planned - stats.done - stats.not_needed
            status, reason = _outcome(stats, figures)
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            status, reason = "interrupted", (exc.args[0] if exc.args else "Ctrl-C")
            raise
        except BaseException as exc:
            reason = redact(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if figures is not None:
                figures.close()
                stats.live = figures.report()
            stats.wall_s = time.monotonic() - started
            stats.cost = run_cost(settings.model, stats.prompt_tokens, stats.completion_tokens,
                                  batch=batch is not None, table=prices)
            if llm is not None:
                stats.n_per_request = llm.supports_n
                if isinstance(llm, BaseLLM):  # tests may pass a stand-in
                    stats.endpoints, stats.concurrency = llm.pool.report(), llm.limit.report()
                    stats.models = llm.identity.report()
                await llm.aclose()
            _final_manifest(path, settings, sampling, stats, status, reason)
    if stats.fatal:
        raise CollectionError(stats.stopped_early)
    return stats


def same_problems(settings: Settings, live: LiveGrading) -> dict[str, float]:
    """--compare-with: the other run's score per problem; this run collects those problems."""
    scores = live.compare_scores(Path(settings.compare_with))
    if not scores:
        raise CollectionError(f"{settings.compare_with} has no graded problems to compare with")
    return scores


def _outcome(stats: RunStats, figures: LiveFigures | None) -> tuple[str, str]:
    if stats.batch and stats.batch["pending"]:
        stats.unfinished -= stats.batch["pending_problems"]
        return "waiting", f"batch {', '.join(stats.batch['pending'])} still running"
    if stats.stopped_early:
        return "stopped", stats.stopped_early
    if stats.target_reached and figures is not None:
        return "finished", figures.reached_reason()
    if stats.unfinished:
        return "unfinished", f"{stats.unfinished} problems out of attempts"
    return "finished", ""


def _final_manifest(path: Path, settings: Settings, sampling: dict, stats: RunStats,
                    status: str, reason: str) -> None:
    try:
        write_manifest(path, settings, sampling, stats, status=status, reason=reason)
    except store.StoreError:
        if status not in ("failed", "interrupted"):
            raise  # otherwise the run's own error (a full disk, Ctrl-C) is already on its way
