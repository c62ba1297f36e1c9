"""Helpers behind the public API: finding a run folder's files, grading into the processed file,
small display tables, interrupting a collection with one line.

The notebooks define no functions of their own: whatever logic they need lives here or in the rest
of the package, so it is tested and importable (`make demo` runs them headless).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from collectkit.store import append as store
from collectkit.collect.settings import split_urls
from collectkit.workflow.servers import (ENGINES, Machine, ServeError,
                              describe_server, engine_for, ensure_server, keep_or_stop,
                              served_model_id, server_line, this_machine)
from collectkit.analyze.stream import grade_one_file
from collectkit.analyze.summary import write_graded  # noqa: F401  (the old name)
from collectkit.grade.grading import GradingConfig
from collectkit.store.results import ERRORS_SUFFIX, PROCESSED_SUFFIX, SUMMARY_SUFFIX, output_paths  # noqa: F401
from collectkit.serve.server import ServerHandle, find_server, served_models

NOT_RESULTS_SUFFIXES = (PROCESSED_SUFFIX, ERRORS_SUFFIX)
PREVIEW_CHARS = 80


# ------------------------------------------------------------------------------ the server

def resolve_model(model: str = "", *, port: int = 8000, host: str = "127.0.0.1",
                  api_mode: str = "local", api_base: str = "") -> str:
    """The model id to request: `model` if given; in local mode otherwise the one the server
    recorded for `port` (notebook 01's) serves, or the first one that server lists."""
    if model:
        return model
    if api_mode != "local":
        raise ValueError("set model: a remote API needs the model id")
    recorded = find_server(port)
    if recorded is not None and not api_base and recorded.model_id in served_models(
            recorded.base_url):
        return recorded.model_id
    urls = split_urls(api_base) if api_base else [f"http://{host}:{port}/v1"]
    for url in urls:
        listed = served_models(url)
        if listed:
            return listed[0]
    raise ServeError(f"no server answers at {', '.join(urls)}; run notebook 01 (or python -m "
                     f"collectkit.serve_llm --port {port}) first, or set model and api_base")


def stop_recorded_server(port: int) -> ServerHandle | None:
    """Stop the server recorded for `port` by its PID (never by name); None if none is recorded."""
    handle = find_server(port)
    if handle is not None:
        handle.stop()
    return handle


# ------------------------------------------------------------------------------ run folder files

def _newest(paths: Iterable[Path]) -> Path | None:
    paths = [p for p in paths if p.is_file()]
    return max(paths, key=lambda p: p.stat().st_mtime) if paths else None


def find_results_file(run_dir: str | Path, results_file: str | Path = "") -> Path:
    """`results_file` if given, else the newest results JSONL in `run_dir` (not a processed
    file nor an errors log)."""
    if results_file:
        path = Path(results_file)
        if not path.is_file():
            raise FileNotFoundError(f"results file not found: {path}")
        return path
    found = _newest(p for p in Path(run_dir).glob("*.jsonl")
                    if not p.name.endswith(NOT_RESULTS_SUFFIXES))
    if found is None:
        raise FileNotFoundError(f"no results file (*.jsonl) in {run_dir}; run notebook 02 first")
    return found


def find_processed_file(run_dir: str | Path, processed_file: str | Path = "") -> Path:
    """`processed_file` if given, else the newest `*.processed.jsonl` in `run_dir`."""
    if processed_file:
        path = Path(processed_file)
        if not path.is_file():
            raise FileNotFoundError(f"processed file not found: {path}")
        return path
    found = _newest(Path(run_dir).glob("*" + PROCESSED_SUFFIX))
    if found is None:
        raise FileNotFoundError(f"no processed file (*{PROCESSED_SUFFIX}) in {run_dir}; "
                                "run notebook 03 first")
    return found


def stem_of(path: str | Path) -> str:
    """`X` for `X.jsonl` and `X.processed.jsonl`."""
    name = Path(path).name
    for suffix in (PROCESSED_SUFFIX, ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def processed_paths(results_file: str | Path) -> tuple[Path, Path]:
    """(processed, summary) beside a results file: X.processed.jsonl and X.summary.json."""
    return output_paths(Path(results_file), None, many_inputs=False)


def load_manifest(results_or_processed: str | Path) -> dict[str, Any] | None:
    """The collection manifest (X.manifest.json) beside a results or processed file."""
    path = Path(results_or_processed)
    return store.read_json(path.with_name(stem_of(path) + ".manifest.json"))


def run_files(run_dir: str | Path) -> list[Path]:
    """Every file in a run folder, sorted (for the demo's listing)."""
    return sorted(p for p in Path(run_dir).rglob("*") if p.is_file())


# ------------------------------------------------------------------------------ grading

@dataclass
class GradedRun:
    problems: int
    results_file: Path
    processed_file: Path
    summary_file: Path
    summary: dict[str, Any]
    torn: int = 0  # an incomplete last line skipped (a collection still writing, or killed)

    def line(self) -> str:
        return (f"graded {self.problems} problems from {self.results_file.name} → "
                f"{self.processed_file.name}, {self.summary_file.name}")


def grade_and_write(results_file: str | Path, match: str = "first",
                    workers: int | None = None, protocol: str = "",
                    verify_timeout: int = 5) -> GradedRun:
    """Grade a results file and write X.processed.jsonl and X.summary.json beside it, the same
    files (and summary layout) as `python -m collectkit.answer_extraction -i X.jsonl`, the same
    way: a row at a time (analyze/stream.py); `protocol` reads rows that record none
    (answer_extraction --protocol)."""
    source = Path(results_file)
    processed, summary_path = processed_paths(source)
    read, summary = grade_one_file(source, processed, summary_path,
                                   GradingConfig(match, workers or None, verify_timeout),
                                   protocol or None)
    return GradedRun(len(read.index), source, processed, summary_path, summary, read.torn)


# ------------------------------------------------------------------------------ display tables

def collected_table(rows: list[dict[str, Any]], limit: int | None = None) -> pd.DataFrame:
    """One line per collected problem: where it is from, its responses and how they ended."""
    records = []
    for row in rows[:limit] if limit else rows:
        responses = row.get("responses") or []
        finishes: dict[str, int] = {}
        for response in responses:
            reason = str(response.get("finish_reason"))
            finishes[reason] = finishes.get(reason, 0) + 1
        tokens = [(r.get("usage") or {}).get("completion_tokens") for r in responses]
        tokens = [t for t in tokens if t is not None]
        first = (responses[0].get("full_response") or "") if responses else ""
        records.append({
            "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
            "category": row.get("category"), "gold": row.get("answer_correct"),
            "responses": len(responses),
            "finish": ", ".join(f"{k}×{v}" for k, v in sorted(finishes.items())),
            "tokens_reported": sum(tokens) if tokens else None,
            "attempts": row.get("attempts"),
            "first_response": " ".join(first.split())[:PREVIEW_CHARS],
        })
    return pd.DataFrame.from_records(records, columns=[
        "unique_id", "dataset", "category", "gold", "responses", "finish", "tokens_reported",
        "attempts", "first_response"])


def graded_table(rows: list[dict[str, Any]], limit: int | None = None) -> pd.DataFrame:
    """One line per graded problem: gold answer, extracted answers, how many were correct."""
    records = []
    for row in rows[:limit] if limit else rows:
        responses = row.get("responses") or []
        records.append({
            "unique_id": row.get("unique_id"), "dataset": row.get("dataset"),
            "gold": row.get("answer_correct"),
            "extracted": [r.get("extracted_answer") for r in responses],
            "correct": sum(bool(r.get("is_correct")) for r in responses),
            "of": len(responses),
        })
    return pd.DataFrame.from_records(records, columns=[
        "unique_id", "dataset", "gold", "extracted", "correct", "of"])


__all__ = [
    "ENGINES", "GradedRun", "Machine", "ServeError", "collected_table",
    "describe_server", "engine_for", "ensure_server", "keep_or_stop", "server_line",
    "this_machine", "find_processed_file", "find_results_file",
    "grade_and_write", "graded_table", "load_manifest", "processed_paths", "resolve_model",
    "run_files", "served_model_id", "stem_of", "stop_recorded_server",
]


# ------------------------------------------------------------------------------ interrupting

class Interrupted(Exception):
    """A collection stopped by Kernel → Interrupt. IPython shows it as its one line (no
    traceback), and, being an error, it stops Run All there like the interrupt it stands for."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


async def interruptible(work: Any, again: str = "run this cell again to continue") -> Any:
    """`await interruptible(collect(...))`: the same, but Kernel → Interrupt prints one friendly
    line (as the CLI does) instead of asyncio's CancelledError traceback."""
    import asyncio

    try:
        return await work
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise Interrupted(f"interrupted: finished problems are saved; {again}") from None
