"""The explorer's data side: one row per (run, problem) in a pandas frame with one boolean column
per filter, so a selection is a few vectorised masks; paging; and where each extracted answer stands
in its response text. The frame holds counts, no response text: a problem's row is read from its
file when it is shown (sources.py), so a run of any size opens in bounded memory. The notebook
widget is `explore_widget`, the offline HTML file `explore_html`, the command line `explore`.
A filter keeps a problem when (exactly):
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from collectkit.explorer.sources import FileRun, MemoryRun, Run
from collectkit.tasks.extraction import BOX_COMMAND

FILTERS = {  # name -> what it keeps (per problem, in the run being looked at)
    "correct": "at least one of its responses is right",
    "wrong": "at least one of its responses is wrong",
    "all_wrong": "every response is wrong",
    "all_right": "every response is right",
    "split": "some responses are right and some wrong",
    "majority_wrong": "the majority vote misses: the right answer does not have strictly more "
                      "votes than each wrong answer group (unparsed responses do not vote)",
    "unparsed": "at least one response has no extracted answer",
    "cut_off": 'at least one response was cut off by max_tokens (finish_reason == "length")',
    "retried": "the problem took more than one attempt (attempts > 1)",
    "flipped": "it is in two or more runs, its majority vote right in one and wrong in another",
}
SORTS = {"file": None, "pass_rate": ("score", True), "pass_rate_desc": ("score", False),
         "tokens": ("tokens", True), "tokens_desc": ("tokens", False)}
SORT_LABELS = {"file": "file order", "pass_rate": "pass rate ↑", "pass_rate_desc": "pass rate ↓",
               "tokens": "tokens ↑", "tokens_desc": "tokens ↓"}
__doc__ += "".join(f"- {name}: {meaning};\n" for name, meaning in FILTERS.items())


def as_run(rows: list[dict[str, Any]] | Run) -> Run:
    return rows if isinstance(rows, Run) else MemoryRun(rows)


def problem_table(runs: dict[str, list[dict[str, Any]] | Run]) -> pd.DataFrame:
    """One row per (run, problem) with its counts and one boolean column per filter."""
    table = pd.DataFrame.from_records(
        [{**summary, "run": label, "position": i} for label, rows in runs.items()
         for i, summary in enumerate(as_run(rows).summaries)],
        columns=["run", "key", "position", "unique_id", "dataset", "category", "level",
                 "question", "preview", "n", "n_right", "n_unparsed", "n_cut_off", "attempts",
                 "tokens", "majority_right"])
    table["level"] = table["level"].astype("Int64")
    table["tokens"] = table["tokens"].astype(float)
    table["score"] = (table["n_right"] / table["n"].where(table["n"] > 0)).astype(float)
    table["correct"] = table["n_right"] > 0
    table["wrong"] = table["n_right"] < table["n"]
    table["all_wrong"] = table["n_right"] == 0
    table["all_right"] = ~table["wrong"]
    table["split"] = table["correct"] & table["wrong"]
    table["majority_right"] = table["majority_right"].astype(bool)
    table["majority_wrong"] = ~table["majority_right"]
    table["unparsed"] = table["n_unparsed"] > 0
    table["cut_off"] = table["n_cut_off"] > 0
    table["retried"] = table["attempts"] > 1
    by_key = table.groupby("key")["majority_right"]
    table["flipped"] = (by_key.transform("size") > 1) & (
        by_key.transform("max") != by_key.transform("min"))
    table["search_text"] = table["question"].str.lower()
    return table


class Explore:
    """Runs (label -> graded rows, in memory or a file's sources.Run) behind the explorer; it
    keeps one summary per problem (`table`), and `row` reads a problem's row when it is shown.
    `select` is what every view shows."""

    def __init__(self, runs: dict[str, list[dict[str, Any]] | Run]) -> None:
        if not runs:
            raise ValueError("no runs to explore")
        self.runs = {label: as_run(rows) for label, rows in runs.items()}
        self.labels = list(self.runs)
        self.table = problem_table(self.runs)
        self.by_run = {label: part for label, part in self.table.groupby("run", sort=False)}
        self.rows = RowsByKey(self)

    @classmethod
    def load(cls, paths: Iterable[str | Path], labels: list[str] | None = None) -> "Explore":
        """Results files (processed, or raw: graded here) or folders of them, one run each;
        each file stays open (its rows are read when shown) until close()."""
        from collectkit.analyze.compare import load_runs

        opened: list[Run] = []

        def open_run(path: Path) -> Run:
            opened.append(FileRun(path))
            return opened[-1]

        try:
            return cls(load_runs(list(paths), labels, read=open_run))
        except BaseException:
            for run in opened:
                run.close()
            raise

    def close(self) -> None:
        for run in self.runs.values():
            run.close()

    def __enter__(self) -> "Explore":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def options(self, run: str | None = None) -> dict[str, list]:
        part = self.by_run[run or self.labels[0]]
        return {"benchmark": sorted(part["dataset"].dropna().unique()),
                "category": sorted(part["category"].dropna().astype(str).unique()),
                "level": sorted(int(v) for v in part["level"].dropna().unique())}

    def select(self, filters: Iterable[str] = (), *, run: str | None = None,
               benchmark: str | None = None, category: str | None = None,
               level: int | None = None, search: str = "", sort: str = "file") -> pd.DataFrame:
        """The problems of `run` (default: the first) that pass every filter, sorted."""
        if run is not None and run not in self.by_run:
            raise ValueError(f"no run named {run!r}; runs: {', '.join(self.labels)}")
        part = self.by_run[run or self.labels[0]]
        mask = pd.Series(True, index=part.index)
        for name in filters:
            if name not in FILTERS:
                raise ValueError(f"unknown filter {name!r}; filters: {', '.join(FILTERS)}")
            mask &= part[name]
        if benchmark:
            mask &= part["dataset"] == benchmark
        if category:
            mask &= part["category"] == category
        if level is not None:
            mask &= (part["level"] == level).fillna(False)
        if search:
            mask &= part["search_text"].str.contains(search.lower(), regex=False)
        chosen = part[mask]
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}; sorts: {', '.join(SORTS)}")
        if SORTS[sort]:
            column, ascending = SORTS[sort]
            chosen = chosen.sort_values(column, ascending=ascending, kind="stable",
                                        na_position="last")
        return chosen

    def counts(self, run: str | None = None) -> dict[str, int]:
        part = self.by_run[run or self.labels[0]]
        return {"all": len(part), **{name: int(part[name].sum()) for name in FILTERS}}

    def row(self, run: str, key: str) -> dict[str, Any] | None:
        """The graded row of problem `key` in `run` (read from its file now), or None."""
        return self.runs[run].row(key) if run in self.runs else None


class RowsByKey(Mapping):
    """(run, key) -> that problem's graded row, each read when asked: nothing is held."""

    def __init__(self, data: Explore) -> None:
        self.data = data

    def __getitem__(self, item: tuple[str, str]) -> dict[str, Any]:
        row = self.data.row(*item)
        if row is None:
            raise KeyError(item)
        return row

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(dict.fromkeys(zip(self.data.table["run"], self.data.table["key"])))

    def __len__(self) -> int:
        return len(dict.fromkeys(zip(self.data.table["run"], self.data.table["key"])))


def page(selected: pd.DataFrame, number: int, size: int) -> tuple[pd.DataFrame, int, int]:
    """(rows of page `number` (0-based, clamped), that number, page count)."""
    pages = max(1, -(-len(selected) // size))
    number = min(max(0, number), pages - 1)
    return selected.iloc[number * size:(number + 1) * size], number, pages


# ------------------------------------------------------------------------- where the answer is

def _letter_patterns(letter: str) -> tuple[re.Pattern, ...]:
    return (re.compile(rf"answer is \(?({letter})\)?"), re.compile(rf"[aA]nswer:\s*({letter})"),
            re.compile(rf"\b({letter})\b"))


def _locate_letter(text: str, letter: str) -> tuple[int, int] | None:
    """The letter as the MMLU-Pro cascade reads it: `answer is (X)` (first), `Answer: X`, else
    the last standalone X; `**` is ignored, as the official extraction removes it."""
    stars = [m.start() for m in re.finditer(r"\*\*", text)]
    clean = text.replace("**", "") if stars else text
    answer_is, answer_colon, standalone = _letter_patterns(re.escape(letter))
    hit = answer_is.search(clean) or answer_colon.search(clean)
    if hit is None:
        for hit in standalone.finditer(clean):
            pass
    if hit is None:
        return None
    start = hit.start(1)
    # a clean index maps back past every `**` removed before it
    removed = [s - 2 * i for i, s in enumerate(stars)]
    start += 2 * bisect.bisect_right(removed, start)
    return start, start + len(letter)


def locate_answer(text: str | None, answer: str | None, is_mcq: bool = False
                  ) -> tuple[int, int] | None:
    """(start, end) of the extracted answer in the response text, or None when it is not there
    verbatim. Open-ended: inside the last `\\boxed{}` that holds it, else its last occurrence
    (also as a JSON-escaped string)."""
    answer = "" if answer is None else str(answer)  # another tool's answer may be a number
    if not text or not answer:
        return None
    if is_mcq and len(answer) == 1:
        return _locate_letter(text, answer)
    boxes = list(BOX_COMMAND.finditer(text))
    for box in reversed(boxes):
        at = text.find(answer, box.end(), box.end() + len(answer) + 64)
        if at >= 0:
            return at, at + len(answer)
    escaped = answer.replace("\\", "\\\\").replace('"', '\\"')
    for needle in dict.fromkeys((answer, escaped)):
        at = text.rfind(needle)
        if at >= 0:
            return at, at + len(needle)
    return None
