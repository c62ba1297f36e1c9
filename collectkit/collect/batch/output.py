"""Batch output lines as the kit reads them: custom ids, lines that are not JSON, a provider's
reason for a failed batch, a local output file (`vllm run-batch -o`) checked line by line, and
the report of a merge. Text from a line is redacted before it is cut short (a key cut in two
would escape the redactor)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from openai.types.chat import ChatCompletion

from collectkit.store import jsonl
from collectkit.collect.faults import UNREACHABLE
from collectkit.store.redact import Redactor, shorten
from collectkit.collect.client import Completion, RequestFailed, _completions

ID_SEPARATOR = "::"


class BatchError(RuntimeError):
    """The provider's files/batches API refused or did not answer; the message says which."""


def custom_id(problem_id: str, first_sample: int) -> str:
    return f"{problem_id}{ID_SEPARATOR}{first_sample}"


def split_custom_id(value: str) -> tuple[str, int]:
    problem_id, _, first = value.rpartition(ID_SEPARATOR)
    return problem_id, int(first)


def problem_of(value: Any, known: set[str]) -> str | None:
    """The problem a custom_id names: `<problem id>::<index>`, or a bare problem id (a provider
    or tool that rewrote the id); None when it names none of `known`."""
    if not isinstance(value, str):
        return None
    if value in known:
        return value
    problem_id, separator, first = value.rpartition(ID_SEPARATOR)
    return problem_id if separator and first.isdigit() and problem_id in known else None


@dataclass
class BatchReport:
    submitted: list[str] = field(default_factory=list)  # batch ids started by this run
    submitted_problems: int = 0
    pending: list[str] = field(default_factory=list)  # batch ids still running
    pending_problems: int = 0  # problems of this run waiting in those batches
    merged: int = 0  # problems appended by this run
    failed: int = 0
    finished_batches: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [f"batch: {self.merged} problems merged, {self.failed} failed"]
        if self.submitted:
            parts.append(f"submitted {self.submitted_problems} problems as "
                         f"{', '.join(self.submitted)}")
        if self.pending:
            parts.append(f"waiting for {', '.join(self.pending)}: run the same command later "
                         "to merge")
        return "; ".join(parts)


class BadLine(str):
    """A line of a batch output file that is not JSON (the text says where and why)."""


def batch_errors(batch: Any) -> str:
    """The provider's reason for a failed batch (`errors.data[].message`), if it gave one."""
    data = getattr(getattr(batch, "errors", None), "data", None) or []
    return "; ".join(str(getattr(e, "message", e)) for e in data[:3])


def read_output_file(path: Path) -> list[dict]:
    """The lines of a batch output file; BatchError naming the file and line if it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchError(f"cannot read batch output {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise BatchError(f"cannot read batch output {path}: not UTF-8 text ({exc.reason} at "
                         f"byte {exc.start})") from None
    lines = []
    for number, raw in enumerate(jsonl.split_lines(text), 1):
        if raw.strip():
            try:
                line = json.loads(raw)
                split_custom_id(line["custom_id"])
            except (ValueError, KeyError, TypeError):
                raise BatchError(f"{path} line {number} is not a batch output line "
                                 "(JSON with custom_id \"<problem id>::<index>\")") from None
            lines.append(line)
    return lines


def missing_failure(batch_id: str, status: str, got: list[Completion], k: int, why: str,
                    unmatched: list[str]) -> RequestFailed:
    """The failure of a problem a batch did not answer in full: counted (the provider took
    it), except a problem an expired or cancelled batch never reached."""
    if status in ("expired", "cancelled") and not got:
        return RequestFailed(f"batch {batch_id} {status} before answering it; it goes into the "
                             "next batch", status=None, kind=UNREACHABLE)
    text = f"batch {batch_id} {'failed' if status == 'failed' else 'returned'}"
    text += f" ({why})" if status == "failed" and why else f" {len(got)} of {k} responses"
    if unmatched:
        text += f"; {len(unmatched)} output line(s) named no problem: {unmatched[0]}"
    return RequestFailed(text, status=200)


def read_line(problem_id: str, line: dict, samples: dict, errors: dict,
              check: Callable[[Any], None] | None = None, redact: Redactor | None = None) -> None:
    """One output line: its completions into samples[problem_id], or its error into errors
    (RequestFailed, ValueError or TypeError for a body the kit cannot store; `check(reply)`
    raises model_identity.WrongModel, a ValueError, for a reply from another model)."""
    response = line.get("response") or {}
    status = response.get("status_code")
    body = response.get("body") or {}
    if line.get("error") or status != 200 or not body.get("choices"):
        message = (line.get("error") or body.get("error") or {"message": "no choices"})
        text = message.get("message", str(message)) if isinstance(message, dict) else message
        errors[problem_id] = RequestFailed(f"{status} batch line: {shorten(text, 200, redact)}",
                                           status if isinstance(status, int) else None)
        return
    reply = ChatCompletion.model_validate(body)
    if check is not None:
        check(reply)
    samples.setdefault(problem_id, []).extend(_completions(reply))
