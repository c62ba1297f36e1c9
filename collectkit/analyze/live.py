"""Live figures while a run collects: each finished problem graded as it arrives, per benchmark
accuracy with an anytime-valid interval, unparsed and cut-off shares, and the target half-width.

Rows are graded by grade.grading.grade_rows (the extraction and grading of `collectkit extract`,
its defaults) in one worker process of its own, started with `spawn` (math-verify's timeouts
use signal.alarm, which needs a process's main thread; spawn inherits none of the collector's
threads) and at a lower priority than the collector and a local engine. The collector only
hands rows over, in batches: grading never waits on it, nor it on grading.

Each benchmark's interval (analyze.sequences: a betting confidence sequence) takes the
problems' scores in the selection's seeded order (tasks.load: the order --num_problems draws),
never in the order they happen to finish: a score joins once every problem before it has joined
or is out of attempts (those are listed as skipped). So the problems behind the interval are
always a prefix of the seeded order, an unbiased sample whenever the run stops. Rows already in
the file (a rerun) are graded first, in the worker, from the file itself.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_for
from pathlib import Path
from typing import Any, Callable, Iterable

from collectkit.analyze.live_tally import Benchmark, Summary, report_lines
from collectkit.analyze.sequences import interval_name
from collectkit.grade.workers import die_with_parent

__all__ = ["LiveFigures", "LiveGrader", "live_figures", "report_lines", "grade_summaries",
           "grade_file"]

LIVE_LOGGER = "collectkit.live"
log = logging.getLogger(LIVE_LOGGER)

LOG_INTERVAL_S = 30.0  # the periodic log line (collectkit run prints it)
SUBMIT_INTERVAL_S = 0.25  # rows are handed to the worker at most this often …
SUBMIT_ROWS = 64  # … or once this many wait
MAX_LEAD = 128  # with a target, the collector waits while more rows than this await grades
WORKER_NICE = 19  # grading takes the CPU only the collector and a local engine leave


def _start_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    try:
        os.nice(WORKER_NICE)
    except OSError:
        pass


def warm_up() -> list[Summary]:
    """In the worker: load grading and math-verify before the first rows come."""
    import math_verify  # noqa: F401

    from collectkit.grade import grading  # noqa: F401

    return []


def grade_summaries(rows: list[dict[str, Any]]) -> list[Summary]:
    """In the worker: grade the rows as `collectkit extract` does, keep what the figures need."""
    from collectkit.grade.grading import grade_rows

    summaries = []
    for row in grade_rows(rows, workers=0):
        responses = row["responses"]
        n = len(responses)
        summaries.append((str(row["unique_id"]),
                          sum(bool(r.get("is_correct")) for r in responses) / n if n else 0.0,
                          sum(r.get("extracted_answer") is None for r in responses),
                          sum(r.get("finish_reason") == "length" for r in responses), n))
    return summaries


def grade_file(path: str, ids: set[str]) -> list[Summary]:
    """In the worker: the rows of `ids` already in a results file (a rerun's), graded."""
    from collectkit.store.results import read_results_counting

    rows, _ = read_results_counting(Path(path), allow_empty=True)
    return grade_summaries([slim(row) for row in rows if str(row.get("unique_id")) in ids])


def slim(row: dict[str, Any]) -> dict[str, Any]:
    """What grading reads of a row: its fields, and of each response its text and ending."""
    return {**row, "responses": [{"full_response": r.get("full_response"),
                                  "finish_reason": r.get("finish_reason")}
                                 for r in row.get("responses") or []]}


def live_figures(settings: Any, problems: Iterable[Any], path: Path, done: set[str],
                 recorder: Any, compare: dict[str, float] | None = None) -> LiveFigures:
    """The figures of a run about to collect into `path` (`done`: the ids already there),
    fed by the recorder's rows; a problem out of attempts or too long for the context is
    skipped by the intervals. `compare`: the --compare-with run's score per problem."""
    stats = recorder.stats

    def gone(uid: str) -> bool:
        return uid in stats.too_long or recorder.failures.get(uid, 0) >= settings.max_attempts

    live = LiveFigures(problems, gone, settings.target_halfwidth, compare,
                       settings.target_difference, settings.compare_with)
    live.preload(path, done)
    recorder.on_row = live.add
    return live


class LiveGrader:
    """Live grading as collect.run takes it from its caller (collect/live_hooks.py's
    LiveGrading): `collectkit.collect` and `collectkit run` pass one in."""

    def figures(self, settings: Any, problems: Iterable[Any], path: Path, done: set[str],
                recorder: Any, compare: dict[str, float] | None) -> LiveFigures:
        return live_figures(settings, problems, path, done, recorder, compare)

    def compare_scores(self, path: Path) -> dict[str, float]:
        from collectkit.grade.problem_scores import scores_by_problem

        return {uid: score for uid, (_, score) in scores_by_problem(path).items()}


class LiveFigures:
    """The collector's side: `add(row)` as rows are written, `poll()` often (cheap), `reached`
    once every benchmark meets the targets, `close()` at the end."""

    def __init__(self, problems: Iterable[Any], gone: Callable[[str], bool],
                 target_halfwidth: float = 0.0, compare: dict[str, float] | None = None,
                 target_difference: float = 0.0, compare_with: str = "") -> None:
        self.gone, self.target = gone, target_halfwidth
        self.target_difference, self.compare_with = target_difference, compare_with
        self.benchmarks: dict[str, Benchmark] = {}
        self._owner: dict[str, tuple[Benchmark, int]] = {}  # id → its benchmark, its place
        for problem in problems:
            bench = self.benchmarks.setdefault(str(problem.dataset), Benchmark(
                str(problem.dataset), [], other=compare))
            self._owner[problem.unique_id] = bench, len(bench.order)
            bench.order.append(problem.unique_id)
        self._pool = ProcessPoolExecutor(max_workers=1, initializer=_start_worker,
                                         initargs=(os.getpid(),),
                                         mp_context=multiprocessing.get_context("spawn"))
        self._buffer: list[dict[str, Any]] = []
        self._preloading: Future | None = None
        # with a target the worker starts now, and the run waits until it is ready (wait());
        # otherwise with the first rows (math-verify loads when a math answer needs it)
        self._futures: list[Future] = [self._pool.submit(warm_up)] if (
            target_halfwidth or target_difference) else []
        self._next_submit = self._next_log = time.monotonic()
        self._next_log += LOG_INTERVAL_S
        self.failed: str | None = None  # why grading stopped, if it did
        self.handed = self.graded = 0  # rows of this run handed to the worker, graded

    def preload(self, path: Path, done: set[str]) -> None:
        """Grade the rows of this selection already in the results file (in the worker)."""
        ids = {uid for uid in done if uid in self._owner}
        if ids:
            self._preloading = self._pool.submit(grade_file, str(path), ids)
            self._futures.append(self._preloading)

    def add(self, row: dict[str, Any]) -> None:
        if str(row.get("unique_id")) in self._owner:
            self._buffer.append(slim(row))
            self.handed += 1

    def held(self) -> bool:
        """With a target: grading is more than MAX_LEAD rows behind, and the collector waits
        for it (collecting on would spend on problems the target may not need)."""
        return self.stops and self.failed is None and (
            self.handed - self.graded > MAX_LEAD)

    def poll(self) -> None:
        now = time.monotonic()
        if self._buffer and (len(self._buffer) >= SUBMIT_ROWS or now >= self._next_submit):
            self._submit(now)
        if any(future.done() for future in self._futures):
            self._collect([f for f in self._futures if f.done()])
        if now >= self._next_log:
            self._next_log = now + LOG_INTERVAL_S
            log.info("%s", self.line())

    def wait(self, timeout_s: float | None = None) -> None:
        """Until every row handed over is graded (or timeout_s passes)."""
        if self._buffer:
            self._submit(time.monotonic())
        done, _ = wait_for(self._futures, timeout=timeout_s)
        self._collect(list(done))

    def _submit(self, now: float) -> None:
        if self.failed is None:
            self._futures.append(self._pool.submit(grade_summaries, self._buffer))
        else:
            self.graded += len(self._buffer)
        self._buffer, self._next_submit = [], now + SUBMIT_INTERVAL_S

    def _collect(self, finished: list[Future]) -> None:
        for future in finished:
            self._futures.remove(future)
            try:
                summaries = future.result()
                self.graded += len(summaries) if future is not self._preloading else 0
            except Exception as exc:  # a broken worker: figures stop, collection goes on
                if self.failed is None:
                    self.failed = f"{type(exc).__name__}: {exc}"
                    log.warning("live grading stopped (%s); the run goes on without it",
                                self.failed)
                continue
            for summary in summaries:
                bench, place = self._owner.get(summary[0], (None, 0))
                if bench is not None and place >= bench.position:  # not counted yet
                    bench.waiting[summary[0]] = summary
        for bench in self.benchmarks.values():
            bench.advance(self.gone)

    @property
    def stops(self) -> bool:
        """A target is set: the run stops once it is reached."""
        return bool(self.target or self.target_difference)

    def _met(self, bench: Benchmark) -> bool:
        return ((not self.target or bench.sequence.halfwidth < self.target)
                and (not self.target_difference or bench.settled(self.target_difference)))

    @property
    def reached(self) -> bool:
        """Every benchmark meets the targets (or is out of problems), one at least meets them:
        its half-width below target_halfwidth; its paired difference's interval excluding 0 or
        narrower than ± target_difference."""
        met = [self._met(b) for b in self.benchmarks.values()]
        return self.stops and any(met) and all(
            ok or b.exhausted for ok, b in zip(met, self.benchmarks.values()))

    def reached_reason(self) -> str:
        """The manifest's reason for a run the targets stopped."""
        shown = ", ".join(f"{name} ±{b.sequence.halfwidth:.4f}" + (
            f", difference {b.difference.mean:+.4f} [{b.difference.interval[0]:+.4f}, "
            f"{b.difference.interval[1]:+.4f}]" if b.other is not None else "")
            + f" over {b.sequence.n} problems" + ("" if self._met(b) else ", out of problems")
            for name, b in self.benchmarks.items())
        which = " and ".join(f"{name} reached (±{value:g})" for name, value in (
            ("target_halfwidth", self.target), ("target_difference", self.target_difference))
            if value)
        return f"{which}: every benchmark meets it ({shown}; {interval_name()})"

    def postfix(self) -> dict[str, str]:
        return {name: bench.short() for name, bench in self.benchmarks.items()}

    def line(self) -> str:
        return "live: " + "; ".join(b.text() for b in self.benchmarks.values())

    def report(self) -> dict[str, Any]:
        """For the manifest (RunStats.live) and the final lines."""
        return {"interval": interval_name(), "target_halfwidth": self.target,
                "target_difference": self.target_difference, "compare_with": self.compare_with,
                "reached": self.reached, "grading_failed": self.failed,
                "benchmarks": {name: b.entry() for name, b in self.benchmarks.items()}}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
