"""Anytime-valid intervals for a benchmark's accuracy: a betting confidence sequence.

A run may be looked at after every problem and stopped at any moment, for any reason. A fixed-n
interval (Wilson's, a t interval) read after every problem misses the truth more often than its
level says; a confidence sequence does not: with probability at least 1 - alpha it covers the
mean at every problem count at once, so the interval shown when a run stops — whatever made it
stop — still holds at its level.

The sequence here is Waudby-Smith & Ramdas' hedged-capital betting confidence sequence
("Estimating means of bounded random variables by betting", JRSS B 2024, Theorem 3 with the
predictable plug-in bets of their eq. 26, c = 1/2). For each candidate mean m on a grid of
`grid_size` points in (0, 1) two gamblers bet on the next value x_t ∈ [0, 1]:
    K+_t(m) = Π (1 + λ+_i(m) (x_i − m)),   K−_t(m) = Π (1 − λ−_i(m) (x_i − m)),
    λ_t = sqrt(2 log(2/α) / (σ̂²_{t−1} t log(1 + t))),  λ+ = min(λ, c/m),  λ− = min(λ, c/(1−m)),
    σ̂²_t = (1/4 + Σ (x_i − μ̂_i)²) / (t + 1),  μ̂_t = (1/2 + Σ x_i) / (t + 1),
and m is rejected once (K+ + K−)/2 ≥ 1/α (Ville's inequality: the mean of two nonnegative
martingales is one; the paper's max(K+, K−)/2 is at most this, so slightly wider); a rejected m
stays rejected (the running intersection, itself anytime-valid). The capital matches confseq
0.0.11's `betting_mart(x, m, convex_comb=True, theta=1/2, trunc_scale=1/2)` to 1e-13 (checked
by hand; confseq is not a dependency: it needs scipy and a C++ build). The interval runs from the grid point below the
lowest m still standing to the one above the highest, so the grid only widens it.

Values are per-problem scores in [0, 1] (pass@1: the share of a problem's k responses that are
right); a paired difference of two runs' scores, in [−1, 1], is rescaled to [0, 1] and back. The
problems are treated as draws from the benchmark's population of problems (no finite-population
correction: on a whole benchmark the interval is conservative).
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

ALPHA = 0.05
GRID_SIZE = 1000
BET_CAP = 0.5  # c: the largest share of capital bet on one value
BLOCK = 8  # values in confidence_sequence's first vectorised steps (then t / 2)


def interval_name(alpha: float = ALPHA) -> str:
    """What the reports call the interval: '95% betting confidence sequence, valid under
    peeking'."""
    return f"{100 * (1 - alpha):g}% betting confidence sequence, valid under peeking"


def _grid(grid_size: int) -> np.ndarray:
    return (np.arange(grid_size) + 0.5) / grid_size


class MeanSequence:
    """The confidence sequence built one value at a time (live, while a run collects).

    `add(x)` takes the next problem's score in [0, 1]; `low`, `high`, `halfwidth`, `mean` and
    `n` describe the interval after the values seen so far. One add costs O(grid_size)."""

    def __init__(self, alpha: float = ALPHA, grid_size: int = GRID_SIZE) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), not {alpha!r}")
        self.alpha, self.grid = alpha, _grid(grid_size)
        self._log_plus = np.zeros(grid_size)
        self._log_minus = np.zeros(grid_size)
        self._standing = np.ones(grid_size, dtype=bool)
        self._window = 0, grid_size
        self._cap_plus, self._cap_minus = BET_CAP / self.grid, BET_CAP / (1 - self.grid)
        self.n, self.total = 0, 0.0
        self._smoothed_mean, self._sum_sq = 0.5, 0.25  # μ̂_t and (t + 1) σ̂²_t of the paper
        self.low, self.high = 0.0, 1.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def halfwidth(self) -> float:
        return (self.high - self.low) / 2

    def add(self, value: float) -> None:
        x = float(value)
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"a score must be in [0, 1], not {value!r}")
        t = self.n + 1
        bet = _bet(self._sum_sq / t, t, self.alpha)
        a, b = self._window  # every point still standing is in it: only those are updated
        gap = x - self.grid[a:b]
        plus, minus = self._log_plus[a:b], self._log_minus[a:b]
        plus += np.log1p(np.minimum(bet, self._cap_plus[a:b]) * gap)
        minus += np.log1p(-np.minimum(bet, self._cap_minus[a:b]) * gap)
        standing = self._standing[a:b]
        with np.errstate(over="ignore"):  # (K+ + K−)/2 < 1/α, as in confidence_sequence
            standing &= np.exp(plus) + np.exp(minus) < 2 / self.alpha
        self.n, self.total = t, self.total + x
        self._smoothed_mean = (0.5 + self.total) / (t + 1)
        self._sum_sq += (x - self._smoothed_mean) ** 2
        alive = np.flatnonzero(standing)
        if len(alive):  # else (a miss, or the grid too coarse) the last interval stays
            first, last = a + int(alive[0]), a + int(alive[-1])
            self._window = first, last + 1
            self.low = float(self.grid[first - 1]) if first else 0.0
            self.high = float(self.grid[last + 1]) if last + 1 < len(self.grid) else 1.0

    def extend(self, values: Iterable[float]) -> "MeanSequence":
        for value in values:
            self.add(value)
        return self


def _bet(variance: float | np.ndarray, t: int | np.ndarray, alpha: float):
    return np.sqrt(2 * math.log(2 / alpha) / (variance * t * np.log1p(t)))


def _block_ends(standing: np.ndarray, grid: np.ndarray, offset: int,
                last: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Per row of standing (grid points offset, offset + 1, …): the interval around the standing
    points, one grid step out on each side; a row with none standing (a miss, or the grid too
    coarse) keeps the interval before it."""
    width = standing.shape[1]
    first = offset + standing.argmax(axis=1)
    final = offset + width - 1 - standing[:, ::-1].argmax(axis=1)
    low = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    high = np.where(final + 1 < len(grid), grid[np.minimum(final + 1, len(grid) - 1)], 1.0)
    none = ~standing.any(axis=1)
    if none.any():  # keep the interval of the last row that had standing points
        keep = np.maximum.accumulate(np.where(none, -1, np.arange(len(none))))
        low = np.where(keep >= 0, low[np.maximum(keep, 0)], last[0])
        high = np.where(keep >= 0, high[np.maximum(keep, 0)], last[1])
    return low, high, (float(low[-1]), float(high[-1]))


def confidence_sequence(values: Iterable[float], alpha: float = ALPHA,
                        grid_size: int = GRID_SIZE, stop_below: float | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) after each of the values, the same numbers MeanSequence gives one add
    at a time, computed in blocks over the grid points still standing (fast enough for
    simulations of thousands of runs). With stop_below, the arrays end at the first value after
    which the half-width is below it (a run stopped at that target)."""
    x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    if x.ndim != 1 or not ((x >= 0) & (x <= 1)).all():
        raise ValueError("scores must be one sequence of values in [0, 1]")
    grid = _grid(grid_size)
    t = np.arange(1, len(x) + 1)
    totals = np.cumsum(x)
    smoothed = (0.5 + totals) / (t + 1)  # μ̂_t
    sum_sq = 0.25 + np.concatenate([[0.0], np.cumsum((x - smoothed) ** 2)])[:-1]  # t σ̂²_{t−1}
    bets = _bet(sum_sq / t, t, alpha)
    low, high = np.empty(len(x)), np.empty(len(x))
    log_plus, log_minus = np.zeros(grid_size), np.zeros(grid_size)
    standing = np.ones(grid_size, dtype=bool)
    ends, a, b = (0.0, 1.0), 0, grid_size  # the window [a, b) holds every standing point
    start = 0
    while start < len(x):
        # blocks grow with t: the window narrows like 1/sqrt(t), so late blocks are cheap
        part = slice(start, min(start + max(BLOCK, start // 2), len(x)))
        start = part.stop
        m = grid[a:b]
        gap = x[part, None] - m
        bet = bets[part, None]
        plus = np.cumsum(np.vstack([log_plus[None, a:b], np.log1p(
            np.minimum(bet, BET_CAP / m) * gap)]), axis=0)[1:]
        minus = np.cumsum(np.vstack([log_minus[None, a:b], np.log1p(
            -np.minimum(bet, BET_CAP / (1 - m)) * gap)]), axis=0)[1:]
        with np.errstate(over="ignore"):  # a capital past e^709 is inf: rejected all the same
            below = np.logical_and.accumulate(
                np.exp(plus) + np.exp(minus) < 2 / alpha, axis=0) & standing[a:b]
        low[part], high[part], ends = _block_ends(below, grid, a, ends)
        if stop_below is not None and (reached := high[part] - low[part] < 2 * stop_below).any():
            end = part.start + int(reached.argmax()) + 1
            return totals[:end] / t[:end], low[:end], high[:end]
        log_plus[a:b], log_minus[a:b], standing[a:b] = plus[-1], minus[-1], below[-1]
        alive = np.flatnonzero(standing)
        if len(alive):
            a, b = alive[0], alive[-1] + 1
    return totals / t, low, high


def difference_sequence(differences: Iterable[float], alpha: float = ALPHA,
                        grid_size: int = GRID_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) of paired differences in [−1, 1] (run A's score − run B's, per problem):
    the sequence of (d + 1)/2, mapped back."""
    d = np.asarray(list(differences) if not isinstance(differences, np.ndarray) else differences,
                   dtype=float)
    if not ((d >= -1) & (d <= 1)).all():
        raise ValueError("paired differences must be in [-1, 1]")
    mean, low, high = confidence_sequence((d + 1) / 2, alpha, grid_size)
    return 2 * mean - 1, 2 * low - 1, 2 * high - 1


class DifferenceSequence(MeanSequence):
    """MeanSequence for paired differences in [−1, 1]."""

    def add(self, value: float) -> None:
        if not -1.0 <= float(value) <= 1.0:
            raise ValueError(f"a paired difference must be in [-1, 1], not {value!r}")
        super().add((float(value) + 1) / 2)

    @property
    def mean(self) -> float:
        return 2 * super().mean - 1

    @property
    def interval(self) -> tuple[float, float]:
        return 2 * self.low - 1, 2 * self.high - 1

    @property
    def halfwidth(self) -> float:
        return self.high - self.low
