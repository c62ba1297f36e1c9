"""What makes runs comparable (compare.py, notebook 05): labels from what differs between them,
the common ground they are compared on, and plain words for tables that are empty or undefined.

- Labels: a run is named by its file name; where names repeat (the same model and datasets
  collected twice), by the settings that differ between the runs (model, temperature, protocol,
  k, max_tokens, top_p, seed), read from each results row's `sampling`, instead of `X`, `X (2)`;
  a name still taken gets its folder's name.
- Common ground: runs over different problems or with different k are compared on the problems
  every run answered (per benchmark) and on the first k responses that every run has; each cut is
  said in a note, never done silently.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

# Settings a label may name, in the order they are named.
LABEL_SETTINGS = ("model", "temperature", "protocols", "k_responses", "max_tokens", "top_p",
                  "seed")
SHORT = {"temperature": "T", "k_responses": "k", "protocols": "protocol"}


def run_settings(rows: list[dict]) -> dict[str, Any]:
    """The settings a run was collected with, from its first row (`sampling`, else the row)."""
    if not rows:
        return {}
    row = rows[0]
    sampling = row.get("sampling") if isinstance(row.get("sampling"), dict) else {}
    found = {"model": sampling.get("model") or row.get("model"),
             "protocols": _protocols(sampling.get("protocols"))
             or ",".join(sorted({str(r.get("protocol")) for r in rows if r.get("protocol")}))
             or None}
    for key in LABEL_SETTINGS[1:]:
        if key != "protocols" and sampling.get(key) is not None:
            found[key] = sampling[key]
    return found


def default_labels(files: list[Path], rows_per_file: list[list[dict]]) -> list[str]:
    """One label per run: its file name; where file names repeat (the same model and datasets
    collected twice, in two folders), the settings that differ between the runs."""
    names = [_file_label(file) for file in files]
    if len(set(names)) == len(names):
        return names
    settings = [run_settings(rows) for rows in rows_per_file]
    differing = [key for key in LABEL_SETTINGS
                 if len({repr(s.get(key)) for s in settings}) > 1]
    if differing:
        labels = [", ".join(f"{SHORT.get(key, key)}={s.get(key)}" for key in differing)
                  for s in settings]
    else:
        labels = [_file_label(file) for file in files]
    taken = [labels.count(label) > 1 for label in labels]
    return [f"{label} ({file.parent.name})" if twice else label  # the folder tells them apart
            for label, file, twice in zip(labels, files, taken)]


def common_ground(runs: dict[str, list[dict]]) -> tuple[dict[str, list[dict]], list[str]]:
    """(the runs cut to the problems all of them answered, per benchmark, and to the smallest k;
    notes saying what was cut). One run is returned as is."""
    if len(runs) < 2:
        return runs, []
    notes = []
    ids: dict[str, set[str]] | None = None
    for rows in runs.values():
        mine: dict[str, set[str]] = {}
        for row in rows:
            mine.setdefault(_dataset(row), set()).add(row["unique_id"])
        ids = mine if ids is None else {d: ids[d] & mine[d] for d in ids.keys() & mine.keys()}
    sizes = {name: len(rows) for name, rows in runs.items()}
    common = sum(len(v) for v in ids.values())
    if any(size != common for size in sizes.values()):
        counts = ", ".join(f"{name}: {size}" for name, size in sizes.items())
        notes.append(f"the runs answered different problems ({counts}); every table compares "
                     f"them on the {common} problems all of them answered"
                     + (f" ({', '.join(f'{d}: {len(v)}' for d, v in sorted(ids.items()))})"
                        if ids else ""))
    ks = {name: min((len(r["responses"]) for r in rows), default=0) for name, rows in runs.items()}
    k = min(ks.values())
    if len(set(ks.values())) > 1:
        notes.append(f"the runs have different k ({', '.join(f'{n}: {v}' for n, v in ks.items())});"
                     f" every table uses the first {k} responses of each problem")
    cut = {name: [dict(row, responses=row["responses"][:k]) for row in rows
                  if row["unique_id"] in ids.get(_dataset(row), set())]
           for name, rows in runs.items()}
    return cut, notes


def single_run_note(runs: dict[str, list[dict]]) -> str:
    """Why the paired and agreement tables are empty with one run ("" with more)."""
    if len(runs) > 1:
        return ""
    name = next(iter(runs), "none")
    return (f"only one run ({name}): paired differences and agreement compare runs with each "
            "other, so their tables stay empty; give two or more results files (results_files, "
            "or a run_dir holding several)")


def kappa_notes(agreement: pd.DataFrame) -> list[str]:
    """A sentence for each NaN kappa: why Cohen's kappa is undefined there."""
    notes = []
    for row in agreement.itertuples():
        if not (isinstance(row.kappa, float) and math.isnan(row.kappa)):
            continue
        if row.both_right == row.n_pairs:
            every = "every response of both runs is right"
        elif row.both_wrong == row.n_pairs:
            every = "every response of both runs is wrong"
        else:
            every = "there are no response pairs"
        notes.append(f"kappa is NaN for {row.run} vs {row.baseline} on {row.dataset}: {every}, "
                     "so agreement expected by chance is 1 and agreement beyond chance cannot be "
                     f"measured (they agree on {row.agreement:.0%} of {row.n_pairs} pairs)")
    return notes


def _protocols(signature: Any) -> str | None:
    """'boxed@1a2b,mmlu_pro_official@3c4d' → 'boxed,mmlu_pro_official'."""
    if not isinstance(signature, str) or not signature:
        return None
    return ",".join(part.split("@", 1)[0] for part in signature.split(","))


def _dataset(row: dict) -> str:
    return str(row.get("dataset") or ("mmlu_pro" if row.get("is_mcq") else "math500"))


def _file_label(path: Path) -> str:
    return path.name.removesuffix(".processed.jsonl").removesuffix(".jsonl")
