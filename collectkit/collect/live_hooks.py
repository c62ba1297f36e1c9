"""What a collection asks of live grading, which its caller passes in (`collect(..., live=)`):
grading lives in rooms above this one (analyze/live.py implements both), so the run loop
only holds these two shapes and never imports them."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Protocol

from collectkit.collect.attempts import Recorder
from collectkit.collect.settings import Settings


class LiveFigures(Protocol):
    """The figures of one run while it collects, fed by the recorder's rows."""

    @property
    def stops(self) -> bool: ...  # a target is set: the run stops once it is reached

    @property
    def reached(self) -> bool: ...  # every benchmark meets the targets

    def held(self) -> bool: ...  # grading is far behind: the collector waits

    def poll(self) -> None: ...  # cheap, often: hand rows over, take grades back

    def wait(self, timeout_s: float | None = None) -> None: ...  # until every row is graded

    def postfix(self) -> dict[str, str]: ...  # for the progress bar

    def reached_reason(self) -> str: ...  # the manifest's reason when the targets stopped it

    def report(self) -> dict[str, Any]: ...  # for the manifest (RunStats.live)

    def close(self) -> None: ...


class LiveGrading(Protocol):
    """Grades for a run: its live figures, and the --compare-with run's score per problem."""

    def figures(self, settings: Settings, problems: Iterable[Any], path: Path, done: set[str],
                recorder: Recorder, compare: dict[str, float] | None) -> LiveFigures: ...

    def compare_scores(self, path: Path) -> dict[str, float]: ...
