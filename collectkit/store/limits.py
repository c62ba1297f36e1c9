"""What the file system allows the kit's files: name lengths, the permissions a replaced file
keeps, and links that would take a write out of its folder (store.py, the export and the
explorer raise and write; this module only measures)."""
from __future__ import annotations

import os
from pathlib import Path

# The longest name the kit derives from a results file X.jsonl: a temporary copy of its manifest
# (X.manifest.json.XXXXXXXX.tmp) and the batch requests file (X.batch-NN.requests.jsonl).
DERIVED_NAME_EXTRA = len(".manifest.json.") + 8 + len(".tmp")


def name_too_long(results: Path) -> str | None:
    """Why a results file name (or a file derived from it) is too long for the file system,
    in one line; None when it fits."""
    folder = next((p for p in (results.parent, *results.parent.parents) if p.exists()), Path("."))
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    stem = results.name.removesuffix(".jsonl")
    longest = max(len(part.encode()) for part in results.parts) if results.parts else 0
    if len(stem.encode()) + DERIVED_NAME_EXTRA <= limit and longest <= limit:
        return None
    return (f"file name too long: {results.name[:40]}… ({len(results.name.encode())} bytes; "
            f"this file system allows {limit} per name, and the kit adds up to "
            f"{DERIVED_NAME_EXTRA}); choose a shorter --output_file")


def link_out(path: Path, folder: Path | None = None) -> str | None:
    """Why the kit will not write at `path`, in one line: it is a symbolic link (dangling or
    not) whose target lies outside `folder` (default: the link's own folder), so a write would
    create or replace a file elsewhere; None otherwise."""
    if not path.is_symlink():
        return None
    inside = Path(os.path.realpath(folder if folder is not None else path.parent))
    target = Path(os.path.realpath(path))
    if target == inside or inside in target.parents:
        return None
    return (f"{path} is a link leading out of its folder (to {target}); the kit does not write "
            "through it: remove the link, or choose another path")


def permissions(path: Path) -> int:
    """The permission bits a file replaced at `path` keeps: its own, or for a new file the
    usual 0666 less the umask (not mkstemp's 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask
