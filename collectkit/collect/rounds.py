"""The online rounds of a collection: up to batch_size problems in flight, each appended as it
finishes, the failed ones again after a pause that doubles each round (run.collect drives them).
"""
from __future__ import annotations

import asyncio
import time
from collections import deque

from tqdm.auto import tqdm

from collectkit.tasks import protocols
from collectkit.collect.attempts import Recorder, RunStats
from collectkit.collect.settings import Settings
from collectkit.collect.faults import fatal_reason, redact_url
from collectkit.collect.client import BaseLLM, RequestFailed
from collectkit.collect.live_hooks import LiveFigures
from collectkit.tasks.load import Problem

# After this many problems in a row found no server, the run stops instead of spinning.
UNREACHABLE_STREAK_FACTOR = 2
# The progress bar's postfix (failures, tokens/s) is refreshed at most this often.
POSTFIX_INTERVAL_S = 0.5
MAX_ROUND_PAUSE_S = 60.0
# While no problem finishes (a busy machine, long answers), the postfix shows the requests in
# flight this often, so the bar says work is alive before the first problem completes.
ALIVE_INTERVAL_S = 2.0
HOLD_S = 0.05  # with a target, how often a run held back by grading looks again


async def rounds(todo: list[Problem], llm: BaseLLM, settings: Settings, recorder: Recorder,
                 progress: bool, live: LiveFigures | None = None) -> None:
    """The plan, then the problems that failed, again, after a pause that doubles each round,
    while they have attempts left; at most max_attempts rounds (uncounted failures too). With a
    target half-width the rows already in the file are graded first, failed problems are
    retried at once (the interval waits for them: it takes the seeded order), and the run stops
    once the target is reached."""
    stats = recorder.stats
    if live is not None and live.stops:
        await asyncio.to_thread(live.wait)
        if live.reached:
            stats.target_reached = True
            return
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
            failed = await _drain(todo, llm, settings, recorder, bar, live)
            todo = [p for p in failed if _may_retry(p, settings, recorder)]
            if stats.stopped_early or stats.target_reached or not todo:
                return
        if stats.failed and stats.failed == stats.unreachable:  # not one attempt was counted
            stats.stopped_early = (f"no server answered at {redact_url(settings.base_url)}: "
                                   f"{stats.unreachable_why or 'no connection'}; "
                                   f"{len(todo)} problem(s) wait for it, no attempt was counted")
    finally:
        _show(bar, stats, live=live)
        bar.refresh()
        bar.close()


def _may_retry(problem: Problem, settings: Settings, recorder: Recorder) -> bool:
    return (problem.unique_id not in recorder.stats.too_long
            and recorder.failures.get(problem.unique_id, 0) < settings.max_attempts)


def _show(bar: tqdm, stats: RunStats, llm: BaseLLM | None = None,
          live: LiveFigures | None = None, refresh: bool = False) -> None:
    """The bar's postfix: requests in flight, failures, tokens/s, each benchmark's figures."""
    shown = {"in_flight": _in_flight(llm)} if llm is not None else {}
    shown.update(failed=stats.failed, tok_s=f"{_rate(stats, bar):.0f}")
    bar.set_postfix(ordered_dict={**shown, **(live.postfix() if live else {})}, refresh=refresh)


async def _drain(todo: list[Problem], llm: BaseLLM, settings: Settings, recorder: Recorder,
                 bar: tqdm, live: LiveFigures | None = None) -> list[Problem]:
    """Keep up to batch_size problems in flight; the one writer appends each as it finishes.
    Returns the problems that failed."""
    queue = deque(todo)
    pending: dict[asyncio.Future, Problem | None] = {}  # None: a pause while grading catches up
    failed: list[Problem] = []
    stats = recorder.stats
    streak_limit = UNREACHABLE_STREAK_FACTOR * max(settings.batch_size, settings.max_concurrent)
    unreachable_streak = 0
    next_postfix = 0.0

    def refill() -> None:
        while (queue and len(pending) < settings.batch_size and not stats.stopped_early
               and not stats.target_reached):
            if live is not None and live.held():  # a target, and grading far behind: wait
                if not pending:
                    pending[asyncio.ensure_future(asyncio.sleep(HOLD_S))] = None
                return
            problem = queue.popleft()
            pending[asyncio.ensure_future(
                _ask(llm, problem, settings.k_responses, settings.protocol))] = problem

    try:
        refill()
        while pending:
            finished, _ = await asyncio.wait(pending, timeout=ALIVE_INTERVAL_S,
                                             return_when=asyncio.FIRST_COMPLETED)
            if live is not None:
                live.poll()
                if live.reached:  # every interval is narrow enough: what is in flight is not
                    stats.target_reached = True  # needed
                    break
            if not finished:  # nothing finished for a while: show the requests are out there
                _show(bar, stats, llm, live, refresh=True)
                continue
            for task in finished:
                problem = pending.pop(task)
                if problem is None:
                    continue
                outcome = task.result()
                if isinstance(outcome, list) and recorder.done(problem, outcome):
                    unreachable_streak = 0
                    bar.update(1)
                    continue
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
                if (live is not None and live.stops and not stats.stopped_early
                        and _may_retry(problem, settings, recorder)):
                    attempts = max(1, recorder.failures.get(problem.unique_id, 0))
                    pause = min(settings.retry_backoff_s * 2 ** (attempts - 1), MAX_ROUND_PAUSE_S)
                    pending[asyncio.ensure_future(_ask(llm, problem, settings.k_responses,
                                                       settings.protocol, pause))] = problem
                else:
                    failed.append(problem)
                if time.monotonic() >= next_postfix:  # formatting it per problem costs ~15 µs
                    next_postfix = time.monotonic() + POSTFIX_INTERVAL_S
                    _show(bar, stats, llm, live)
            refill()
    finally:
        for task in pending:
            task.cancel()
    return failed


async def _ask(llm: BaseLLM, problem: Problem, k: int, protocol: str = "",
               pause: float = 0.0) -> list | RequestFailed:
    """One problem's request(s), after `pause` seconds; a failed request is returned as data,
    never raised."""
    if pause:
        await asyncio.sleep(pause)
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
