"""--batch: the same problems, rows and results file, collected through an OpenAI-style batch API.

A run writes the open problems as batch JSONL (one line per problem with n=k in the body, or k
lines of n=1 where the provider rejects n; custom_id = "<problem id>::<first sample index>"),
uploads it (files.create, purpose "batch"), starts the batch (batches.create) and records its id
in `X.batch.json` beside the results. Any later run with the same command polls the recorded
batches, downloads finished output and appends each problem with all k responses through the one
results writer, exactly once (a problem already in the results file is never appended again, so a
run killed mid-merge just merges the rest). Problems whose lines failed are recorded as failed
attempts and go into the next batch. Paid output is never blocked by one odd line: a line that
is not JSON, has a custom_id of another shape or a body that is not a chat completion the kit
can store (or from another model) is an error row for its problem (or a warning, when no problem
can be told), and the good lines merge. A batch that ends `expired` or `cancelled` keeps what it
finished (the rest go into the next batch, not counted); one that ends `failed` counts as an
attempt for each of its problems, and a problem out of attempts is not submitted again.
The same JSONL (write_requests_file) is what `vllm run-batch -i FILE -o OUT --model M` reads
locally; batch_merge.merge_output_file merges OUT through the same merge. See docs/scaling.md.
"""
from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from collectkit.store import jsonl
from collectkit.store import append as store
from collectkit.collect.batch.client import BoundedClient
from collectkit.collect.batch.output import (BadLine, BatchError, BatchReport, batch_errors,  # noqa: F401
                           custom_id, missing_failure, problem_of, read_line, read_output_file,
                           split_custom_id)
from collectkit.collect.batch.requests import (ENDPOINT, batch_lines, request_body,  # noqa: F401 (the API)
                             write_jsonl, write_requests_file)
from collectkit.collect.settings import Settings
from collectkit.collect.endpoints import probe_listing
from collectkit.collect.faults import describe
from collectkit.collect.client import Completion, RequestFailed
from collectkit.collect.model_identity import ModelIdentity
from collectkit.store.redact import Redactor, redact_url, shorten
from collectkit.tasks.load import Problem

log = logging.getLogger("collectkit")

FINISHED = {"completed", "failed", "expired", "cancelled"}
# Providers known to reject n > 1 in a request body (DESIGN.md: Gemini 3).
REJECTS_N = ("gemini-3",)


def state_path(results: Path) -> Path:
    return store.batch_state_path(results)


class BatchDriver:
    """Polls, merges and submits; `record_done` / `record_failure` are the collection path's own
    row writers (inference.py), so batch rows are the same rows."""

    def __init__(self, settings: Settings, results_path: Path, client: openai.OpenAI,
                 record_done, record_failure, attempts_used=lambda problem_id: 0,
                 redact: Redactor | None = None) -> None:
        self.settings, self.path, self.client = settings, results_path, client
        self.redact = redact or Redactor()  # before a text is cut short, printed or stored
        self.record_done, self.record_failure = record_done, record_failure
        self.attempts_used = attempts_used  # counted failures of a problem so far
        self.state_file = state_path(results_path)
        self.state = store.read_json(self.state_file) or {"batches": []}
        self.identity = ModelIdentity(settings.model, self.redact)  # which model answered

    def check_model(self, reply: Any) -> None:
        """WrongModel for a reply from a model the batch API does not serve as --model (its
        /v1/models asked when a reply names another; a local output file: --model only)."""
        url = self.settings.base_urls[0] if self.client is not None else ""
        self.identity.check(url or self.path.name, reply.model, reply.system_fingerprint,
                            ask=(lambda: probe_listing(url, self.settings.resolve_api_key()))
                            if url else None)

    def save(self) -> None:
        store.write_json_atomic(self.state_file, self.state)

    def pending_problem_ids(self) -> set[str]:
        return {pid for b in self.state["batches"] if b["status"] not in FINISHED | {"merged"}
                for pid in b["problem_ids"]}

    def n_per_line(self) -> bool:
        learnt = self.state.get("n_per_line")
        if learnt is not None:
            return learnt
        return not self.settings.model.rsplit("/", 1)[-1].lower().startswith(REJECTS_N)

    def poll_and_merge(self, problems: dict[str, Problem], report: BatchReport) -> None:
        for entry in self.state["batches"]:
            if entry["status"] == "merged" or entry["status"] in FINISHED - {"completed"}:
                continue
            batch = self.client.batches.retrieve(entry["id"])
            entry["status"] = batch.status
            if batch.status in FINISHED:
                if batch.status != "completed":
                    log.warning("batch %s ended %s; %s", entry["id"], batch.status,
                                "each of its problems counts one attempt" if batch.status ==
                                "failed" else "what it finished is kept, the rest go into the "
                                "next batch")
                self._merge(entry, batch, problems, report)
                entry["status"] = "merged"
                report.finished_batches.append(entry["id"])
            else:
                report.pending.append(entry["id"])
            self.save()

    def _merge(self, entry: dict, batch: Any, problems: dict[str, Problem],
               report: BatchReport) -> None:
        lines: list[Any] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for number, raw in enumerate(jsonl.split_lines(self.client.files.content(file_id).text), 1):
                if raw.strip():
                    try:
                        lines.append(json.loads(raw))
                    except ValueError as exc:
                        lines.append(BadLine(f"{file_id} line {number} is not JSON ({exc})"))
        self.merge_lines(entry, lines, problems, report, status=batch.status,
                         why=batch_errors(batch))

    def merge_lines(self, entry: dict, lines: list[Any], problems: dict[str, Problem],
                    report: BatchReport, status: str = "completed", why: str = "") -> None:
        """Append each of entry's problems from batch output lines (a downloaded output file
        or `vllm run-batch -o`): all k responses, or a failure (counted, except for problems an
        expired or cancelled batch never reached); once per problem."""
        k = self.settings.k_responses
        done = store.completed_ids(self.path, k)
        samples: dict[str, list[Completion]] = {}
        errors: dict[str, RequestFailed] = {}
        known = set(entry["problem_ids"])
        unmatched = []
        for number, line in enumerate(lines, 1):
            named = line.get("custom_id") if isinstance(line, dict) else None
            problem_id = problem_of(named, known)
            if problem_id is None:
                shown = shorten(line if named is None else named, 200, self.redact)
                unmatched.append(str(line) if isinstance(line, BadLine) else f"output line "
                                 f"{number} names no problem of this batch (custom_id {shown})")
                continue
            try:
                read_line(problem_id, line, samples, errors, self.check_model, self.redact)
            except (RequestFailed, ValueError, TypeError, AttributeError) as exc:
                errors[problem_id] = RequestFailed(f"batch output line {number}: "
                                                   f"{shorten(exc, 200, self.redact)}",
                                                   status=200)
        for bad in unmatched[:3]:
            log.warning("batch %s: %s; skipped", entry["id"], bad)
        rejected_n = 0
        for problem_id in entry["problem_ids"]:
            problem = problems.get(problem_id)
            if problem is None or problem_id in done:
                continue  # merged before (a run killed mid-merge), or not in this run's set
            got = samples.get(problem_id, [])
            if len(got) >= k and problem_id not in errors:
                self.record_done(problem, got[:k])
                report.merged += 1
            else:
                error = errors.get(problem_id) or missing_failure(entry["id"], status, got, k,
                                                                  why, unmatched)
                error.partial = got
                rejected_n += error.status in (400, 422) and entry.get("n_per_line", True)
                self.record_failure(problem, error)
                report.failed += 1
        if rejected_n and rejected_n == report.failed and entry.get("n_per_line", True):
            self.state["n_per_line"] = False  # the provider rejects n: next batch sends k lines
            log.warning("batch %s: requests with n=%d were rejected; the next batch sends "
                        "%d requests per problem", entry["id"], k, k)

    def submit(self, problems: list[Problem], report: BatchReport) -> None:
        n_per_line = self.n_per_line()
        lines = batch_lines(problems, self.settings, n_per_line)
        data = write_jsonl(lines)
        requests_file = self.path.with_name(f"{self.path.stem}.batch-{len(self.state['batches'])}"
                                            ".requests.jsonl")
        store.write_text_atomic(requests_file, data.decode())
        uploaded = self.client.files.create(file=(requests_file.name, io.BytesIO(data)),
                                            purpose="batch")
        batch = self.client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                                           completion_window="24h",
                                           metadata={"collectkit_results": self.path.name})
        self.state["batches"].append({
            "id": batch.id, "status": batch.status, "input_file_id": uploaded.id,
            "requests_file": requests_file.name, "n_per_line": n_per_line,
            "problem_ids": [p.unique_id for p in problems], "lines": len(lines),
            "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        self.save()
        report.submitted.append(batch.id)
        report.submitted_problems += len(problems)
        report.pending.append(batch.id)
        log.warning("submitted batch %s: %d problems, %d requests (%s)", batch.id, len(problems),
                    len(lines), f"n={self.settings.k_responses}" if n_per_line else "n=1 each")

    def run(self, todo: list[Problem], all_problems: list[Problem], wait_s: float = 0.0,
            poll_interval: float = 5.0) -> BatchReport:
        """Merge what finished, submit what is neither done nor pending, optionally wait."""
        report = BatchReport()
        by_id = {p.unique_id: p for p in all_problems}
        self.poll_and_merge(by_id, report)
        done = store.completed_ids(self.path, self.settings.k_responses)
        pending = self.pending_problem_ids()
        fresh = [p for p in todo if p.unique_id not in done and p.unique_id not in pending
                 and self.attempts_used(p.unique_id) < self.settings.max_attempts]
        if fresh:
            self.submit(fresh, report)
        deadline = time.monotonic() + wait_s
        while report.pending and time.monotonic() < deadline:
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
            report.pending.clear()
            self.poll_and_merge(by_id, report)
        waiting = self.pending_problem_ids() - store.completed_ids(self.path,
                                                                   self.settings.k_responses)
        report.pending_problems = len(waiting & {p.unique_id for p in todo})
        return report


@dataclass(frozen=True)
class BatchMode:
    """collect(..., batch=BatchMode()): wait up to wait_s for running batches, polling every
    poll_s seconds (0: submit or merge, then return)."""
    wait_s: float = 0.0
    poll_s: float = 5.0
    output_file: Path | None = None  # merge this local output (batch_merge), no API

    def drive(self, settings: Settings, path: Path, recorder: Any, todo: list[Problem],
              problems: list[Problem]) -> "BatchReport":
        """collect() runs the batch through this method, so inference never imports this
        module at run time: no import circle."""
        return drive(settings, path, recorder, todo, problems, self)


def drive(settings: Settings, path: Path, recorder: Any, todo: list[Problem],
          problems: list[Problem], mode: BatchMode) -> BatchReport:
    """Run the batch driver with the run's Recorder (blocking: collect() runs it in a thread)."""
    if mode.output_file is not None:
        report = BatchReport()
        driver = BatchDriver(settings, path, None, recorder.done, recorder.failed,
                             redact=recorder.redact)
        driver.merge_lines({"id": mode.output_file.name, "problem_ids": [p.unique_id for p in todo]},
                           read_output_file(mode.output_file),
                           {p.unique_id: p for p in problems}, report)
        recorder.stats.models = driver.identity.report()
        return report
    # each whole call bounded by --request_timeout (a trickling API cannot hold the run)
    client = BoundedClient(settings.base_urls[0], settings.resolve_api_key(),
                           timeout=settings.request_timeout, max_retries=settings.max_retries)
    with client:
        driver = BatchDriver(settings, path, client, recorder.done, recorder.failed,
                             lambda problem_id: recorder.failures.get(problem_id, 0),
                             redact=recorder.redact)
        try:
            return driver.run(todo, problems, wait_s=mode.wait_s, poll_interval=mode.poll_s)
        except openai.APIError as exc:  # after the SDK's retries; what was merged is kept
            cause = " ".join(describe(exc).split())  # one line
            raise BatchError(f"the batch API at {redact_url(settings.base_urls[0])} failed: "
                             f"{recorder.redact(cause)}") from None
        finally:
            recorder.stats.models = driver.identity.report()
