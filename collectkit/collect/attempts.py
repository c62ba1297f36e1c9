"""One problem's outcome → one row: a results row with exactly k responses, or an error row.

The rows are the only thing a run writes besides its manifest; every text that came from a server
passes through the run's Redactor first. RunStats holds the run's figures (the manifest's `runs`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from collectkit.store import jsonl
from collectkit.store import append as store
from collectkit.collect.faults import TOO_LONG, Redactor
from collectkit.collect.client import Completion, RequestFailed
from collectkit.tasks.load import Problem
from collectkit.collect.truncation import truncation_warnings


@dataclass
class RunStats:
    planned: int = 0
    done: int = 0
    failed: int = 0  # failed attempts (error rows) in this run
    unreachable: int = 0  # of which no server answered (not counted)
    unfinished: int = 0  # problems of the selection still without a result at the end
    rounds: int = 0
    skipped_done: int = 0
    skipped_exhausted: int = 0
    responses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    stopped_early: str | None = None
    fatal: bool = False  # stopped by a 401/403/404: the run's cause, not a problem's
    output_path: str = ""
    n_per_request: bool | None = None
    endpoints: list[dict[str, Any]] = field(default_factory=list)  # requests served per URL
    concurrency: dict[str, Any] = field(default_factory=dict)  # final / lowest in-flight limit
    # replies per answering model and system_fingerprint, what each endpoint lists, changes
    models: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] | None = None  # tokens × price (pricing.run_cost)
    batch: dict[str, Any] | None = None  # --batch: ids submitted, pending, merged
    failures: dict[str, str] = field(default_factory=dict)
    # per dataset: [responses that stopped on max_tokens, responses] written in this run
    truncated: dict[str, list[int]] = field(default_factory=dict)
    unreachable_why: str = ""  # the last unreachable failure's cause, in a few words
    # problems whose prompt + max_tokens exceed the server's context (id → why), not retried
    too_long: dict[str, str] = field(default_factory=dict)
    live: dict[str, Any] | None = None  # the live figures at the end (analyze.live: LiveFigures.report)
    target_reached: bool = False  # stopped because every half-width is below the target
    not_needed: int = 0  # problems left uncollected because the target was reached

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.wall_s if self.wall_s else 0.0

    def line(self) -> str:
        needless = f", {self.not_needed} not needed" if self.not_needed else ""
        return (f"{self.done}/{self.planned} problems done, {self.unfinished} unfinished"
                f"{needless}; {self.failed} failed attempts ({self.unreachable} unreachable, "
                f"not counted) "
                f"in {self.rounds} round(s), {self.skipped_done} already done, "
                f"{self.skipped_exhausted} out of attempts; {self.responses} responses, "
                f"{self.completion_tokens:,} tokens, {self.tokens_per_s:.1f} tokens/s, "
                f"wall {self.wall_s:.1f} s → {self.output_path}")

    def truncation_warnings(self, max_tokens: int | None) -> list[str]:
        """'83 % of MATH-500 responses hit --max_tokens 96 …' per benchmark with a large share."""
        return truncation_warnings({name: (cut, total) for name, (cut, total)
                                    in self.truncated.items()}, max_tokens)


def context_advice(stats: RunStats, max_tokens: int, limit: int = 5) -> str:
    """Which problems do not fit the server's context and what to change ("" if none)."""
    if not stats.too_long:
        return ""
    ids = list(stats.too_long)
    shown = ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
    return (f"{len(ids)} problem(s) do not fit the server's context ({shown}; "
            f"{stats.too_long[ids[0]]}): start the server with a larger --max-model-len, lower "
            f"--max_tokens (now {max_tokens}), or use a shorter --protocol (e.g. "
            f"mmlu_pro_zero_shot instead of the 5-shot mmlu_pro_official); not retried, "
            f"no attempt counted")


def row_tail(sampling: dict[str, Any]) -> bytes:
    """How every results line this run writes ends: its sampling settings, then its status.

    A resume recognises a whole row of the same settings by this tail without parsing it
    (store.scan_results), so `sampling` and `status` must stay the last two keys of result_row."""
    return (", " + jsonl.dumps({"sampling": sampling, "status": "ok"})[1:] + "\n").encode()


def redacted_record(completion: Completion, redact: Redactor) -> dict[str, Any]:
    """A response as stored: every text passed through the run's Redactor (a server may echo
    the key inside a completion)."""
    return {name: redact(value) if isinstance(value, str) else value
            for name, value in completion.record().items()}


def result_row(problem: Problem, completions: list[Completion], attempts: int, model: str,
               sampling: dict[str, Any], redact: Redactor = str) -> dict[str, Any]:
    return {**problem.record(), "responses": [redacted_record(c, redact) for c in completions],
            "attempts": attempts, "model": model, "sampling": sampling, "status": "ok"}


def error_row(problem: Problem, error: RequestFailed, attempt: int, counted: bool,
              redact: Redactor) -> dict[str, Any]:
    return {"unique_id": problem.unique_id, "attempt": attempt, "counted": counted,
            "kind": error.kind, "status": error.status, "error": redact(str(error)),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "partial_responses": [redacted_record(c, redact) for c in error.partial]}


class Recorder:
    """Appends each outcome through the single writers and keeps the counts."""

    def __init__(self, results: store.AppendWriter, errors: store.AppendWriter,
                 failures: dict[str, int], stats: RunStats, k: int, model: str,
                 sampling: dict[str, Any], redact: Redactor) -> None:
        self.results, self.errors, self.failures, self.stats = results, errors, failures, stats
        self.k, self.model, self.sampling, self.redact = k, model, sampling, redact
        self.on_row: Callable[[dict[str, Any]], None] | None = None  # each row once written

    def done(self, problem: Problem, completions: list[Completion]) -> bool:
        """Write the problem's row if it has exactly k responses; otherwise a counted failure."""
        if len(completions) != self.k:
            self.failed(problem, RequestFailed(
                f"got {len(completions)} of {self.k} responses", status=200,
                partial=completions))
            return False
        row = result_row(problem, completions, self.failures.get(problem.unique_id, 0) + 1,
                         self.model, self.sampling, self.redact)
        self.results.append(row)
        if self.on_row is not None:
            self.on_row(row)
        stats = self.stats
        stats.done += 1
        stats.responses += len(completions)
        counts = stats.truncated.setdefault(str(problem.dataset), [0, 0])
        counts[0] += sum(c.finish_reason == "length" for c in completions)
        counts[1] += len(completions)
        for completion in completions:
            if completion.usage:
                stats.prompt_tokens += completion.usage.get("prompt_tokens") or 0
                stats.completion_tokens += completion.usage.get("completion_tokens") or 0
        return True

    def failed(self, problem: Problem, error: RequestFailed) -> None:
        """An error row; counted against --max_attempts unless no server answered or the cause
        is the run's own (fatal)."""
        counted = not error.unreachable and not error.fatal and error.kind != TOO_LONG
        if error.kind == TOO_LONG:
            self.stats.too_long[problem.unique_id] = self.redact(str(error))
        if counted:
            self.failures[problem.unique_id] = self.failures.get(problem.unique_id, 0) + 1
        row = error_row(problem, error, self.failures.get(problem.unique_id, 0), counted,
                        self.redact)
        self.errors.append(row)
        self.stats.failed += 1
        self.stats.unreachable += error.unreachable
        if error.unreachable and error.why:
            self.stats.unreachable_why = error.why
        self.stats.failures[problem.unique_id] = row["error"]
