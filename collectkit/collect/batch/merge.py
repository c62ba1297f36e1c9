"""A local batch output (`vllm run-batch -o FILE`) merged into a results file.

It sits above both batch.py and inference.py: the merge is a collection run in batch mode, so
it needs both, and neither of them needs it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from collectkit.collect.batch.driver import BatchMode, read_output_file, split_custom_id
from collectkit.collect.settings import Settings
from collectkit.collect.run import run_collection
from collectkit.tasks.load import Problem, load_problems


def merge_output_file(settings: Settings, output_file: str | Path,
                      results_path: str | Path | None = None,
                      problems: list[Problem] | None = None) -> Any:
    """Merge a local batch output (`vllm run-batch -o FILE`) into the results file through the
    same merge as a downloaded batch: the problems it answers, each once, same rows and manifest.
    Returns the run's RunStats."""
    answered = {split_custom_id(line["custom_id"])[0] for line in read_output_file(output_file)}
    if problems is None:
        problems = load_problems(settings.dataset, settings.problem_limit,
                                 settings.dataset_source, seed=settings.subset_seed,
                                 fields=settings.dataset_fields)
    return run_collection(settings, [p for p in problems if p.unique_id in answered],
                          output_path=results_path, progress=False,
                          batch=BatchMode(output_file=Path(output_file)))
