"""Runs side by side: leaderboard, categories, paired differences with a bootstrap test, agreement,
the export and the report (`collectkit compare` is its front-end, cli/compare.py)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from collectkit.analyze import comparable
from collectkit.analyze import metrics
from collectkit.grade.grading import grade_rows
from collectkit.store.results import PROCESSED_SUFFIX, InputError, read_results, results_files

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def run_label(path: Path) -> str:
    name = path.name
    return name.removesuffix(PROCESSED_SUFFIX).removesuffix(".jsonl")


def graded_rows(file: Path) -> list[dict]:
    """The rows of one results file, graded here unless every response already is."""
    rows = read_results(file)
    graded = all("is_correct" in r for row in rows for r in row["responses"])
    return rows if graded else grade_rows(rows)


def load_runs(paths: list[str | Path], labels: list[str] | None = None,
              read: Callable[[Path], Any] = graded_rows) -> dict[str, Any]:
    """label -> graded rows, one run per results file (a directory gives each of its files).
    `read` turns a file into its run: a sequence of graded rows (the explorer's reads them on
    demand)."""
    files = [file for path in paths for file in results_files(Path(path))]
    if not files:
        raise InputError("no results files given")
    if labels is not None and len(labels) != len(files):
        raise InputError(f"{len(labels)} labels for {len(files)} results files")
    rows_per_file = [read(file) for file in files]
    names = labels or comparable.default_labels(files, rows_per_file)
    runs: dict[str, Any] = {}
    for name, rows in zip(names, rows_per_file):
        runs[name if name not in runs else f"{name} ({len(runs) + 1})"] = rows
    return runs


def responses_table(runs: dict[str, list[dict]]) -> pd.DataFrame:
    """The per-response table of every run, with a leading `run` column."""
    frames = [metrics.responses_frame(rows).assign(run=name) for name, rows in runs.items()]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=metrics.FRAME_COLUMNS + ["run"])
    return table[["run"] + metrics.FRAME_COLUMNS]


def leaderboard(runs: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per (benchmark, run), best accuracy first within each benchmark."""
    parts = [metrics.accuracy_table(rows, by="dataset").assign(run=name)
             for name, rows in runs.items()]
    table = pd.concat(parts).reset_index().rename(columns={"index": "dataset"})
    table = table.sort_values(["dataset", "accuracy"], ascending=[True, False], kind="stable")
    return table.set_index(["dataset", "run"])


def category_table(runs: dict[str, list[dict]]) -> pd.DataFrame:
    """Long table: (dataset, category, run) with accuracy, interval and problem count."""
    parts = [metrics.accuracy_table(rows, by="category").assign(run=name)
             for name, rows in runs.items()]
    table = pd.concat(parts).reset_index()
    columns = ["dataset", "category", "run", "n_problems", "accuracy", "ci_low", "ci_high"]
    return table[columns].sort_values(["dataset", "category"], kind="stable").reset_index(drop=True)


def side_by_side(categories: pd.DataFrame) -> pd.DataFrame:
    """The category table pivoted: one row per (dataset, category), `accuracy [low, high]` per run."""
    cells = categories.assign(cell=[
        f"{a:.2f} [{lo:.2f}, {hi:.2f}]" for a, lo, hi in
        zip(categories["accuracy"], categories["ci_low"], categories["ci_high"])])
    runs = list(dict.fromkeys(categories["run"]))
    return cells.pivot(index=["dataset", "category"], columns="run", values="cell")[runs]


def _per_problem(rows: list[dict]) -> pd.DataFrame:
    problems = metrics.problems_frame(rows)
    return problems.set_index(["dataset", "unique_id"])[["category", "score"]]


def paired_bootstrap(differences: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(95% interval low, high, two-sided p-value) of the mean of paired differences.

    Problems are resampled with replacement; the p-value is the share of resampled means at
    least as far from the observed mean as the observed mean is from 0 (the bootstrap
    distribution shifted to H0: mean difference 0)."""
    if len(differences) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), (resamples, len(differences)))].mean(1)
    observed = differences.mean()
    low, high = np.quantile(means, [0.025, 0.975])
    p_value = float(np.mean(np.abs(means - observed) >= abs(observed) - 1e-12))
    return (float(low), float(high), min(1.0, p_value))


def paired_differences(runs: dict[str, list[dict]], baseline: str | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-problem differences, one test row per (benchmark, run vs baseline)).

    Each run is paired with the baseline (default: the first run) on the problems both answered;
    a problem's score is its share of correct responses."""
    names = list(runs)
    baseline = baseline or names[0]
    if baseline not in runs:
        raise InputError(f"baseline {baseline!r} is not one of the runs: {', '.join(names)}")
    base = _per_problem(runs[baseline])
    per_problem, tests = [], []
    for name in names:
        if name == baseline:
            continue
        joined = base.merge(_per_problem(runs[name]), left_index=True, right_index=True,
                            suffixes=("_base", ""))
        joined = joined.assign(run=name, baseline=baseline,
                               difference=joined["score"] - joined["score_base"])
        per_problem.append(joined.reset_index())
        for dataset, part in joined.groupby(level="dataset"):
            low, high, p_value = paired_bootstrap(part["difference"].to_numpy(float))
            tests.append({"dataset": dataset, "run": name, "baseline": baseline,
                          "n_paired": len(part), "accuracy_base": part["score_base"].mean(),
                          "accuracy": part["score"].mean(),
                          "difference": part["difference"].mean(), "ci_low": low,
                          "ci_high": high, "p_value": p_value,
                          "better": int((part["difference"] > 0).sum()),
                          "worse": int((part["difference"] < 0).sum())})
    columns = ["dataset", "unique_id", "category", "run", "baseline", "score_base", "score",
               "difference"]
    problems = (pd.concat(per_problem, ignore_index=True)[columns] if per_problem
                else pd.DataFrame(columns=columns))
    return problems, pd.DataFrame(tests, columns=[
        "dataset", "run", "baseline", "n_paired", "accuracy_base", "accuracy", "difference",
        "ci_low", "ci_high", "p_value", "better", "worse"])


def _kappa(both_right: int, only_a: int, only_b: int, both_wrong: int) -> float:
    total = both_right + only_a + only_b + both_wrong
    if total == 0:
        return math.nan
    observed = (both_right + both_wrong) / total
    right_a, right_b = (both_right + only_a) / total, (both_right + only_b) / total
    chance = right_a * right_b + (1 - right_a) * (1 - right_b)
    return math.nan if chance == 1 else (observed - chance) / (1 - chance)  # undefined at 1


def agreement(runs: dict[str, list[dict]], baseline: str | None = None) -> pd.DataFrame:
    """Response-level agreement of each run with the baseline, per benchmark."""
    table = responses_table(runs)
    baseline = baseline or next(iter(runs))
    keys = ["dataset", "unique_id", "response_index"]
    base = table[table["run"] == baseline].set_index(keys)
    records = []
    for name in runs:
        if name == baseline:
            continue
        other = table[table["run"] == name].set_index(keys)
        joined = base.merge(other, left_index=True, right_index=True, suffixes=("_base", ""))
        for dataset, part in joined.groupby(level="dataset"):
            a, b = part["is_correct_base"].astype(bool), part["is_correct"].astype(bool)
            counts = [int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()),
                      int((~a & ~b).sum())]
            same = (part["extracted_answer_base"].notna()
                    & (part["extracted_answer_base"] == part["extracted_answer"]))
            records.append({"dataset": dataset, "run": name, "baseline": baseline,
                            "n_pairs": len(part), "both_right": counts[0],
                            "only_baseline_right": counts[1], "only_run_right": counts[2],
                            "both_wrong": counts[3],
                            "agreement": (counts[0] + counts[3]) / len(part),
                            "same_answer": float(same.mean()), "kappa": _kappa(*counts)})
    return pd.DataFrame(records, columns=[
        "dataset", "run", "baseline", "n_pairs", "both_right", "only_baseline_right",
        "only_run_right", "both_wrong", "agreement", "same_answer", "kappa"])


def export(runs: dict[str, list[dict]], folder: str | Path) -> dict[str, Path]:
    """Write the per-response table (CSV and Parquet) and the comparison tables (CSV)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    responses = responses_table(runs)
    written = {"responses.csv": folder / "responses.csv",
               "responses.parquet": folder / "responses.parquet"}
    responses.to_csv(written["responses.csv"], index=False)
    responses.to_parquet(written["responses.parquet"], index=False, engine="pyarrow")
    problems, tests = paired_differences(runs)
    for name, table in (("leaderboard.csv", leaderboard(runs).reset_index()),
                        ("categories.csv", category_table(runs)),
                        ("paired_tests.csv", tests), ("paired_problems.csv", problems),
                        ("agreement.csv", agreement(runs))):
        written[name] = folder / name
        table.to_csv(written[name], index=False)
    return written


def report(runs: dict[str, list[dict]]) -> str:
    """The printed comparison: leaderboard, categories side by side, paired tests, agreement,
    on the common problems and k of the runs (comparable.common_ground), each cut said first."""
    runs, notes = comparable.common_ground(runs)
    shown = ["n_problems", "k", "accuracy", "ci_low", "ci_high", "macro_accuracy", "pass@k",
             "maj@k", "unparsed_rate"]
    parts = [f"note: {note}" for note in notes] + [
             "== leaderboard (accuracy = pass@1 averaged over k; 95% interval over problems)",
             metrics.rounded(leaderboard(runs)[shown]).to_string(),
             "\n== accuracy per category [95% interval]",
             side_by_side(category_table(runs)).to_string()]
    if len(runs) > 1:
        _, tests = paired_differences(runs)
        parts += ["\n== paired differences vs the first run (paired bootstrap over problems)",
                  metrics.rounded(tests).to_string(index=False),
                  "\n== agreement with the first run (response i against response i)",
                  metrics.rounded(agreed := agreement(runs)).to_string(index=False),
                  *(f"note: {note}" for note in comparable.kappa_notes(agreed))]
    else:
        parts.append(f"\nnote: {comparable.single_run_note(runs)}")
    return "\n".join(parts)
