"""What a benchmark is: its Problem rows, its answer kind, its protocols and where its rows live.

A Benchmark is data, not code paths: grading switches on a row's `answer_kind`, prompts on the
protocol family ("mcq" or "open"), never on a benchmark's name. Adding a benchmark = one module
in this package that builds a Benchmark, one line in registry.py, and its tests.

Answer kinds: `letter` (multiple choice, graded by the gold option's letter), `math` (a LaTeX
expression, graded by math-verify), `number` (a plain number such as GSM8K's or AIME's, graded
by value: "1,000" = "1000", "025" = "25"), `exact` (text, graded by its normalized spelling).
"""
from __future__ import annotations

import gzip
import json
import os
import socket
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from collectkit.store import jsonl
from collectkit.store.redact import shorten

LETTERS = "ABCDEFGHIJ"
ANSWER_KINDS = ("letter", "math", "number", "exact")
FAMILIES = ("mcq", "open")  # how a problem is asked: with options, or open-ended


class ProblemError(ValueError):
    """A dataset cannot be read, or one of its rows is missing a field or has a wrong one."""


@dataclass(frozen=True)
class Problem:
    unique_id: str
    dataset: str
    question: str
    choices: tuple[str, ...] | None
    choice_index_correct: int | None
    explanation_correct: str | None
    answer_correct: str
    category: str
    level: int | None = None
    subject: str | None = None
    answer_kind: str = ""  # "" → letter for multiple choice, else math

    def __post_init__(self) -> None:
        if not self.answer_kind:
            object.__setattr__(self, "answer_kind", "letter" if self.choices is not None
                               else "math")
        if self.answer_kind not in ANSWER_KINDS:
            raise ValueError(f"answer_kind must be one of {', '.join(ANSWER_KINDS)}, "
                             f"not {self.answer_kind!r}")

    @property
    def is_mcq(self) -> bool:
        return self.choices is not None

    @property
    def family(self) -> str:
        return "mcq" if self.is_mcq else "open"

    def record(self) -> dict[str, Any]:
        """The problem's fields as they appear in a results line (unique_id first)."""
        return {"unique_id": self.unique_id, "dataset": self.dataset, "problem": self.question,
                "is_mcq": self.is_mcq, "answer_kind": self.answer_kind,
                "choices": list(self.choices) if self.choices is not None else None,
                "choice_index_correct": self.choice_index_correct,
                "explanation_correct": self.explanation_correct,
                "answer_correct": self.answer_correct, "category": self.category,
                "level": self.level, "subject": self.subject}


Mapper = Callable[[dict], Problem]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: where its rows come from and how a row becomes a Problem."""
    name: str  # the --dataset name, and each row's `dataset`
    label: str  # for plots and tables
    file_tag: str  # its part of the default results file name
    answer_kind: str  # letter | math | number | exact | mixed (per row: your own files)
    mapper: Mapper
    default_protocols: Mapping[str, str]  # family ("mcq"/"open") → protocol name
    categories: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    hub_id: str | None = None
    hub_config: str | None = None
    revision: str | None = None  # a pinned commit of the Hub dataset
    split: str = "test"
    bundled: str | None = None  # a gzipped JSONL in collectkit/data
    size: int | None = None  # rows
    license: str = ""
    shuffle_seed: int | None = None  # options shuffled with this seed (GPQA)
    reader: Callable[[str], Iterable[Any]] | None = None  # own files: rows for a source
    extra: Mapping[str, Any] = field(default_factory=dict)  # recorded in the manifest

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.default_protocols)

    @property
    def source(self) -> str:
        if self.reader is not None:
            return str(self.extra.get("path") or self.hub_id)
        where = f"{self.hub_id}" + (f":{self.hub_config}" if self.hub_config else "")
        return (f"bundled (Hub: {where})" if self.bundled else f"Hub: {where}")

    def rows(self, source: str = "bundled") -> Iterable[Any]:
        """The raw rows: a bundled copy when there is one and `source` is bundled, else the
        Hub at the pinned revision (or the benchmark's own reader: files, hf: specs)."""
        if self.reader is not None:
            return self.reader(source)
        if self.bundled and source == "bundled":
            return read_bundled(self.name, self.bundled)
        return hub_rows(self.name, self.hub_id or "", self.hub_config, self.revision, self.split)

    def problems(self, rows: Iterable[Any]) -> list[Problem]:
        """Rows → Problems; a bad row, or a unique_id seen before, is one ProblemError naming
        where it is (the benchmark and row, or a file's line) and the field."""
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        for number, row in enumerate(rows, 1):
            where = f"{self.name} row {number}"
            if isinstance(row, Located):
                where, row = row.where, row.row
            problem = mapped(self.mapper, row, self.name, number, where)
            first = seen.setdefault(problem.unique_id, where)
            if first != where:
                raise ProblemError(f"{where}: field 'unique_id' {problem.unique_id!r} repeats "
                                   f"{first}")
            problems.append(problem)
        return problems

    def manifest_entry(self) -> dict[str, Any]:
        entry = {"name": self.name, "answer_kind": self.answer_kind, "hub_id": self.hub_id,
                 "config": self.hub_config, "revision": self.revision, "split": self.split,
                 "bundled": self.bundled}
        if self.shuffle_seed is not None:
            entry["shuffle_seed"] = self.shuffle_seed
        return {**entry, **self.extra}


@dataclass(frozen=True)
class Located:
    """A raw row with where it was read ("data.jsonl line 3"), for error messages."""
    where: str
    row: Any


def mapped(mapper: Mapper, row: Any, name: str, number: int, where: str = "") -> Problem:
    where = where or f"{name} row {number}"
    if not isinstance(row, dict):
        raise ProblemError(f"{where}: expected an object, got {type(row).__name__}")
    try:
        return mapper(row)
    except KeyError as exc:
        raise ProblemError(f"{where}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ProblemError(f"{where}: {exc}") from None


def text(row: dict, key: str) -> str:
    value = row[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {key!r} must be a non-empty string")
    return value


def read_bundled(name: str, filename: str) -> Iterator[dict]:
    path = resources.files("collectkit") / "data" / filename
    with path.open("rb") as raw, gzip.open(raw, "rb") as lines:
        for number, line in jsonl.decoded_lines(lines):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProblemError(f"{name} line {number}: not valid JSON ({exc.msg})") from None


def hub_rows(name: str, hub_id: str, config: str | None, revision: str | None,
             split: str) -> Iterable[dict]:
    """`datasets.load_dataset(hub_id, config, revision=…, split=…)`; no network, no `datasets`
    or a gated dataset without a token is one ProblemError line, never a traceback (and no
    minute of retries: an unreachable Hub is found by one connection attempt first)."""
    where = hub_id + (f":{config}" if config else "") + (f"@{revision[:12]}" if revision else "")
    try:
        import datasets  # heavy; only when the Hub is asked for
        from huggingface_hub.utils import logging as hub_logging
    except ImportError:
        raise ProblemError(f"{name}: loading {where} from the Hugging Face Hub needs the "
                           "`datasets` package (pip install datasets)") from None
    unreachable = _hub_unreachable()
    if unreachable:
        raise ProblemError(f"{name}: cannot load {where}: {unreachable}; no network? A dataset "
                           "downloaded before loads offline with HF_HUB_OFFLINE=1")
    levels = datasets.logging.get_verbosity(), hub_logging.get_verbosity()
    bars = datasets.is_progress_bar_enabled()
    datasets.logging.set_verbosity_error()  # its warnings would say the same many times over
    hub_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(hub_id, config, revision=revision, split=split)
    except Exception as exc:  # noqa: BLE001  (offline, gated, not found: all one line)
        reason = shorten(exc, 200) or type(exc).__name__  # the token hidden before the cut
        raise ProblemError(f"{name}: cannot load {where} from the Hugging Face Hub (no network, "
                           f"or no access): {reason}") from None
    finally:
        datasets.logging.set_verbosity(levels[0])
        hub_logging.set_verbosity(levels[1])
        if bars:
            datasets.enable_progress_bars()


OFFLINE_VALUES = ("1", "true", "yes", "on")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def _hub_unreachable(timeout_s: float = 5.0) -> str | None:
    """Why the Hub cannot be reached, or None (offline mode, a proxy: left to `datasets`)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in OFFLINE_VALUES or any(
            os.environ.get(variable) for variable in PROXY_VARIABLES):
        return None
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"
    return None
