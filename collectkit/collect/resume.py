"""Where a rerun starts: which problems are done, which failed how often, which to collect now."""
from __future__ import annotations

import logging
from typing import Any

from collectkit.store import append as store
from collectkit.collect.attempts import RunStats, row_tail
from collectkit.tasks.load import Problem
from collectkit.collect.manifest import check_row_sampling

log = logging.getLogger("collectkit")


def resume_scan(results: store.AppendWriter, errors_writer: store.AppendWriter,
                 sampling: dict[str, Any], allow_config_change: bool,
                 repair: bool, k: int) -> tuple[set[str], dict[str, int]]:
    """(ids already done, counted failures per problem). Cuts torn last lines; a corrupt line
    elsewhere stops the run (or, with repair, goes to X.corrupt.jsonl and its problem is
    collected again); rows of other sampling settings stop it unless allow_config_change."""
    path, errors = results.path, errors_writer.path
    store.recover_torn_tail(path)
    store.recover_torn_tail(errors)
    scan = store.scan_results(path, row_tail(sampling), k)
    for number, _, count in [short for short in scan.short if short[1] not in scan.ids][:3]:
        log.warning("%s line %d has %d of %d responses (edited by hand?): not done, collected "
                    "again (readers keep the later row)", path, number, count, k)
    failures, bad_errors = store.scan_errors(errors)
    if (scan.corrupt or bad_errors) and not repair:
        where, (number, why) = (path, scan.corrupt[0]) if scan.corrupt else (errors, bad_errors[0])
        count = len(scan.corrupt) + len(bad_errors)
        raise store.StoreError(f"{where} line {number} is corrupt ({why}; {count} bad line(s) "
                               "in all); rerun with --repair to move them to "
                               f"{store.corrupt_path(where).name} and collect them again")
    if repair:
        for writer, bad in ((results, scan.corrupt), (errors_writer, bad_errors)):
            if store.move_lines_out(writer.path, {number for number, _ in bad}):
                writer.reopen()  # the file was replaced: append to the new one
    if not allow_config_change:
        check_row_sampling(path, scan.other, sampling)
    return scan.ids, failures


def plan_todo(problems: list[Problem], done: set[str], failures: dict[str, int], max_attempts: int,
          retry_failed: bool, stats: RunStats) -> list[Problem]:
    todo = []
    for problem in problems:
        if problem.unique_id in done:
            stats.skipped_done += 1
        elif failures.get(problem.unique_id, 0) >= max_attempts:
            stats.skipped_exhausted += 1
        elif not retry_failed or problem.unique_id in failures:
            todo.append(problem)
    stats.unfinished = stats.skipped_exhausted
    stats.planned = len(todo)
    return todo
