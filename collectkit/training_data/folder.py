"""The export's folder is the user's too (their `.env`, their notes): the kit replaces only what
it wrote there, and an export is replaced whole or not at all.

- `.collectkit-export.json` in the folder records the entries the kit wrote (README.md,
  `<shape>.parquet`, `<shape>/`) and the files of the last export. An entry that exists and is
  not recorded — a folder named like a shape, a README.md the kit did not write — is refused
  before anything is written, in one line. A folder exported before the record existed is
  recognized by its dataset card (the entries its configs name).
- A link among the entries that leads out of the folder (dangling or not) is refused: the kit
  never writes through it.
- Everything is written into a staging folder inside the export folder (one file system), then
  each entry is renamed into place with SIGINT and SIGTERM held back, the record last: Ctrl-C,
  SIGTERM or a full disk while writing leave the previous export as it was (the staging folder
  is removed; a SIGKILL leaves it behind, hidden, and the next export removes it).
"""
from __future__ import annotations

import os
import shutil
import signal
import secrets
from pathlib import Path
from typing import Iterable

from collectkit.store import limits as file_limits
from collectkit.store import append as store

RECORD = ".collectkit-export.json"
STAGING_PREFIX = ".collectkit-export-"
WRITER = "collectkit export"
CARD_TITLE = "# Model responses exported by collectkit"
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class ExportError(Exception):
    """One line naming the file or the setting that cannot be used."""


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM during an export; `replaced` says whether the new export was already in
    place (the signal arrived while the entries were being swapped, and waited)."""

    def __init__(self, signal_number: int, replaced: bool) -> None:
        super().__init__(signal_number, replaced)
        self.signal_number, self.replaced = signal_number, replaced


def recorded(out: Path) -> dict | None:
    try:
        record = store.read_json(out / RECORD)
    except store.StoreError as exc:
        raise ExportError(str(exc)) from None
    if record is not None and record.get("written_by") != WRITER:
        raise ExportError(f"{out / RECORD} exists and was not written by {WRITER}")
    return record


def owned(out: Path) -> set[str]:
    """The entries of `out` the kit wrote: its record's, or an older export's (its card's)."""
    record = recorded(out)
    if record is not None:
        return set(record.get("entries") or [])
    card = out / "README.md"
    try:
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
    except (OSError, UnicodeDecodeError):
        text = ""
    if CARD_TITLE not in text:
        return set()
    shapes = [line.split(":", 1)[1].strip() for line in text.split("\n---", 1)[0].splitlines()
              if line.startswith("- config_name:")]
    return {"README.md", *shapes, *(f"{shape}.parquet" for shape in shapes)}


def check(out: Path, entries: Iterable[str]) -> None:
    """Before anything is written: every entry is absent or the kit's, and none is a link that
    leads out of the folder."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder; choose another --out")
    if not out.exists():
        return
    mine = owned(out)
    for entry in entries:
        path = out / entry
        leads_out = file_limits.link_out(path, out)
        if leads_out:
            raise ExportError(leads_out)
        if (path.exists() or path.is_symlink()) and entry not in mine:
            raise ExportError(f"{path} exists and was not written by {WRITER}; the kit does "
                              "not replace it: move it, or choose another --out")


class Staging:
    """`with Staging(out) as stage: write into stage.path; stage.commit(entries)`."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.replaced = False

    def __enter__(self) -> "Staging":
        store.make_folder(self.out)
        for stale in self.out.glob(STAGING_PREFIX + "*"):  # left by a SIGKILL
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        try:  # SIGTERM unwinds like Ctrl-C, so the staging folder goes (main thread only)
            self._old_handler = signal.signal(signal.SIGTERM, _raise_interrupted)
        except ValueError:
            self._old_handler = None
        self.path = self.out / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.path.mkdir()
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGTERM, self._old_handler)
        shutil.rmtree(self.path, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(signal.SIGINT, self.replaced) from None
        if isinstance(exc, Interrupted):
            raise Interrupted(exc.signal_number, self.replaced) from None

    def files(self) -> list[str]:
        return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*")
                      if p.is_file())

    def commit(self, entries: list[str]) -> list[str]:
        """Rename each staged entry into place (signals held back meanwhile), then the record;
        returns the files written, relative to the folder."""
        files = self.files()
        previous = owned(self.out)
        record = {"written_by": WRITER, "entries": sorted(previous | set(entries)),
                  "files": files}
        old = self.path / ".replaced"
        old.mkdir()
        held = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        try:
            for entry in entries:
                target = self.out / entry
                if target.is_symlink() or target.is_dir():  # moved away whole, removed after
                    os.rename(target, old / entry)
                os.replace(self.path / entry, target)
            store.write_json_atomic(self.out / RECORD, record)
            self.replaced = True
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return files


def _raise_interrupted(signal_number: int, frame) -> None:
    raise Interrupted(signal_number, False)
