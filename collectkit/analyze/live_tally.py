"""One benchmark's live figures (analyze/live.py feeds them): the confidence sequence over the
prefix of its seeded order graded so far, unparsed and cut-off shares, and with --compare-with
the paired difference to the other run's scores of the same problems; the run's final lines."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from collectkit.analyze.sequences import DifferenceSequence, MeanSequence

# Summary of one graded row: (unique_id, score = share right, unparsed, cut off, responses)
Summary = tuple[str, float, int, int, int]


@dataclass
class Benchmark:
    """One benchmark's figures over the prefix of its seeded order graded so far."""
    name: str
    order: list[str]
    sequence: MeanSequence = field(default_factory=MeanSequence)
    position: int = 0
    waiting: dict[str, Summary] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    unparsed: int = 0
    cut_off: int = 0
    responses: int = 0
    last_problem: str | None = None
    other: dict[str, float] | None = None  # --compare-with: the other run's score per problem
    difference: DifferenceSequence = field(default_factory=DifferenceSequence)

    @property
    def exhausted(self) -> bool:
        return self.position == len(self.order)

    def advance(self, gone: Callable[[str], bool]) -> None:
        while self.position < len(self.order):
            uid = self.order[self.position]
            if uid in self.waiting:
                _, score, unparsed, cut_off, n = self.waiting.pop(uid)
                self.sequence.add(score)
                if self.other is not None:
                    self.difference.add(score - self.other[uid])
                self.unparsed, self.cut_off = self.unparsed + unparsed, self.cut_off + cut_off
                self.responses += n
                self.last_problem = uid
            elif gone(uid):
                self.skipped.append(uid)
            else:
                return
            self.position += 1

    def entry(self) -> dict[str, Any]:
        s, n = self.sequence, self.responses
        return {"problems": s.n, "selection": len(self.order),
                "accuracy": round(s.mean, 6) if s.n else None, "low": round(s.low, 6),
                "high": round(s.high, 6), "halfwidth": round(s.halfwidth, 6),
                "unparsed": round(self.unparsed / n, 6) if n else None,
                "cut_off": round(self.cut_off / n, 6) if n else None,
                "last_problem": self.last_problem, "skipped": list(self.skipped),
                **({"difference": _difference(self.difference)} if self.other is not None
                   else {})}

    def settled(self, target_difference: float) -> bool:
        """The difference's interval excludes 0, or is narrower than ± the target."""
        d = self.difference
        low, high = d.interval
        return bool(d.n) and (low > 0 or high < 0 or d.halfwidth < target_difference)

    def short(self) -> str:
        s = self.sequence
        if not s.n:
            return "grading…"
        shown = (f"{s.mean:.3f}±{s.halfwidth:.3f} unp {self.unparsed / self.responses:.0%} "
                 f"cut {self.cut_off / self.responses:.0%}")
        if self.other is not None:
            shown += f" Δ{self.difference.mean:+.3f}±{self.difference.halfwidth:.3f}"
        return shown

    def text(self) -> str:
        s = self.sequence
        if not s.n:
            return f"{self.name} no problem graded yet"
        shown = (f"{self.name} accuracy {s.mean:.3f} [{s.low:.3f}, {s.high:.3f}] "
                 f"(±{s.halfwidth:.3f}) over {s.n}/{len(self.order)} problems, unparsed "
                 f"{self.unparsed / self.responses:.1%}, cut off "
                 f"{self.cut_off / self.responses:.1%}")
        if self.other is not None:
            low, high = self.difference.interval
            shown += f", difference {self.difference.mean:+.3f} [{low:+.3f}, {high:+.3f}]"
        return shown


def _difference(d: DifferenceSequence) -> dict[str, Any]:
    low, high = d.interval
    return {"mean": round(d.mean, 6) if d.n else None, "low": round(low, 6),
            "high": round(high, 6), "halfwidth": round(d.halfwidth, 6)}


def report_lines(report: dict[str, Any] | None, stopped: bool = False,
                 not_needed: int = 0) -> list[str]:
    """The final lines of `collectkit run`: each benchmark's accuracy and which interval it is,
    and why the run stopped when the target did it."""
    if not report:
        return []
    lines = []
    for name, entry in report["benchmarks"].items():
        if not entry["problems"]:
            lines.append(f"{name}: no problem graded")
            continue
        lines.append(f"{name}: accuracy {entry['accuracy']:.3f} [{entry['low']:.3f}, "
                     f"{entry['high']:.3f}] (±{entry['halfwidth']:.3f}) over "
                     f"{entry['problems']} problems, {report['interval']}; unparsed "
                     f"{entry['unparsed']:.1%}, cut off {entry['cut_off']:.1%}")
        if "difference" in entry:
            d = entry["difference"]
            lines.append(f"{name}: difference to {report['compare_with']} {d['mean']:+.3f} "
                         f"[{d['low']:+.3f}, {d['high']:+.3f}] (±{d['halfwidth']:.3f}) over "
                         f"the same {entry['problems']} problems, {report['interval']}")
    if stopped:
        targets = " and ".join(f"{name} {report[name]:g}" for name in
                               ("target_halfwidth", "target_difference") if report.get(name))
        settled = (" (every difference interval excludes 0 or is that narrow)"
                   if report.get("target_difference") else "")
        lines.append(f"stopped: {targets} reached{settled}, {not_needed} problems not needed; "
                     "a smaller target extends the same file")
    if report.get("grading_failed"):
        lines.append(f"live grading stopped: {report['grading_failed']}")
    return lines

