"""The benchmarks the kit knows by name, and how a `--dataset` value becomes benchmarks.

`--dataset` is a comma-separated list of: registry names (below), `both` (math500 and
mmlu_pro), files in the seed's format (`.jsonl`, `.json`, `.csv`, `.parquet`) and `hf:` specs.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

from collectkit.tasks import aime, custom, gpqa, gsm8k, math500, mmlu_pro
from collectkit.tasks.base import ANSWER_KINDS, Benchmark, ProblemError

REGISTRY: dict[str, Benchmark] = {b.name: b for b in (
    math500.BENCHMARK,
    mmlu_pro.BENCHMARK,
    aime.AIME_2024,
    aime.AIME_2025,
    gsm8k.BENCHMARK,
    gpqa.BENCHMARK,
)}
BOTH = ("math500", "mmlu_pro")


class UnknownDataset(ProblemError):
    """A --dataset part that is no known benchmark, data file or hf: spec."""


def parts(dataset: str) -> list[str]:
    """'both, gsm8k' → ['math500', 'mmlu_pro', 'gsm8k'] (order kept, repeats dropped)."""
    found: list[str] = []
    for part in (p.strip() for p in str(dataset).split(",")):
        for name in (BOTH if part == "both" else (part,)):
            if name and name not in found:
                found.append(name)
    return found


def unknown_message(part: str) -> str:
    return (f"unknown dataset {part!r}: choose from {', '.join(REGISTRY)}, both, a file "
            f"({', '.join(custom.SUFFIXES)}) or hf:ORG/NAME[:CONFIG][@REVISION]")


def benchmark(part: str, fields: str = "") -> Benchmark:
    if part in REGISTRY:
        return REGISTRY[part]
    if part.startswith("hf:"):
        return custom.hub_benchmark(part, fields)
    if custom.is_file_spec(part):
        return custom.file_benchmark(part)
    raise UnknownDataset(unknown_message(part))


def benchmarks(dataset: str, fields: str = "") -> tuple[Benchmark, ...]:
    """The benchmarks a `--dataset` value names (reads no file, opens no connection)."""
    chosen = [benchmark(part, fields) for part in parts(dataset)]
    if not chosen:
        raise ProblemError(f"no dataset given: {unknown_message('')}")
    names = [b.name for b in chosen]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ProblemError(f"two datasets named {repeated[0]!r} in one run: rename a file")
    return tuple(chosen)


def check_names(dataset: str) -> None:
    """Settings' check: every part is a known name, `both`, a data file or an hf: spec (a
    ValueError naming the first that is not). Reads no file."""
    for part in parts(dataset):
        if not (part in REGISTRY or part.startswith("hf:") or custom.is_file_spec(part)):
            raise UnknownDataset(unknown_message(part))


def manifest_entries(dataset: str, fields: str = "", source: str = "bundled") -> list[dict]:
    """What the manifest records of each dataset: where its rows came from (a pinned Hub
    revision, the bundled copy, or a file and its sha256), its answer kind, a shuffle seed."""
    entries = []
    for item in benchmarks(dataset, fields):
        entry = item.manifest_entry()
        path = Path(entry.get("path") or "")
        if entry.get("path"):
            entry["source"] = "file"
            if path.is_file():
                entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            entry["source"] = "bundled" if item.bundled and source == "bundled" else "hub"
        entries.append(entry)
    return entries


def families(name: str) -> tuple[str, ...]:
    """How a dataset's problems are asked: ("mcq",), ("open",) or both (your own files)."""
    return REGISTRY[name].families if name in REGISTRY else ("mcq", "open")


def answer_kind_of(row: Mapping[str, Any]) -> str:
    """A results row's answer kind: its own field; rows written before it existed are
    multiple choice (letter) when they have options, else math."""
    kind = row.get("answer_kind")
    if kind in ANSWER_KINDS:
        return str(kind)
    if "is_mcq" in row:
        return "letter" if row["is_mcq"] else "math"
    if row.get("choices") is not None:
        return "letter"
    known = REGISTRY.get(str(row.get("dataset")))
    return "letter" if known is not None and known.answer_kind == "letter" else "math"


def family_of(row: Mapping[str, Any]) -> str:
    return "mcq" if answer_kind_of(row) == "letter" else "open"


def label(name: str) -> str:
    return REGISTRY[name].label if name in REGISTRY else name


def listing() -> list[dict[str, Any]]:
    """One row per known benchmark, for --list_datasets."""
    return [{"name": b.name, "rows": b.size, "bundled": bool(b.bundled),
             "answer_kind": b.answer_kind, "source": b.source, "revision": b.revision,
             "license": b.license} for b in REGISTRY.values()]


def listing_lines() -> list[str]:
    lines = [f"{'name':<14}{'rows':>7}  {'where':<8}{'answer':<8}source"]
    for item in listing():
        where = "bundled" if item["bundled"] else "Hub"
        lines.append(f"{item['name']:<14}{item['rows']:>7}  {where:<8}{item['answer_kind']:<8}"
                     f"{item['source']} @ {item['revision'][:12]}")
    lines.append("also: your own .jsonl/.json/.csv/.parquet file, or hf:ORG/NAME[:CONFIG]"
                 "[@REVISION] with --dataset_fields (see README, 'Your own problems')")
    return lines
