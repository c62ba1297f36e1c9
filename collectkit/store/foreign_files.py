"""Files in a run's folder that are not the kit's to write: a file that is not a results file the
kit wrote, a manifest that is not a collectkit manifest, a link that would take a write out of
the folder. Checked before a run appends, cuts or replaces anything (inference.collect)."""
from __future__ import annotations

import glob
from pathlib import Path

from collectkit.store import limits as file_limits
from collectkit.store.append import (ROW_START, StoreError, batch_state_path, corrupt_path, errors_path,
                    manifest_path, os_errors, read_json)


def refuse_foreign(results: Path) -> None:
    """Refuse to append to (or cut the tail of) files the kit did not write, or to write
    through a link out of the folder (refuse_links_out)."""
    too_long = file_limits.name_too_long(results)
    if too_long:
        raise StoreError(too_long)
    with os_errors(results, "read"):
        refuse_links_out(results)
    for path in (results, errors_path(results)):
        with os_errors(path, "read"):
            is_folder = path.is_dir()
        if is_folder:
            raise StoreError(f"{path} is a folder, not a results file; choose another "
                             "--output_file")
        with os_errors(path, "read"):
            if not path.exists() or path.stat().st_size == 0:
                continue
            with open(path, "rb") as handle:
                first = handle.read(len(ROW_START))
        if not ROW_START.startswith(first):  # a prefix: a first row torn by a full disk
            raise StoreError(f"{path} exists and is not a results file the kit wrote (it does "
                             "not start with a unique_id row); choose another --output_file")
    manifest = read_json(manifest_path(results))
    if manifest is not None and "results_file" not in manifest:
        raise StoreError(f"{manifest_path(results)} exists and is not a collectkit manifest")


def refuse_links_out(results: Path) -> None:
    """A run writes only inside the results file's folder: a link there that leads out of it
    (a file the kit names: errors, manifest, corrupt lines, batch state and requests) is
    refused, dangling or not. The results file itself may be a link to a file kept elsewhere
    (`--output_file link`), but not a dangling one: the run would create a file outside."""
    derived = [errors_path(results), manifest_path(results), corrupt_path(results),
               batch_state_path(results),
               *results.parent.glob(glob.escape(results.stem) + ".batch-*.requests.jsonl")]
    for path in derived + [results]:
        leads_out = file_limits.link_out(path)
        if leads_out and (path != results or not path.exists()):
            raise StoreError(leads_out)
