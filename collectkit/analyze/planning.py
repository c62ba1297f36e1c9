"""How many problems a run needs before its interval is narrow enough: simulated runs of the
confidence sequence (analyze.sequences) stopped at a target half-width.

Each simulated problem has its own pass probability p, drawn from the pilot's per-problem
scores (a run already graded) or, from a stated accuracy alone, from Beta(acc·c, (1 − acc)·c)
with c = ASSUMED_CONCENTRATION: most problems nearly always or nearly never solved, as on LLM
benchmarks (the wider case; a pilot gives the real spread). Its score is Binomial(k, p) / k.
The problems needed are those at which a run's half-width first falls below the target, over
SIMULATED_RUNS seeded runs: the median and the 90th percentile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from collectkit.analyze.sequences import ALPHA, confidence_sequence

ASSUMED_CONCENTRATION = 1.0
SIMULATED_RUNS = 200
LIKELY = 90  # the percentile reported beside the median


@dataclass(frozen=True)
class Plan:
    benchmark: str
    target: float
    k: int
    median: int  # problems needed by half the simulated runs
    likely: int  # … by LIKELY % of them
    reached: float  # share of the simulated runs that reached the target within `available`
    available: int  # problems the benchmark (the selection) has
    source: str  # what the pass rates came from

    def line(self) -> str:
        if self.reached < LIKELY / 100:
            return (f"{self.benchmark}: ±{self.target:g} is reached within its "
                    f"{self.available:,} problems × k={self.k} by only {self.reached:.0%} of "
                    f"{SIMULATED_RUNS} simulated runs ({self.source}); more problems, a "
                    "larger k or a wider target helps")
        return (f"{self.benchmark}: about {self.median:,} problems × k={self.k} = "
                f"{self.median * self.k:,} responses to reach ±{self.target:g} (median of "
                f"{SIMULATED_RUNS} simulated runs; {LIKELY}% by {self.likely:,} problems, "
                f"{self.likely * self.k:,} responses; {self.available:,} available; "
                f"{self.source})")


def plan_problems(benchmark: str, target: float, k: int, available: int, *,
                  accuracy: float | None = None, pilot_scores: Sequence[float] | None = None,
                  runs: int = SIMULATED_RUNS, seed: int = 0, alpha: float = ALPHA) -> Plan:
    """The problems × k a run of `benchmark` needs to reach the target half-width."""
    if not 0 < target < 0.5:
        raise ValueError(f"the target half-width must be in (0, 0.5), not {target!r}")
    if k < 1 or available < 1:
        raise ValueError("k and the problems available must be at least 1")
    rng = np.random.default_rng(seed)
    if pilot_scores is not None and len(pilot_scores):
        rates = np.clip(np.asarray(pilot_scores, dtype=float), 0, 1)
        draw = lambda: rng.choice(rates, size=available)  # noqa: E731
        source = f"pass rates of the pilot's {len(rates)} problems"
    elif accuracy is not None and 0 <= accuracy <= 1:
        a = min(max(accuracy, 1e-3), 1 - 1e-3) * ASSUMED_CONCENTRATION
        b = ASSUMED_CONCENTRATION - a
        draw = lambda: rng.beta(a, b, size=available)  # noqa: E731
        source = (f"accuracy {accuracy:g}, pass rates spread as Beta({a:.2f}, {b:.2f}): "
                  "a pilot file gives the real spread")
    else:
        raise ValueError("give the expected accuracy (in [0, 1]) or a pilot's scores")
    stops = []
    for _ in range(runs):
        scores = rng.binomial(k, draw()) / k
        _, low, high = confidence_sequence(scores, alpha, stop_below=target)
        stops.append(len(low) if (high[-1] - low[-1]) / 2 < target else available + 1)
    stops_array = np.asarray(stops)
    reached = float(np.mean(stops_array <= available))
    return Plan(benchmark, target, k, int(np.median(stops_array)),
                int(np.percentile(stops_array, LIKELY)), reached, available, source)


def problems_for(order: Sequence[str], needed: dict[str, int]) -> int:
    """How many problems of a selection (its benchmarks' names, in the seeded, interleaved
    order) a run takes before every benchmark has its `needed` count (or has run out)."""
    seen: dict[str, int] = {}
    total = {name: order.count(name) for name in needed}
    for index, name in enumerate(order, 1):
        seen[name] = seen.get(name, 0) + 1
        if all(seen.get(b, 0) >= min(n, total[b]) for b, n in needed.items()):
            return index
    return len(order)
