"""`--shard I/N`: one machine's slice of a run, so N machines collect one run between them.

I counts from 0 (0 ≤ I < N), like a SLURM array started with `--array=0-(N-1)`, so
`--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` is the slice of each array task. Slice I
holds the run's problems at positions I, I+N, I+2N, … of the seeded order `--num_problems` draws
from (problems[I::N]): the N slices are disjoint, together they are the unsharded run's
problems, and each is a stratified mix of the same size ±1. Each slice writes its own results
file (`X_shard-I-of-N.jsonl`), resumes like any run, and `collectkit merge` joins them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence, TypeVar

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
FILE_TAG = re.compile(r"_shard-(\d+)-of-(\d+)$")
Item = TypeVar("Item")


def parse_shard(value: str) -> tuple[int, int] | None:
    """"2/4" → (2, 4); "" → None (the whole run); a ValueError saying what is wrong otherwise."""
    if not value or not value.strip():
        return None
    match = SHARD.match(value)
    if not match:
        raise ValueError(f"invalid value for shard: {value!r} (expected I/N, like 0/4)")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        hint = (f" (shards count from 0: a SLURM array runs --array=0-{count - 1})"
                if count >= 1 and index == count else
                " (a SLURM array of one task, like sbatch --array=I, has SLURM_ARRAY_TASK_COUNT"
                "=1: requeue that task of the whole array instead)" if count == 1 else "")
        raise ValueError(f"invalid value for shard: {value!r}: I/N needs 0 <= I < N{hint}")
    return index, count


def shard_label(value: str) -> str:
    """"2/4" → "2/4" (normalised: no spaces), "" → ""."""
    shard = parse_shard(value)
    return f"{shard[0]}/{shard[1]}" if shard else ""


def take_shard(problems: Sequence[Item], value: str) -> list[Item]:
    """This shard's problems: positions I, I+N, … of the run's seeded order."""
    shard = parse_shard(value)
    return list(problems) if shard is None else list(problems[shard[0]::shard[1]])


def shard_file(path: Path, value: str) -> Path:
    """results.jsonl → results_shard-I-of-N.jsonl (unchanged without a shard, or when the name
    already carries this shard's tag)."""
    shard = parse_shard(value)
    if shard is None:
        return path
    tag = f"_shard-{shard[0]}-of-{shard[1]}"
    stem, suffix = (path.name[:-len(".jsonl")], ".jsonl") if path.name.endswith(".jsonl") \
        else (path.name, "")
    return path if stem.endswith(tag) else path.with_name(stem + tag + suffix)


def unsharded_file(path: Path) -> Path | None:
    """X_shard-I-of-N.jsonl → X.jsonl; None for a name without a shard tag."""
    stem = path.name.removesuffix(".jsonl")
    match = FILE_TAG.search(stem)
    return path.with_name(stem[:match.start()] + ".jsonl") if match else None
