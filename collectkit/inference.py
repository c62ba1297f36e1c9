"""Collect k responses per problem: batches, bounded concurrency, one writer, resume, attempts.

Every finished problem is appended as soon as it finishes; failed attempts go to the errors file
as rows of their own. A rerun skips completed problems and retries failed ones until they reach
max_attempts; attempts where no server answered at all are not counted.
"""
from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import prompts, store
from .config import Settings
from .llm import BaseLLM, RequestFailed, create_llm, sampling_params
from .problems import Problem, file_tag, load_problems
from .run_manifest import check_signature, run_signature, write_manifest
from .serve import served_models

# After this many problems in a row found no server, the run stops instead of spinning.
UNREACHABLE_STREAK_FACTOR = 2
# The progress bar's postfix (failures, tokens/s) is refreshed at most this often.
POSTFIX_INTERVAL_S = 0.5


class CollectionError(RuntimeError):
    """The run cannot start or had to stop; the message says why and what to do."""


@dataclass
class RunStats:
    planned: int = 0
    done: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped_done: int = 0
    skipped_exhausted: int = 0
    responses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    stopped_early: str | None = None
    output_path: str = ""
    n_per_request: bool | None = None
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.wall_s if self.wall_s else 0.0

    def line(self) -> str:
        return (f"{self.done}/{self.planned} problems done, {self.failed} failed "
                f"({self.unreachable} unreachable, not counted), {self.skipped_done} already done, "
                f"{self.skipped_exhausted} out of attempts; {self.responses} responses, "
                f"{self.completion_tokens:,} tokens, {self.tokens_per_s:.1f} tokens/s, "
                f"wall {self.wall_s:.1f} s → {self.output_path}")


def default_output_path(settings: Settings) -> Path:
    model = re.sub(r"[^\w.-]+", "_", settings.model).strip("_")
    return Path(settings.output_dir) / f"{model}_{file_tag(settings.dataset)}.jsonl"


def check_server(settings: Settings) -> None:
    """In local mode, fail early with the command to start a server if none answers."""
    if settings.api_mode != "local":
        return
    models = served_models(settings.base_url, settings.resolve_api_key())
    if not models:
        raise CollectionError(
            f"no server answers at {settings.base_url}; start one with: python -m "
            f"collectkit.serve_llm --model {settings.model} --port {settings.server_port}")
    if settings.model not in models:
        raise CollectionError(f"the server at {settings.base_url} serves {', '.join(models)}, "
                              f"not {settings.model}; pass --model {models[0]}")


def run_collection(settings: Settings, problems: list[Problem] | None = None,
                   **kwargs: Any) -> RunStats:
    """Blocking entry point for scripts. Notebooks `await collect(...)` instead; called where an
    event loop already runs (a notebook cell), it runs the collection on its own loop in a worker
    thread and waits for it, so the running loop is never re-entered."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(collect(settings, problems, **kwargs))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="collectkit-collect") as pool:
        return pool.submit(asyncio.run, collect(settings, problems, **kwargs)).result()


async def collect(settings: Settings, problems: list[Problem] | None = None, *,
                  output_path: str | Path | None = None, retry_failed: bool = False,
                  allow_config_change: bool = False, llm: BaseLLM | None = None,
                  progress: bool = True) -> RunStats:
    path = Path(output_path) if output_path else default_output_path(settings)
    signature = run_signature(settings, sampling_params(settings), prompts)
    check_signature(path, signature, allow_config_change)
    check_server(settings)
    if problems is None:
        problems = load_problems(settings.dataset, settings.problem_limit,
                                 settings.dataset_source)
    stats = RunStats(output_path=str(path))
    with store.AppendWriter(path) as results, \
            store.AppendWriter(store.errors_path(path)) as errors:
        store.recover_torn_tail(path)
        store.recover_torn_tail(errors.path)
        failures = store.counted_failures(errors.path)
        todo = _plan(problems, store.completed_ids(path), failures, settings.max_attempts,
                     retry_failed, stats)
        llm = llm or create_llm(settings)
        write_manifest(path, settings, signature, stats, status="running")
        started = time.monotonic()
        try:
            await _drain(todo, llm, settings, results, errors, failures, stats, progress)
        finally:
            stats.wall_s = time.monotonic() - started
            stats.n_per_request = llm.supports_n
            write_manifest(path, settings, signature, stats,
                           status="interrupted" if stats.stopped_early else "finished")
            await llm.aclose()
    return stats


def _plan(problems: list[Problem], done: set[str], failures: dict[str, int], max_attempts: int,
          retry_failed: bool, stats: RunStats) -> list[Problem]:
    todo = []
    for problem in problems:
        if problem.unique_id in done:
            stats.skipped_done += 1
        elif failures.get(problem.unique_id, 0) >= max_attempts:
            stats.skipped_exhausted += 1
        elif not retry_failed or problem.unique_id in failures:
            todo.append(problem)
    stats.planned = len(todo)
    return todo


async def _drain(todo: list[Problem], llm: BaseLLM, settings: Settings,
                 results: store.AppendWriter, errors: store.AppendWriter,
                 failures: dict[str, int], stats: RunStats, progress: bool) -> None:
    """Keep up to batch_size problems in flight; the one writer appends each as it finishes."""
    queue = iter(todo)
    pending: dict[asyncio.Task, Problem] = {}
    streak_limit = UNREACHABLE_STREAK_FACTOR * max(settings.batch_size, settings.max_concurrent)
    unreachable_streak = 0
    bar = tqdm(total=len(todo), unit="problem", disable=not progress, dynamic_ncols=True)
    next_postfix = 0.0

    def refill() -> None:
        while len(pending) < settings.batch_size and not stats.stopped_early:
            problem = next(queue, None)
            if problem is None:
                return
            task = asyncio.ensure_future(llm.sample(prompts.build_messages(problem),
                                                    settings.k_responses))
            pending[task] = problem

    try:
        refill()
        while pending:
            finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                problem = pending.pop(task)
                error = task.exception()
                if error is None:
                    _record_done(problem, task.result(), settings, failures, results, stats)
                    unreachable_streak = 0
                else:
                    if not isinstance(error, RequestFailed):
                        raise error
                    _record_failure(problem, error, failures, errors, stats)
                    unreachable_streak = unreachable_streak + 1 if error.unreachable else 0
                    if unreachable_streak >= streak_limit and not stats.stopped_early:
                        stats.stopped_early = (f"no server answered for {unreachable_streak} "
                                               f"problems in a row at {settings.base_url}")
                bar.update(1)
                if time.monotonic() >= next_postfix:  # formatting it per problem costs ~15 µs
                    next_postfix = time.monotonic() + POSTFIX_INTERVAL_S
                    bar.set_postfix(failed=stats.failed, tok_s=f"{_rate(stats, bar):.0f}",
                                    refresh=False)
            refill()
    finally:
        for task in pending:
            task.cancel()
        bar.set_postfix(failed=stats.failed, tok_s=f"{_rate(stats, bar):.0f}", refresh=False)
        bar.close()


def _record_done(problem: Problem, completions: list, settings: Settings,
                 failures: dict[str, int], results: store.AppendWriter, stats: RunStats) -> None:
    responses = [c.record() for c in completions]
    results.append({**problem.record(), "responses": responses,
                    "attempts": failures.get(problem.unique_id, 0) + 1, "status": "ok",
                    "model": settings.model})
    stats.done += 1
    stats.responses += len(responses)
    for completion in completions:
        if completion.usage:
            stats.prompt_tokens += completion.usage.get("prompt_tokens") or 0
            stats.completion_tokens += completion.usage.get("completion_tokens") or 0


def _record_failure(problem: Problem, error: RequestFailed, failures: dict[str, int],
                    errors: store.AppendWriter, stats: RunStats) -> None:
    counted = not error.unreachable
    if counted:
        failures[problem.unique_id] = failures.get(problem.unique_id, 0) + 1
    errors.append({"unique_id": problem.unique_id,
                   "attempt": failures.get(problem.unique_id, 0), "counted": counted,
                   "error": str(error), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "partial_responses": [c.record() for c in error.partial]})
    stats.failed += 1
    stats.unreachable += not counted
    stats.failures[problem.unique_id] = str(error)


def _rate(stats: RunStats, bar: tqdm) -> float:
    elapsed = bar.format_dict.get("elapsed") or 0
    return stats.completion_tokens / elapsed if elapsed else 0.0
