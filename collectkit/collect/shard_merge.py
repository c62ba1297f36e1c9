"""`collectkit merge`: the results files of a run's shards (`--shard I/N`) joined into one.

Each problem is written once. Within a file the later row of a problem wins (the readers' rule,
store/results.py); a problem found in several files keeps the row of the first file listed that
has all k responses (else of the first file listed), and the report says how many there were.
Every row's sampling settings and every manifest's signature must be the same (one run, one
signature), and every manifest must draw the same problems (--dataset, --num_problems,
--subset_seed): a file collected otherwise is refused in one line, nothing written.

The files are read twice, line by line (ids and byte offsets first, then the chosen lines copied
as they are), so memory holds one row at a time whatever the size of the run. The output's
manifest combines the shards' manifests: their runs (each tagged with its shard), the sum of
their counts in "totals", and "merged_from" listing the shard files. An existing output is
replaced only when its manifest says a merge wrote it; a failed merge leaves it as it was.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

from collectkit.collect.attempts import row_tail
from collectkit.collect.manifest import totals_of
from collectkit.collect.shards import parse_shard
from collectkit.store import append as store

NOT_RESULTS = (".processed.jsonl", ".errors.jsonl", ".corrupt.jsonl")
# The settings that choose a run's problems: every shard must slice the same selection.
SELECTION = ("dataset", "dataset_fields", "dataset_source", "num_problems", "subset_seed")


class MergeError(store.StoreError):
    """The shard files cannot be merged; one line saying which file and why."""


@dataclass
class Shard:
    path: Path
    manifest: dict[str, Any] | None
    label: str = ""  # "I/N" from its manifest, "" when it has none
    rows: dict[str, tuple[int, int, bool]] = field(default_factory=dict)  # id → offset, size, whole
    kept: int = 0


@dataclass
class MergeReport:
    output: Path
    problems: int
    shards: list[Shard]
    duplicates: list[str]  # ids found in more than one file
    torn: int  # torn last lines skipped (a shard still running, or killed)
    missing: list[str]  # shards of the split with no file given

    def line(self) -> str:
        labels = ", ".join(s.label or s.path.name for s in self.shards)
        return (f"merged {len(self.shards)} shard file(s) ({labels}) into {self.output}: "
                f"{self.problems} problems")

    def warnings(self) -> list[str]:
        found = []
        if self.duplicates:
            found.append(f"{len(self.duplicates)} problem(s) were in more than one shard file "
                         f"(first: {self.duplicates[0]}); kept one row each, from the first "
                         "file listed with all k responses")
        if self.torn:
            found.append(f"skipped {self.torn} torn last line(s) (a shard still running or "
                         "killed); rerun that shard, then merge again")
        unfinished = [f"{s.label or s.path.name} ({s.manifest.get('status')})"
                      for s in self.shards if s.manifest and s.manifest.get("status") != "finished"]
        if unfinished:
            found.append(f"shard(s) not finished: {', '.join(unfinished)}; rerun them (each "
                         "resumes), then merge again")
        if self.missing:
            found.append(f"no file for shard(s) {', '.join(self.missing)}: their problems are "
                         "not in the merged file")
        return found


def merge_shards(inputs: list[Path], output: Path) -> MergeReport:
    """Merge the shard results files `inputs` into `output` (see the module's rules)."""
    inputs = [Path(p) for p in inputs]
    _check_paths(inputs, Path(output))
    shards = [Shard(path, store.read_json(store.manifest_path(path))) for path in inputs]
    run = _signature(shards)
    torn = sum(_scan(shard, run) for shard in shards)
    chosen, duplicates = _choose(shards)
    if not chosen:
        raise MergeError(f"no results rows in {', '.join(map(str, inputs))}")
    with store.atomic_file(output) as out:
        for index, shard in enumerate(shards):
            shard.kept = _copy_rows(shard, index, chosen, out)
    _write_errors(shards, set(chosen), output)
    store.write_json_atomic(store.manifest_path(output), _manifest(shards, output,
                                                                   run.signature))
    return MergeReport(output, len(chosen), shards, duplicates, torn, _missing(shards))


def _check_paths(inputs: list[Path], output: Path) -> None:
    if not inputs:
        raise MergeError("no shard files given")
    for path in inputs:
        if path.name.endswith(NOT_RESULTS):
            raise MergeError(f"{path} is not a results file (merge the X_shard-I-of-N.jsonl "
                             "files, then extract)")
        if not path.is_file():
            raise MergeError(f"{path}: no such file")
        if path.resolve() == output.resolve():
            raise MergeError(f"{output} is one of the shard files; choose another --output")
    if len({path.resolve() for path in inputs}) < len(inputs):
        raise MergeError("a shard file is listed twice")
    manifest_file = store.manifest_path(output)
    if not output.exists() and not manifest_file.exists():
        return
    if output.is_dir():
        raise MergeError(f"{output} is a folder; --output takes a results file's name")
    if "merged_from" not in (store.read_json(manifest_file) or {}):
        raise MergeError(f"{output} exists and is not the output of a merge; choose another "
                         "--output (a merge never overwrites other files)")


@dataclass
class Signature:
    """The run's sampling signature and where it was read (the first manifest, else the first
    row that records one)."""
    signature: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    def set(self, signature: dict[str, Any], where: str) -> None:
        self.signature, self.where = signature, where

    @property
    def k(self) -> int | None:
        return self.signature.get("k_responses")

    @property
    def tail(self) -> bytes:  # how each row of this signature ends (attempts.row_tail)
        return row_tail(self.signature) if self.signature else b""

    def check(self, here: str, found: dict[str, Any]) -> None:
        if not self.where:
            self.set(found, here)
        _refuse(here, found, self.where, self.signature)


def _signature(shards: list[Shard]) -> Signature:
    """The run's signature from the first manifest; refuses a manifest that differs, in its
    signature or in the problems it draws from (the slices must be of one selection)."""
    run, selection, first = Signature(), {}, ""
    for shard in shards:
        if shard.manifest is None:
            continue
        if "results_file" not in shard.manifest:
            raise MergeError(f"{store.manifest_path(shard.path)} is not a collectkit manifest")
        shard.label = shard.manifest.get("shard") or ""
        run.check(str(shard.path), shard.manifest.get("signature") or {})
        settings = shard.manifest.get("settings") or {}
        drawn = {key: settings.get(key) for key in SELECTION}
        if first:
            _refuse(str(shard.path), drawn, first, selection, "problem selections")
        selection, first = selection or drawn, first or str(shard.path)
    return run


def _refuse(here: str, found: dict, there: str, expected: dict,
            what: str = "sampling signatures") -> None:
    differing = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
    if differing:
        was = ", ".join(f"{k}={found.get(k)!r}" for k in differing)
        now = ", ".join(f"{k}={expected.get(k)!r}" for k in differing)
        raise MergeError(f"conflicting {what}: {here} has {was}, {there} has "
                         f"{now}; shards of one run share their settings, nothing was merged")


def _scan(shard: Shard, run: Signature) -> int:
    """Record each problem's last row (offset, size, has k responses); returns torn lines."""
    torn, tail = 0, run.tail
    for number, offset, line in _lines(shard.path):
        match = store.LEADING_ID.match(line)
        if match and tail and line.endswith(tail) and line.count(store.ROW_START) == 1:
            uid = json.loads(match.group(1))  # a whole row of this signature (resume's test)
            whole = run.k is None or line.count(store.RESPONSE_START) >= run.k
        else:
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                if not line.endswith(b"\n"):
                    torn += 1
                    continue
                raise MergeError(f"{shard.path} line {number}: malformed JSON "
                                 f"({getattr(exc, 'msg', exc)})") from None
            if not isinstance(row, dict) or "unique_id" not in row \
                    or not isinstance(row.get("responses"), list):
                raise MergeError(f"{shard.path} line {number}: not a results row")
            if isinstance(row.get("sampling"), dict):
                run.check(f"{shard.path} line {number}", row["sampling"])
                tail = tail or run.tail  # no manifest: the first row's settings are the run's
            uid = str(row["unique_id"])
            whole = run.k is None or len(row["responses"]) >= run.k
        shard.rows.pop(uid, None)  # the later row of a problem wins, in its place
        shard.rows[uid] = (offset, len(line), whole)
    return torn


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    with store.os_errors(path, "read"), open(path, "rb") as handle:
        offset = 0
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, offset, line
            offset += len(line)


def _choose(shards: list[Shard]) -> tuple[dict[str, int], list[str]]:
    """id → the index of the shard whose row is kept; the ids found in several files."""
    chosen: dict[str, int] = {}
    duplicates: dict[str, None] = {}  # ordered, each once
    for index, shard in enumerate(shards):
        for uid, (_, _, whole) in shard.rows.items():
            if uid not in chosen:
                chosen[uid] = index
                continue
            duplicates[uid] = None
            if whole and not shards[chosen[uid]].rows[uid][2]:
                chosen[uid] = index
    return chosen, list(duplicates)


def _copy_rows(shard: Shard, index: int, chosen: dict[str, int], out: IO[bytes]) -> int:
    """Copy the shard's kept rows, byte for byte, in their order in its file."""
    mine = sorted((offset, size) for uid, (offset, size, _) in shard.rows.items()
                  if chosen[uid] == index)
    with store.os_errors(shard.path, "read"), open(shard.path, "rb") as handle:
        for offset, size in mine:
            handle.seek(offset)
            line = handle.read(size)
            out.write(line if line.endswith(b"\n") else line + b"\n")
    return len(mine)


def _write_errors(shards: list[Shard], merged: set[str], output: Path) -> None:
    """The shards' failed attempts of problems still missing (a resume into the merged file
    counts them against --max_attempts); no errors file when there are none."""
    target = store.errors_path(output)
    lines = []
    for shard in shards:
        for number, _, line in _lines(store.errors_path(shard.path)) \
                if store.errors_path(shard.path).is_file() else ():
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a torn last line of a killed shard
            if isinstance(row, dict) and str(row.get("unique_id")) not in merged:
                lines.append(line if line.endswith(b"\n") else line + b"\n")
    if lines:
        store.write_bytes_atomic(target, b"".join(lines))
    else:
        with store.os_errors(target):
            target.unlink(missing_ok=True)  # a previous merge's


def _manifest(shards: list[Shard], output: Path, signature: dict[str, Any]) -> dict[str, Any]:
    manifests = [shard.manifest for shard in shards if shard.manifest]
    base = manifests[0] if manifests else {}
    runs = [{**run, "shard": shard.label, "results_file": shard.path.name}
            for shard in shards for run in (shard.manifest or {}).get("runs", [])]
    statuses = [(shard.label or shard.path.name, (shard.manifest or {}).get("status"),
                 (shard.manifest or {}).get("reason")) for shard in shards]
    open_ = [(label, status, why) for label, status, why in statuses if status != "finished"]
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {**base, "results_file": output.name, "shard": None,
            "status": (open_[0][1] or "unknown") if open_ else "finished",
            "reason": "; ".join(f"shard {label}: {status or 'no manifest'}"
                                f"{f' ({why})' if why else ''}" for label, status, why in open_),
            "signature": signature,
            "settings": {**base.get("settings", {}), "shard": ""},
            "created": min((m.get("created") or now for m in manifests), default=now),
            "updated": now, "totals": totals_of(runs), "runs": runs,
            "merged_from": [{"results_file": str(shard.path), "shard": shard.label or None,
                             "status": (shard.manifest or {}).get("status"),
                             "problems_kept": shard.kept,
                             "totals": (shard.manifest or {}).get("totals")}
                            for shard in shards]}


def _missing(shards: list[Shard]) -> list[str]:
    """The shards of the split (I/N, one N) that no file was given for."""
    splits = {parse_shard(shard.label) for shard in shards if shard.label}
    counts = {count for _, count in splits}
    if len(counts) != 1:
        return []
    count = counts.pop()
    return [f"{i}/{count}" for i in range(count) if (i, count) not in splits]
