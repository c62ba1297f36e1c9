"""What a run with a target half-width would take: problems × k per benchmark (simulated runs
of the confidence sequence, analyze/planning.py) and the dry run's cost line for them."""
from __future__ import annotations

from pathlib import Path

from collectkit.analyze.planning import LIKELY, plan_problems, problems_for
from collectkit.analyze.sequences import interval_name
from collectkit.collect.pricing import estimate_run
from collectkit.collect.settings import Settings
from collectkit.grade.problem_scores import scores_by_problem
from collectkit.tasks import protocols
from collectkit.tasks.load import load_problems


def plan_lines(settings: Settings, target: float, accuracy: float | None = None,
               pilot: Path | None = None) -> list[str]:
    """The plan per benchmark, then the dry run's cost line for the problems it takes."""
    problems = load_problems(settings.dataset, settings.problem_limit, settings.dataset_source,
                             seed=settings.subset_seed, fields=settings.dataset_fields)
    order = [str(p.dataset) for p in problems]
    scores = pilot_scores(pilot) if pilot is not None else {}
    plans = []
    for name in dict.fromkeys(order):
        if pilot is not None and name not in scores:
            raise ValueError(f"the pilot {pilot} has no rows of {name}; give --accuracy instead")
        plans.append(plan_problems(name, target, settings.k_responses, order.count(name),
                                   accuracy=accuracy, pilot_scores=scores.get(name)))
    needed = problems_for(order, {plan.benchmark: plan.likely for plan in plans})
    messages = [protocols.messages(p, settings.protocol) for p in problems[:needed]]
    estimate = estimate_run(settings.model, messages, settings.k_responses, settings.max_tokens,
                            prices_path=settings.prices or None)
    which = (f"the first {needed:,} problems of the selection: {LIKELY}% of the simulated runs "
             "stop by then" if all(plan.likely <= plan.available for plan in plans) else
             "the whole selection: a benchmark does not reach the target within it")
    return [f"plan for ±{target:g} ({interval_name()}):", *(plan.line() for plan in plans),
            f"{estimate.line()} ({which})"]


def pilot_scores(path: Path) -> dict[str, list[float]]:
    """Per benchmark, each problem's share of right responses in a pilot run."""
    scores: dict[str, list[float]] = {}
    for dataset, score in scores_by_problem(path).values():
        scores.setdefault(dataset, []).append(score)
    return scores
