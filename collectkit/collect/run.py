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

from tqdm.auto import tqdm

from collectkit.store import foreign_files
from collectkit.tasks import prompts
from collectkit.tasks import protocols
from collectkit.store import append as store
from collectkit.collect.attempts import Recorder, RunStats
from collectkit.collect.settings import Settings
from collectkit.collect.context_fit import hold_back
from collectkit.collect.faults import Redactor, fatal_reason, redact_url, url_secrets
from collectkit.collect.client import BaseLLM, RequestFailed, create_llm, sampling_params
from collectkit.collect.pricing import load_prices, run_cost
from collectkit.collect.resume import plan_todo, resume_scan
from collectkit.tasks.load import Problem, file_tag, load_problems
from collectkit.collect.manifest import check_signature, run_signature, write_manifest
from collectkit.collect.server_check import CollectionError, check_server

if TYPE_CHECKING:  # types only: collect() drives a batch through BatchMode.drive
    from collectkit.collect.batch.driver import BatchMode

__all__ = ["CollectionError", "RunStats", "check_server", "collect", "default_output_path",
           "resolve_output_path", "run_collection"]

# After this many problems in a row found no server, the run stops instead of spinning.
UNREACHABLE_STREAK_FACTOR = 2
# The progress bar's postfix (failures, tokens/s) is refreshed at most this often.
POSTFIX_INTERVAL_S = 0.5
MAX_ROUND_PAUSE_S = 60.0
# While no problem finishes (a busy machine, long answers), the postfix shows the requests in
# flight this often, so the bar says work is alive before the first problem completes.
ALIVE_INTERVAL_S = 2.0


log = logging.getLogger("collectkit")


def default_output_path(settings: Settings) -> Path:
    model = re.sub(r"[^\w.-]+", "_", settings.model).strip("_")
    tag = file_tag(settings.dataset, settings.dataset_fields)  # a data file: its stem
    return Path(settings.output_dir) / f"{model}_{tag}.jsonl"


def resolve_output_path(settings: Settings, output_file: str | Path | None) -> Path:
    """--output_file NAME goes inside --output_dir (the seed's meaning); a path with a folder
    part is used as given."""
    if not output_file:
        return default_output_path(settings)
    output = Path(output_file)
    return output if output.parent != Path(".") else Path(settings.output_dir) / output


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
                  batch: BatchMode | None = None) -> RunStats:
    """Collect into `output_path` online, or with `batch` through a batch API (batch.py): the
    same plan, rows and files either way."""
    path = Path(output_path) if output_path else default_output_path(settings)
    sampling = run_signature(settings, sampling_params(settings), prompts)
    api_key = settings.resolve_api_key()
    redact = Redactor([api_key, *(secret for url in settings.base_urls
                                  for secret in url_secrets(url))])
    prices = load_prices(settings.prices)
    foreign_files.refuse_foreign(path)
    check_signature(path, sampling, allow_config_change)
    if problems is None:  # before anything is sent or written: bad data stops here
        problems = load_problems(settings.dataset, settings.problem_limit,
                                 settings.dataset_source, seed=settings.subset_seed,
                                 fields=settings.dataset_fields)
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
        if batch is None:  # what the server's context cannot hold is not sent (context_fit.py)
            todo = await asyncio.to_thread(hold_back, settings, api_key, todo, recorder, lambda
                                           problem: protocols.messages(problem, settings.protocol))
        write_manifest(path, settings, sampling, stats, status="running")
        started = time.monotonic()
        status, reason = "failed", "unknown"
        try:
            if batch is None:
                await _rounds(todo, llm, settings, recorder, progress)
            else:
                report = await asyncio.to_thread(batch.drive, settings, path, recorder,
                                                 todo, problems)
                stats.batch = asdict(report)
            stats.unfinished += stats.planned - stats.done
            status, reason = _outcome(stats)
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            status, reason = "interrupted", (exc.args[0] if exc.args else "Ctrl-C")
            raise
        except BaseException as exc:
            reason = redact(f"{type(exc).__name__}: {exc}")
            raise
        finally:
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


def _outcome(stats: RunStats) -> tuple[str, str]:
    if stats.batch and stats.batch["pending"]:
        stats.unfinished -= stats.batch["pending_problems"]
        return "waiting", f"batch {', '.join(stats.batch['pending'])} still running"
    if stats.stopped_early:
        return "stopped", stats.stopped_early
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


async def _rounds(todo: list[Problem], llm: BaseLLM, settings: Settings, recorder: Recorder,
                  progress: bool) -> None:
    """The plan, then the problems that failed, again, after a pause that doubles each round,
    while they have attempts left; at most max_attempts rounds (uncounted failures too)."""
    stats = recorder.stats
    # Counts the whole selection, what earlier runs collected included: an interrupted rerun
    # shows the true count (5/10), not this run's share of it (1/6).
    bar = tqdm(total=stats.skipped_done + stats.skipped_exhausted + len(todo),
               initial=stats.skipped_done, unit="problem", disable=not progress,
               dynamic_ncols=True)
    try:
        for number in range(settings.max_attempts):
            if number:
                await asyncio.sleep(min(settings.retry_backoff_s * 2 ** (number - 1),
                                        MAX_ROUND_PAUSE_S))
            stats.rounds += 1
            failed = await _drain(todo, llm, settings, recorder, bar)
            todo = [p for p in failed if p.unique_id not in stats.too_long
                    and recorder.failures.get(p.unique_id, 0) < settings.max_attempts]
            if stats.stopped_early or not todo:
                return
        if stats.failed and stats.failed == stats.unreachable:  # not one attempt was counted
            stats.stopped_early = (f"no server answered at {redact_url(settings.base_url)}: "
                                   f"{stats.unreachable_why or 'no connection'}; "
                                   f"{len(todo)} problem(s) wait for it, no attempt was counted")
    finally:
        bar.set_postfix(failed=stats.failed, tok_s=f"{_rate(stats, bar):.0f}", refresh=False)
        bar.refresh()
        bar.close()


async def _drain(todo: list[Problem], llm: BaseLLM, settings: Settings, recorder: Recorder,
                 bar: tqdm) -> list[Problem]:
    """Keep up to batch_size problems in flight; the one writer appends each as it finishes.
    Returns the problems that failed."""
    queue = iter(todo)
    pending: dict[asyncio.Task, Problem] = {}
    failed: list[Problem] = []
    stats = recorder.stats
    streak_limit = UNREACHABLE_STREAK_FACTOR * max(settings.batch_size, settings.max_concurrent)
    unreachable_streak = 0
    next_postfix = 0.0

    def refill() -> None:
        while len(pending) < settings.batch_size and not stats.stopped_early:
            problem = next(queue, None)
            if problem is None:
                return
            pending[asyncio.ensure_future(
                _ask(llm, problem, settings.k_responses, settings.protocol))] = problem

    try:
        refill()
        while pending:
            finished, _ = await asyncio.wait(pending, timeout=ALIVE_INTERVAL_S,
                                             return_when=asyncio.FIRST_COMPLETED)
            if not finished:  # nothing finished for a while: show the requests are out there
                bar.set_postfix(in_flight=_in_flight(llm), failed=stats.failed,
                                tok_s=f"{_rate(stats, bar):.0f}", refresh=True)
                continue
            for task in finished:
                problem = pending.pop(task)
                outcome = task.result()
                if isinstance(outcome, list) and recorder.done(problem, outcome):
                    unreachable_streak = 0
                    bar.update(1)
                    continue
                failed.append(problem)
                if isinstance(outcome, RequestFailed):
                    recorder.failed(problem, outcome)
                    unreachable_streak = unreachable_streak + 1 if outcome.unreachable else 0
                    if outcome.fatal and not stats.stopped_early:
                        stats.fatal = True
                        stats.stopped_early = fatal_reason(outcome.status,
                                                           recorder.redact(str(outcome)),
                                                           redact_url(settings.base_url))
                if unreachable_streak >= streak_limit and not stats.stopped_early:
                    stats.stopped_early = (f"no server answered for {unreachable_streak} "
                                           f"problems in a row at "
                                           f"{redact_url(settings.base_url)}")
                if time.monotonic() >= next_postfix:  # formatting it per problem costs ~15 µs
                    next_postfix = time.monotonic() + POSTFIX_INTERVAL_S
                    bar.set_postfix(in_flight=_in_flight(llm), failed=stats.failed,
                                    tok_s=f"{_rate(stats, bar):.0f}", refresh=False)
            refill()
    finally:
        for task in pending:
            task.cancel()
    return failed


async def _ask(llm: BaseLLM, problem: Problem, k: int, protocol: str = "") -> list | RequestFailed:
    """One problem's request(s); a failed request is returned as data, never raised."""
    try:
        return await llm.sample(protocols.messages(problem, protocol), k)
    except RequestFailed as exc:
        return exc


def _in_flight(llm: BaseLLM) -> int | str:
    limit = getattr(llm, "limit", None)  # tests may pass a stand-in without one
    return limit.in_flight if limit is not None else "?"


def _rate(stats: RunStats, bar: tqdm) -> float:
    elapsed = bar.format_dict.get("elapsed") or 0
    return stats.completion_tokens / elapsed if elapsed else 0.0
